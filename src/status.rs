//! The daemon's read-only status endpoint on loopback: `GET /healthz` (is the loop alive) and
//! `GET /runs` (the ledger's latest runs, `?job=NAME` for one job) as JSON, for monitoring.

use crate::ledger::Ledger;
use crate::serve::Status;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Connections answered at once, at most; more wait in the kernel's queue until one is done (each
/// takes at most the 5 s a client is given to send its request).
pub const MAX_CONNECTIONS: usize = 32;

/// Answer requests on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, ledger: Arc<Ledger>, status: Arc<Mutex<Status>>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let mut backoff = std::time::Duration::from_millis(10);
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else { return };
        let mut socket = match listener.accept().await {
            Ok((socket, _)) => {
                backoff = std::time::Duration::from_millis(10);
                socket
            }
            Err(e) => {
                // Out of file descriptors (or another passing error): accepting again at once
                // would fail again at once, and spin. Wait, longer each time, up to a second.
                tracing::warn!(error = %e, "status endpoint: cannot accept a connection; trying again in {}ms", backoff.as_millis());
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(std::time::Duration::from_secs(1));
                continue;
            }
        };
        let ledger = ledger.clone();
        let status = status.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let Some(head) = read_head(&mut socket).await else { return };
            let request = String::from_utf8_lossy(&head);
            let target = request.lines().next().unwrap_or("").split_whitespace().collect::<Vec<_>>();
            let (code, body) = match target.as_slice() {
                ["GET", path, ..] => answer(path, &ledger, &status),
                _ => (405, serde_json::json!({ "error": "only GET is served" })),
            };
            let body = crate::secrets::redact(&serde_json::to_string_pretty(&body).unwrap_or_default()).into_owned() + "\n";
            let reason = match code {
                200 => "OK",
                404 => "Not Found",
                405 => "Method Not Allowed",
                _ => "Internal Server Error",
            };
            let head = format!(
                "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = socket.write_all(head.as_bytes()).await;
            let _ = socket.write_all(body.as_bytes()).await;
            let _ = socket.shutdown().await;
        });
    }
}

/// Read the request head (up to the blank line), however the client splits its writes.
/// `None` when the client is too slow (5 s), closes early, or sends more than 8 KiB of head.
async fn read_head(socket: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        if head.len() > 8192 {
            return None;
        }
        match tokio::time::timeout_at(deadline, socket.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => head.extend_from_slice(&buf[..n]),
            _ => return None,
        }
    }
    Some(head)
}

fn answer(path: &str, ledger: &Ledger, status: &Mutex<Status>) -> (u16, serde_json::Value) {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    match path {
        "/healthz" => {
            let s = status.lock().unwrap_or_else(|e| e.into_inner()).clone();
            (200, serde_json::json!({ "status": if s.stopping { "stopping" } else { "ok" }, "pid": std::process::id(), "loop": s }))
        }
        "/runs" => {
            let job = query.split('&').find_map(|kv| kv.strip_prefix("job=")).map(|j| j.to_string());
            match ledger.history(job.as_deref(), 100) {
                Ok(runs) => (200, serde_json::json!({ "runs": runs })),
                Err(e) => (500, serde_json::json!({ "error": e.to_string() })),
            }
        }
        _ => (404, serde_json::json!({ "error": "not found: try /healthz or /runs" })),
    }
}
