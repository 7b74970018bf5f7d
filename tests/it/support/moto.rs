//! A real S3-compatible server (moto in server mode) on a free loopback port.

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};

pub struct Moto {
    child: Child,
    pub port: u16,
}

impl Moto {
    pub fn start() -> Moto {
        let port = super::free_port();
        let child = Command::new("python3")
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto (pip install 'moto[server]')");
        let m = Moto { child, port };
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return m;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("moto did not start on port {port}; is it installed? (pip install 'moto[server]')");
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Create a bucket (moto accepts unsigned requests).
    pub fn create_bucket(&self, name: &str) {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(s, "PUT /{name} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", self.port).unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).unwrap();
        assert!(reply.starts_with("HTTP/1.1 200"), "create bucket: {reply}");
    }

    /// Write the hand-made lake (`support::lake`) into `bucket` under `prefix/`.
    pub fn upload_hand_lake(&self, bucket: &str, prefix: &str) {
        use object_store::ObjectStoreExt;
        self.create_bucket(bucket);
        let local = super::TestProject::new();
        super::lake::write(&local.root);
        let rt = tokio::runtime::Runtime::new().unwrap();
        let store = object_store::aws::AmazonS3Builder::new()
            .with_endpoint(self.endpoint())
            .with_allow_http(true)
            .with_bucket_name(bucket)
            .with_access_key_id("testing")
            .with_secret_access_key("testing")
            .with_region("us-east-1")
            .build()
            .unwrap();
        for f in [
            "customers/customers.parquet",
            "orders/part-0.parquet",
            "orders/part-1.parquet",
            "subscriptions/subscriptions.parquet",
            "tickets/tickets.parquet",
            "csat/csat.parquet",
            "nps/nps.parquet",
        ] {
            let bytes = std::fs::read(local.path(&format!("lake/{f}"))).unwrap();
            rt.block_on(store.put(&object_store::path::Path::from(format!("{prefix}/{f}")), bytes.into())).unwrap();
        }
    }

    /// The environment variables that point object_store (and so pareto) at this server.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ENDPOINT".into(), self.endpoint()),
            ("AWS_ALLOW_HTTP".into(), "true".into()),
            ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
            ("AWS_REGION".into(), "us-east-1".into()),
        ]
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
