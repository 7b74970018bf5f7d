//! Scale-out: a job's SQL on an Apache DataFusion Ballista cluster (`engine =
//! "ballista://host:port"`), and the scheduler and executor processes `pareto cluster …` starts.
//!
//! pareto plans each query as it does on the embedded engine (parameters bound, the lake's tables
//! and the results of earlier queries registered) and hands the logical plan to the scheduler,
//! which cuts it into stages for the executors. Lake tables travel as what they are (Parquet
//! listings the executors read from the same object store, with credentials from their own
//! environment); results of earlier queries and the service-level table travel inside the plan as
//! Arrow IPC. The scheduler and executors are Ballista's own, with pareto's SQL functions and
//! object stores registered, so `pareto cluster …` is all an operator starts.

use std::collections::HashMap;
use std::io::Cursor;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ballista::extension::{SessionConfigExt, SessionStateExt};
use ballista_core::extension::{ballista_aggregate_functions, ballista_scalar_functions, ballista_window_functions};
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::ObjectStoreRegistry;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::{SessionState, SessionStateBuilder, TaskContext};
use datafusion::logical_expr::{Extension, LogicalPlan};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use object_store::ObjectStore;
use url::Url;

/// The largest message between pareto, the scheduler and the executors: a plan carries the
/// results it reads (a million customers' facts are a few hundred MB), and gRPC's default of
/// 16 MiB would refuse them.
pub const MAX_MESSAGE: u32 = i32::MAX as u32;

/// Where a job's SQL runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Engine {
    /// In this process (DataFusion).
    Embedded,
    /// On the Ballista cluster whose scheduler listens at this `host:port`.
    Ballista { host: String, port: u16 },
}

impl Engine {
    /// `embedded` or `ballista://host:port` (the port defaults to Ballista's 50050).
    pub fn parse(text: &str) -> std::result::Result<Engine, String> {
        let t = text.trim();
        if t == "embedded" {
            return Ok(Engine::Embedded);
        }
        let wrong = || format!("`{t}` is not `embedded` or a scheduler address such as `ballista://10.0.0.5:50050`");
        if !t.starts_with("ballista://") {
            return Err(wrong());
        }
        let url = Url::parse(t).map_err(|_| wrong())?;
        let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(wrong)?;
        if !(url.path().is_empty() || url.path() == "/") || url.query().is_some() || !url.username().is_empty() {
            return Err(wrong());
        }
        Ok(Engine::Ballista { host: host.to_string(), port: url.port().unwrap_or(50050) })
    }
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Engine::Embedded => write!(f, "embedded"),
            Engine::Ballista { host, port } => write!(f, "ballista://{host}:{port}"),
        }
    }
}

/// Whether the scheduler answers at `host:port`, in at most `wait`; if not, what went wrong.
pub async fn reachable(host: &str, port: u16, wait: Duration) -> std::result::Result<(), String> {
    match tokio::time::timeout(wait, tokio::net::TcpStream::connect((host, port))).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer in {} s", wait.as_secs())),
    }
}

/// A session whose queries run on the cluster at `host:port`: pareto's settings and functions,
/// `runtime` for what pareto itself reads (the lake's schemas), plans sent with [`Codec`].
pub fn session(host: &str, port: u16, runtime: Arc<RuntimeEnv>, scratch: Option<Arc<Scratch>>) -> Result<SessionContext> {
    let mut config = crate::lake::config();
    if let Some(s) = scratch {
        config = config.with_extension(s);
    }
    let config = config
        .upgrade_for_ballista()
        .with_ballista_logical_extension_codec(Arc::new(Codec::default()))
        .with_ballista_grpc_client_max_message_size(MAX_MESSAGE as usize)
        .with_ballista_job_name("pareto")
        // The adaptive planner loses what DataFusion knows of constant columns when it cuts a
        // plan into stages, then refuses its own plan (a UNION ALL of sections, each with its
        // constant `position`, ordered by it: data_quality.sql), and the query never ends.
        .with_ballista_adaptive_query_planner(false);
    // Ballista turns off string views; `CAST(x AS VARCHAR)` must still give the type it gives on
    // the embedded engine, or a result's Parquet differs in type between the two.
    let embedded = crate::lake::config().options().sql_parser.map_string_types_to_utf8view;
    let config = config.set_bool("datafusion.sql_parser.map_string_types_to_utf8view", embedded);
    let state = SessionStateBuilder::new().with_default_features().with_config(config).with_runtime_env(runtime).build();
    let state = state.upgrade_for_ballista(format!("http://{host}:{port}"))?;
    let ctx = SessionContext::new_with_state(state);
    crate::functions::register(&ctx);
    Ok(ctx)
}

/// Where a run on a cluster keeps the results that later queries read: Parquet files under
/// `<lake>/_pareto_scratch/<run>/` (the lake ignores folders starting with `_`), which the
/// executors read as they read the lake, instead of inside every plan that reads them (a million
/// customers' facts are 280 MB: carried in plans, the scheduler held 17 GiB). Removed when the run
/// ends. Where it cannot be written (a lake the run may only read), results travel in the plans.
#[derive(Debug)]
pub struct Scratch {
    store: Arc<dyn ObjectStore>,
    /// The run's folder, ending in `/`.
    url: Url,
    written: std::sync::Mutex<Vec<object_store::path::Path>>,
}

impl Scratch {
    /// A folder for this run under the lake at `lake` (a URL ending in `/`), in `store`.
    pub fn new(lake: &Url, store: Arc<dyn ObjectStore>) -> Option<Scratch> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let url = lake.join(&format!("_pareto_scratch/{}-{nanos}/", std::process::id())).ok()?;
        Some(Scratch { store, url, written: std::sync::Mutex::new(Vec::new()) })
    }

    /// Write `batches` as `name`'s files (one per partition) and return the table that reads them.
    pub async fn put(&self, name: &str, schema: SchemaRef, batches: &[RecordBatch], partitions: usize) -> Result<Arc<dyn TableProvider>> {
        use datafusion::datasource::file_format::parquet::ParquetFormat;
        use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
        use datafusion::parquet::arrow::ArrowWriter;
        use datafusion::parquet::basic::Compression;
        use datafusion::parquet::file::properties::WriterProperties;
        use object_store::ObjectStoreExt;
        let folder = self.url.join(&format!("{name}/")).map_err(|e| DataFusionError::Internal(e.to_string()))?;
        let n = partitions.clamp(1, batches.len().max(1));
        for part in 0..n {
            let mut bytes = Vec::new();
            {
                let props = WriterProperties::builder().set_compression(Compression::LZ4_RAW).build();
                let mut writer = ArrowWriter::try_new(&mut bytes, schema.clone(), Some(props))?;
                for b in batches.iter().skip(part).step_by(n) {
                    writer.write(b)?;
                }
                writer.close()?;
            }
            let path = object_store::path::Path::from_url_path(folder.join(&format!("part-{part}.parquet")).expect("a file name").path())
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            self.store.put(&path, bytes.into()).await.map_err(|e| DataFusionError::External(Box::new(e)))?;
            self.written.lock().expect("scratch files").push(path);
        }
        let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        let config = ListingTableConfig::new(ListingTableUrl::parse(folder.as_str())?).with_listing_options(options).with_schema(schema);
        Ok(Arc::new(ListingTable::try_new(config)?))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let written = std::mem::take(&mut *self.written.lock().expect("scratch files"));
        if written.is_empty() {
            return;
        }
        if self.url.scheme() == "file"
            && let Ok(dir) = self.url.to_file_path()
        {
            let _ = std::fs::remove_dir_all(&dir);
            // `_pareto_scratch/` itself, when no other run is using it.
            if let Some(parent) = dir.parent() {
                let _ = std::fs::remove_dir(parent);
            }
            return;
        }
        // Deleting takes requests to the store: on a thread of its own, waited for, so the run
        // does not end (or the process exit) before its files are gone.
        let store = self.store.clone();
        let _ = std::thread::spawn(move || {
            use object_store::ObjectStoreExt;
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(async {
                for path in written {
                    if let Err(e) = store.delete(&path).await {
                        tracing::warn!(file = %path, error = %e, "cannot remove a scratch file of a cluster run");
                    }
                }
            });
        })
        .join();
    }
}

/// The run's scratch folder, when its session has one.
pub fn scratch(ctx: &SessionContext) -> Option<Arc<Scratch>> {
    ctx.state().config().get_extension::<Scratch>()
}

/// Whether `ctx` sends its queries to a cluster.
pub fn is_remote(ctx: &SessionContext) -> bool {
    ctx.state().config().options().extensions.get::<ballista_core::config::BallistaConfig>().is_some()
}

/// `plan` as it can travel: tables made by table functions (`generate_series(1, 12)`), which a
/// plan cannot carry, are computed here and sent with their rows, as results of earlier queries
/// are. Lake tables and in-memory tables are left as they are.
pub async fn ship(plan: LogicalPlan, state: &SessionState) -> Result<LogicalPlan> {
    use datafusion::common::tree_node::Transformed;
    use datafusion::datasource::listing::ListingTable;
    use datafusion::datasource::{provider_as_source, source_as_provider};
    use datafusion::logical_expr::TableScanBuilder;
    // Collect the tables to compute first (the rewrite itself cannot wait on a scan).
    let mut local: Vec<(TableReference, Arc<dyn TableProvider>)> = Vec::new();
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && let Ok(provider) = source_as_provider(&scan.source)
            && provider.downcast_ref::<ListingTable>().is_none()
            && provider.downcast_ref::<MemTable>().is_none()
            && !local.iter().any(|(_, p)| Arc::ptr_eq(p, &provider))
        {
            local.push((scan.table_name.clone(), provider));
        }
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    })?;
    if local.is_empty() {
        return Ok(plan);
    }
    let mut computed = Vec::new();
    for (_, provider) in &local {
        let exec = provider.scan(state, None, &[], None).await?;
        let batches = datafusion::physical_plan::collect(exec, state.task_ctx()).await?;
        computed.push(provider_as_source(Arc::new(MemTable::try_new(provider.schema(), vec![batches])?)));
    }
    plan.transform_up_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = &node
            && let Ok(provider) = source_as_provider(&scan.source)
            && let Some(i) = local.iter().position(|(_, p)| Arc::ptr_eq(p, &provider))
        {
            let scan = TableScanBuilder::new(scan.table_name.clone(), computed[i].clone())
                .with_projection(scan.projection.clone())
                .with_filters(scan.filters.clone())
                .with_fetch(scan.fetch)
                .build()?;
            return Ok(Transformed::yes(LogicalPlan::TableScan(scan)));
        }
        Ok(Transformed::no(node))
    })
    .map(|t| t.data)
}

/// What in `plan` a cluster cannot run, if anything.
pub fn unsupported(plan: &LogicalPlan) -> Option<String> {
    let mut why = None;
    let _ = plan.apply_with_subqueries(|node| {
        if matches!(node, LogicalPlan::RecursiveQuery(_)) {
            why = Some(
                "a recursive query (`WITH RECURSIVE`) needs its work table in one process; \
                 write it without recursion, or run the job with `engine = \"embedded\"`"
                    .to_string(),
            );
            return Ok(datafusion::common::tree_node::TreeNodeRecursion::Stop);
        }
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    });
    why
}

/// Whether `plan` can be sent to a cluster: its logical plan as pareto sends it, and its physical
/// plan as the scheduler sends it to the executors. `Err` says what cannot be.
pub fn encodable(plan: &LogicalPlan, physical: Arc<dyn ExecutionPlan>) -> std::result::Result<(), String> {
    use datafusion_proto::logical_plan::AsLogicalPlan;
    if let Some(why) = unsupported(plan) {
        return Err(why);
    }
    use datafusion_proto::physical_plan::AsExecutionPlan;
    datafusion_proto::protobuf::LogicalPlanNode::try_from_logical_plan(plan, &Codec::default())
        .map_err(|e| format!("its plan cannot be sent to the scheduler: {}", crate::lake::root_cause(&e)))?;
    datafusion_proto::protobuf::PhysicalPlanNode::try_from_physical_plan(physical, &BallistaPhysicalExtensionCodec::default())
        .map_err(|e| format!("its stages cannot be sent to the executors: {}", crate::lake::root_cause(&e)))?;
    Ok(())
}

/// Ballista's logical codec, and in-memory tables (results of earlier queries, service levels)
/// sent with their rows, as Arrow IPC: one stream per partition after a tag and the count.
#[derive(Debug, Default)]
pub struct Codec {
    inner: BallistaLogicalExtensionCodec,
}

const MEMORY_TAG: &[u8] = b"pareto-memtable-1";

fn encode_memtable(table: &MemTable, buf: &mut Vec<u8>) -> Result<()> {
    let schema = table.schema();
    buf.extend_from_slice(MEMORY_TAG);
    buf.extend_from_slice(&(table.batches.len() as u32).to_le_bytes());
    for partition in &table.batches {
        let batches = partition
            .try_read()
            .map_err(|_| DataFusionError::Internal("an in-memory table is being written while its plan is sent".into()))?;
        let mut stream = Vec::new();
        {
            let mut writer = StreamWriter::try_new(&mut stream, &schema)?;
            for b in batches.iter() {
                writer.write(b)?;
            }
            writer.finish()?;
        }
        buf.extend_from_slice(&(stream.len() as u64).to_le_bytes());
        buf.extend_from_slice(&stream);
    }
    Ok(())
}

fn decode_memtable(mut buf: &[u8], schema: SchemaRef) -> Result<MemTable> {
    let bad = || DataFusionError::Internal("a damaged in-memory table in a plan".into());
    let take = |n: usize, buf: &mut &[u8]| -> Result<Vec<u8>> {
        if buf.len() < n {
            return Err(bad());
        }
        let (head, rest) = buf.split_at(n);
        *buf = rest;
        Ok(head.to_vec())
    };
    let count = u32::from_le_bytes(take(4, &mut buf)?.try_into().map_err(|_| bad())?) as usize;
    let mut partitions = Vec::with_capacity(count);
    for _ in 0..count {
        let len = u64::from_le_bytes(take(8, &mut buf)?.try_into().map_err(|_| bad())?) as usize;
        let stream = take(len, &mut buf)?;
        let reader = StreamReader::try_new(Cursor::new(stream), None)?;
        let batches: Vec<RecordBatch> =
            reader.map(|b| b.and_then(|b| b.with_schema(schema.clone())).map_err(DataFusionError::from)).collect::<Result<_>>()?;
        partitions.push(batches);
    }
    MemTable::try_new(schema, partitions)
}

impl LogicalExtensionCodec for Codec {
    fn try_decode(&self, buf: &[u8], inputs: &[LogicalPlan], ctx: &TaskContext) -> Result<Extension> {
        self.inner.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        match buf.strip_prefix(MEMORY_TAG) {
            Some(rest) => Ok(Arc::new(decode_memtable(rest, schema)?)),
            None => self.inner.try_decode_table_provider(buf, table_ref, schema, ctx),
        }
    }

    fn try_encode_table_provider(&self, table_ref: &TableReference, node: Arc<dyn TableProvider>, buf: &mut Vec<u8>) -> Result<()> {
        match node.downcast_ref::<MemTable>() {
            Some(table) => encode_memtable(table, buf),
            None => {
                let kind = format!("{node:?}");
                let kind = kind.split(|c: char| !c.is_alphanumeric()).next().unwrap_or("").to_string();
                self.inner.try_encode_table_provider(table_ref, node, buf).map_err(|e| {
                    DataFusionError::NotImplemented(format!(
                        "table `{table_ref}` ({kind}) cannot be sent to a cluster: {}",
                        crate::lake::root_cause(&e)
                    ))
                })
            }
        }
    }

    fn try_decode_file_format(&self, buf: &[u8], ctx: &TaskContext) -> Result<Arc<dyn FileFormatFactory>> {
        self.inner.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(&self, buf: &mut Vec<u8>, node: Arc<dyn FileFormatFactory>) -> Result<()> {
        self.inner.try_encode_file_format(buf, node)
    }
}

/// Object stores made on first use from the URL and the process's environment, as pareto makes
/// the lake's: what lets a scheduler or executor read any lake a job names.
#[derive(Debug, Default)]
pub struct EnvStores {
    stores: RwLock<HashMap<String, Arc<dyn ObjectStore>>>,
}

fn store_key(url: &Url) -> String {
    format!("{}://{}", url.scheme(), &url[url::Position::BeforeHost..url::Position::AfterPort])
}

impl ObjectStoreRegistry for EnvStores {
    fn register_store(&self, url: &Url, store: Arc<dyn ObjectStore>) -> Option<Arc<dyn ObjectStore>> {
        self.stores.write().expect("store registry").insert(store_key(url), store)
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        let key = store_key(url);
        if let Some(s) = self.stores.read().expect("store registry").get(&key) {
            return Ok(s.clone());
        }
        let store: Arc<dyn ObjectStore> = match url.scheme() {
            "" | "file" => Arc::new(object_store::local::LocalFileSystem::new()),
            _ => crate::lake::store_for(url).map_err(|e| DataFusionError::Configuration(format!("object store for {key}: {e}")))?,
        };
        Ok(self.stores.write().expect("store registry").entry(key).or_insert(store).clone())
    }
}

/// A session state as the scheduler and executors need it: Ballista's, with pareto's functions
/// and object stores.
fn cluster_state(config: SessionConfig, runtime: Arc<RuntimeEnv>) -> SessionState {
    let mut aggregates = ballista_aggregate_functions();
    aggregates.extend(crate::functions::aggregates());
    SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_optimizer_rules(ballista_core::optimizer::ballista_default_optimizer_rules())
        .with_scalar_functions(ballista_scalar_functions())
        .with_aggregate_functions(aggregates)
        .with_window_functions(ballista_window_functions())
        .build()
}

fn stores_runtime(temp: Option<&str>) -> Result<Arc<RuntimeEnv>> {
    let mut builder = RuntimeEnvBuilder::new().with_object_store_registry(Arc::new(EnvStores::default()));
    if let Some(dir) = temp {
        builder = builder.with_temp_file_path(dir);
    }
    builder.build_arc()
}

/// Settings of `pareto cluster scheduler`.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    pub bind: SocketAddr,
    /// An executor not heard from for this long is taken as lost, and its tasks run elsewhere.
    pub executor_timeout: Duration,
}

/// Run a Ballista scheduler until the process is stopped.
pub async fn scheduler(opts: SchedulerOptions) -> anyhow::Result<()> {
    use ballista_scheduler::cluster::BallistaCluster;
    use ballista_scheduler::config::SchedulerConfig;
    let timeout = opts.executor_timeout.as_secs().max(1);
    let config = SchedulerConfig {
        bind_host: opts.bind.ip().to_string(),
        bind_port: opts.bind.port(),
        external_host: opts.bind.ip().to_string(),
        executor_timeout_seconds: timeout,
        expire_dead_executor_interval_seconds: timeout.div_ceil(3).max(1),
        no_executors_grace_period_seconds: timeout,
        grpc_server_max_decoding_message_size: MAX_MESSAGE,
        grpc_server_max_encoding_message_size: MAX_MESSAGE,
        grpc_client_max_message_size: MAX_MESSAGE,
        override_session_builder: Some(Arc::new(|config: SessionConfig| Ok(cluster_state(config, stores_runtime(None)?)))),
        override_logical_codec: Some(Arc::new(Codec::default())),
        ..Default::default()
    };
    let cluster = BallistaCluster::new_from_config(&config).await?;
    ballista_scheduler::scheduler_process::start_server(cluster, opts.bind, Arc::new(config)).await?;
    Ok(())
}

/// Settings of `pareto cluster executor`.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    pub scheduler_host: String,
    pub scheduler_port: u16,
    /// Where other executors and pareto fetch this executor's results (Arrow Flight).
    pub bind: SocketAddr,
    /// Where the scheduler hands it tasks.
    pub grpc_port: u16,
    /// Tasks at once.
    pub slots: usize,
    /// Shuffle files and spills.
    pub work_dir: std::path::PathBuf,
    /// How often it tells the scheduler it is alive.
    pub heartbeat: Duration,
    /// Bytes its tasks may hold at once (they spill beyond it).
    pub memory_limit: Option<usize>,
}

/// Run a Ballista executor until the process is stopped.
pub async fn executor(opts: ExecutorOptions) -> anyhow::Result<()> {
    use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
    std::fs::create_dir_all(&opts.work_dir)
        .map_err(|e| anyhow::anyhow!("cannot create the work folder {}: {e}", opts.work_dir.display()))?;
    let work_dir = opts.work_dir.to_string_lossy().to_string();
    let registry = BallistaFunctionRegistry::from(&cluster_state(SessionConfig::new_with_ballista(), stores_runtime(None)?));
    let temp = work_dir.clone();
    let config = ExecutorProcessConfig {
        bind_host: opts.bind.ip().to_string(),
        external_host: Some(opts.bind.ip().to_string()),
        port: opts.bind.port(),
        grpc_port: opts.grpc_port,
        scheduler_host: opts.scheduler_host.clone(),
        scheduler_port: opts.scheduler_port,
        scheduler_connect_timeout_seconds: 30,
        vcores: opts.slots,
        work_dir: Some(work_dir),
        print_thread_info: false,
        executor_heartbeat_interval_seconds: opts.heartbeat.as_secs().max(1),
        grpc_max_decoding_message_size: MAX_MESSAGE,
        grpc_max_encoding_message_size: MAX_MESSAGE,
        memory_pool_size: opts.memory_limit.map(|b| b as u64),
        override_function_registry: Some(Arc::new(registry)),
        override_runtime_producer: Some(Arc::new(move |_: &SessionConfig| stores_runtime(Some(&temp)))),
        override_logical_codec: Some(Arc::new(Codec::default())),
        ..Default::default()
    };
    start_executor_process(Arc::new(config)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    #[test]
    fn engines_read_as_written_or_are_refused_with_the_forms_that_work() {
        assert_eq!(Engine::parse("embedded"), Ok(Engine::Embedded));
        assert_eq!(Engine::parse("ballista://10.0.0.5:50050"), Ok(Engine::Ballista { host: "10.0.0.5".into(), port: 50050 }));
        assert_eq!(Engine::parse("ballista://sched.internal"), Ok(Engine::Ballista { host: "sched.internal".into(), port: 50050 }));
        assert_eq!(Engine::parse("ballista://h:7").unwrap().to_string(), "ballista://h:7");
        for bad in ["spark://h:1", "ballista://", "ballista://h:1/x", "local", "df://h:1"] {
            assert_eq!(
                Engine::parse(bad),
                Err(format!("`{bad}` is not `embedded` or a scheduler address such as `ballista://10.0.0.5:50050`")),
                "{bad}"
            );
        }
    }

    #[test]
    fn an_in_memory_table_travels_with_its_rows_and_partitions() {
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false), Field::new("name", DataType::Utf8, true)]));
        let batch = |ids: Vec<i64>, names: Vec<Option<&str>>| {
            RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(ids)), Arc::new(StringArray::from(names))]).unwrap()
        };
        let parts = vec![
            vec![batch(vec![1, 2], vec![Some("a"), None]), batch(vec![3], vec![Some("<c>")])],
            vec![],
            vec![batch(vec![4], vec![Some("d")])],
        ];
        let table = MemTable::try_new(schema.clone(), parts.clone()).unwrap();
        let mut buf = Vec::new();
        Codec::default().try_encode_table_provider(&TableReference::bare("t"), Arc::new(table), &mut buf).unwrap();
        let back = decode_memtable(buf.strip_prefix(MEMORY_TAG).unwrap(), schema.clone()).unwrap();
        assert_eq!(back.batches.len(), 3);
        for (got, want) in back.batches.iter().zip(&parts) {
            assert_eq!(&*got.try_read().unwrap(), want);
        }
        assert!(decode_memtable(&buf[MEMORY_TAG.len()..buf.len() - 3], schema).is_err(), "a cut buffer is refused");
    }
}
