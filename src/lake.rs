//! The data lake: an object store (local folder, S3, GCS, Azure, HTTP) whose folders are tables of
//! Parquet files, and the DataFusion session that reads them.

use crate::contract;
use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::TableProvider;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::execution::SessionState;
use datafusion::execution::TaskContext;
use datafusion::execution::context::SessionContext;
use datafusion::execution::memory_pool::{FairSpillPool, MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::prelude::SessionConfig;
use object_store::ObjectStore;
use object_store::path::Path as StorePath;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use url::Url;

/// Why the lake could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("lake folder `{0}` does not exist; create it (`pareto generate --out {0}` writes a sample lake) or fix the job's `lake`")]
    MissingFolder(String),
    #[error("lake `{url}`: {message}")]
    BadUrl { url: String, message: String },
    #[error("lake `{0}` has no tables (a table is a folder of .parquet files directly under the lake root); check the job's `lake`")]
    Empty(String),
    #[error("lake `{url}`: cannot list tables: {source}")]
    List { url: String, source: object_store::Error },
    #[error("lake table `{table}` has no .parquet files under `{url}`; write some, or remove the folder")]
    EmptyTable { table: String, url: String },
    #[error("lake table `{table}`: `{file}` is not a readable Parquet file ({cause}); replace or remove that file")]
    BadFile { table: String, file: String, cause: String },
    #[error(
        "lake table `{table}`: column `{column}` is {first_type} in `{first}` but {other_type} in `{other}`; write every file of a table with the same column types (or cast when exporting)"
    )]
    Conflict { table: String, column: String, first: String, first_type: String, other: String, other_type: String },
    #[error("lake table `{table}`: {cause}")]
    Table { table: String, cause: String },
    #[error(
        "the Ballista scheduler at {engine} does not answer ({cause}); start it (`pareto cluster scheduler`) and its executors, or set `engine = \"embedded\"` for the job"
    )]
    Scheduler { engine: String, cause: String },
    #[error("lake table `{table}` breaks the data contract: {}", .problems.join("; "))]
    Contract { table: String, problems: Vec<String> },
}

/// An opened lake: where it is and the store that reads it.
pub struct Lake {
    /// The lake's root as a URL ending in `/`.
    pub url: Url,
    /// As the user wrote it, for messages.
    pub shown: String,
    pub store: Arc<dyn ObjectStore>,
    prefix: StorePath,
}

/// The memory a run's sessions share: with `limit`, a pool of that many bytes that sorts and
/// aggregations spill out of (to the system's temp folder) when it is full; without, unbounded.
pub fn runtime(limit: Option<usize>) -> Arc<RuntimeEnv> {
    let mut builder = RuntimeEnvBuilder::new();
    if let Some(limit) = limit {
        builder = builder.with_memory_pool(Arc::new(FairSpillPool::new(limit)));
    }
    builder.build_arc().expect("a runtime with the default disk manager")
}

/// A DataFusion session with pareto's settings, on `runtime`. Any DataFusion setting can be
/// changed for a run with its environment variable (`DATAFUSION_EXECUTION_TARGET_PARTITIONS=4`
/// for `datafusion.execution.target_partitions`), pareto's own defaults below included.
pub fn session_on(runtime: Arc<RuntimeEnv>) -> SessionContext {
    let ctx = SessionContext::new_with_config_rt(config(), runtime);
    crate::functions::register(&ctx);
    ctx
}

/// pareto's session settings: DataFusion's, with the defaults below, and any `DATAFUSION_*`
/// environment variable over both.
pub fn config() -> SessionConfig {
    let defaults = [
        // Filters are applied after decoding: pareto's filters mostly keep most of a table's rows
        // (everything before the period's end), where decoding the filter columns first and then
        // the rest with a row selection costs more than it saves (twice as long for a scan of
        // orders at 1M customers); row groups and pages are still pruned by their statistics.
        ("datafusion.execution.parquet.pushdown_filters", false),
        ("datafusion.execution.parquet.reorder_filters", true),
        ("datafusion.execution.listing_table_ignore_subdirectory", false),
        // A hash join's dynamic filter is checked on every row the other side scans; the joins
        // here are mostly with every customer, where it filters nothing and cost a third of
        // customer_facts' time (measured at 1M customers).
        ("datafusion.optimizer.enable_join_dynamic_filter_pushdown", false),
        // Spans let errors point at the line and column in the query file.
        ("datafusion.sql_parser.collect_spans", true),
    ];
    let mut config = SessionConfig::from_env().unwrap_or_default().with_information_schema(true);
    for (key, value) in defaults {
        if std::env::var_os(key.to_uppercase().replace('.', "_")).is_none() {
            config = config.set_bool(key, value);
        }
    }
    config
}

/// Split the cores between a run's queries: with `parallel` of them running at once (`[lake]
/// parallel_queries`), each query is planned for its share of the cores (at least one), unless
/// `DATAFUSION_EXECUTION_TARGET_PARTITIONS` says otherwise. Two queries over one partition each
/// keep two cores as busy as two over two partitions, without the second aggregation phase and the
/// repartitioning between the phases that a split query pays: the weekly job at a million
/// customers took 17 % less CPU and wall time (measured on two cores). A query that runs alone
/// (`pareto query`, a job under a memory limit, whose queries run one at a time, or a job's query
/// with nothing beside it: [`every_core`]) keeps every core.
pub fn share_cores(ctx: &SessionContext, parallel: usize) {
    let Some(cores) = every_core() else {
        return;
    };
    let partitions = (cores / parallel.max(1)).max(1);
    ctx.state_ref().write().config_mut().options_mut().execution.target_partitions = partitions;
}

/// The partitions a query that has the machine to itself is planned for: one per core, unless
/// `DATAFUSION_EXECUTION_TARGET_PARTITIONS` fixes every query's (then `None`). A job's query that
/// runs while no other is running or ready to start gets them in place of its share (see
/// [`crate::query::run`]): nothing can start beside it until it is done, so a share would leave
/// cores idle.
pub fn every_core() -> Option<usize> {
    if std::env::var_os("DATAFUSION_EXECUTION_TARGET_PARTITIONS").is_some() {
        return None;
    }
    Some(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2))
}

/// A DataFusion session with pareto's settings and unbounded memory.
pub fn session() -> SessionContext {
    session_on(runtime(None))
}

/// A task context for running one query in `state` (a session's), whose memory pool passes every
/// request to the session's and remembers the most the query held at once.
pub fn tracked_task(state: &SessionState) -> (Arc<TaskContext>, Arc<TrackedPool>) {
    let shared = state.runtime_env();
    let tracked = Arc::new(TrackedPool { inner: shared.memory_pool.clone(), now: AtomicUsize::new(0), peak: AtomicUsize::new(0) });
    let runtime = RuntimeEnv {
        memory_pool: tracked.clone(),
        disk_manager: shared.disk_manager.clone(),
        cache_manager: shared.cache_manager.clone(),
        object_store_registry: shared.object_store_registry.clone(),
    };
    (Arc::new(TaskContext::from(state).with_runtime(Arc::new(runtime))), tracked)
}

/// A memory pool in front of the session's that counts what one query holds.
#[derive(Debug)]
pub struct TrackedPool {
    inner: Arc<dyn MemoryPool>,
    now: AtomicUsize,
    peak: AtomicUsize,
}

impl TrackedPool {
    /// The most bytes held at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    fn add(&self, n: usize) {
        let now = self.now.fetch_add(n, Ordering::Relaxed) + n;
        self.peak.fetch_max(now, Ordering::Relaxed);
    }
}

impl std::fmt::Display for TrackedPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "tracked({})", self.inner)
    }
}

impl MemoryPool for TrackedPool {
    fn name(&self) -> &str {
        "tracked"
    }

    fn register(&self, consumer: &MemoryConsumer) {
        self.inner.register(consumer)
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        self.inner.unregister(consumer)
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.inner.grow(reservation, additional);
        self.add(additional);
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.inner.shrink(reservation, shrink);
        self.now.fetch_sub(shrink, Ordering::Relaxed);
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> datafusion::error::Result<()> {
        self.inner.try_grow(reservation, additional)?;
        self.add(additional);
        Ok(())
    }

    fn reserved(&self) -> usize {
        self.inner.reserved()
    }

    fn memory_limit(&self) -> MemoryLimit {
        self.inner.memory_limit()
    }
}

/// Open the lake at `spec`: a path (relative to `base`), `file://`, `s3://`, `gs://`, `az://`,
/// `http(s)://`. Credentials and endpoints come from the environment (`AWS_*`, `GOOGLE_*`,
/// `AZURE_*`), never from the job file.
pub fn open(spec: &str, base: &Path) -> Result<Lake, LakeError> {
    let shown = crate::secrets::register_url(spec);
    let bad = |m: String| LakeError::BadUrl { url: shown.clone(), message: m };
    let has_scheme = spec.contains("://");
    if !has_scheme || spec.starts_with("file://") {
        let raw = spec.strip_prefix("file://").unwrap_or(spec);
        let path = if Path::new(raw).is_absolute() { Path::new(raw).to_path_buf() } else { base.join(raw) };
        if !path.is_dir() {
            return Err(LakeError::MissingFolder(spec.to_string()));
        }
        let path = path.canonicalize().map_err(|e| bad(e.to_string()))?;
        let url = Url::from_directory_path(&path).map_err(|_| bad("not an absolute path".into()))?;
        let store = Arc::new(object_store::local::LocalFileSystem::new());
        let prefix = StorePath::from_url_path(url.path()).map_err(|e| bad(e.to_string()))?;
        return Ok(Lake { url, shown: spec.to_string(), store, prefix });
    }
    let mut url = Url::parse(spec).map_err(|e| bad(format!("not a URL ({e})")))?;
    if !url.path().ends_with('/') {
        url.set_path(&format!("{}/", url.path()));
    }
    let store = store_for(&url).map_err(bad)?;
    let prefix = StorePath::from_url_path(url.path()).map_err(|e| bad(e.to_string()))?;
    Ok(Lake { url, shown, store, prefix })
}

/// The object store for a remote lake URL (`s3://`, `gs://`, `az://`, `https://`), with its
/// credentials and settings from the environment (`AWS_ACCESS_KEY_ID`, `AWS_ENDPOINT`, …).
pub fn store_for(url: &Url) -> Result<Arc<dyn ObjectStore>, String> {
    let e = |e: object_store::Error| e.to_string();
    Ok(match url.scheme() {
        "s3" | "s3a" => Arc::new(object_store::aws::AmazonS3Builder::from_env().with_url(url.as_str()).build().map_err(e)?),
        "gs" => Arc::new(object_store::gcp::GoogleCloudStorageBuilder::from_env().with_url(url.as_str()).build().map_err(e)?),
        "az" | "abfs" | "abfss" => {
            Arc::new(object_store::azure::MicrosoftAzureBuilder::from_env().with_url(url.as_str()).build().map_err(e)?)
        }
        "http" | "https" => {
            Arc::new(object_store::http::HttpBuilder::new().with_url(url.origin().ascii_serialization()).build().map_err(e)?)
        }
        other => return Err(format!("`{other}://` is not a supported scheme; use a path, file://, s3://, gs://, az:// or https://")),
    })
}

impl Lake {
    /// Make the lake's store known to a session.
    pub fn attach(&self, ctx: &SessionContext) {
        if self.url.scheme() != "file" {
            let mut root = self.url.clone();
            root.set_path("/");
            ctx.register_object_store(&root, self.store.clone());
        }
    }

    /// The tables: the folders directly under the root (not starting with `_` or `.`).
    pub async fn tables(&self) -> Result<Vec<String>, LakeError> {
        let prefix = (!self.prefix.as_ref().is_empty()).then_some(&self.prefix);
        let listing = self.store.list_with_delimiter(prefix).await.map_err(|source| LakeError::List { url: self.shown.clone(), source })?;
        let mut names: Vec<String> = listing
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .filter(|n| !n.starts_with('_') && !n.starts_with('.'))
            .collect();
        names.sort();
        if names.is_empty() {
            return Err(LakeError::Empty(self.shown.clone()));
        }
        Ok(names)
    }

    fn table_url(&self, table: &str) -> Result<ListingTableUrl, LakeError> {
        let url = self.url.join(&format!("{table}/")).map_err(|e| LakeError::Table { table: table.into(), cause: e.to_string() })?;
        ListingTableUrl::parse(url.as_str()).map_err(|e| LakeError::Table { table: table.into(), cause: e.to_string() })
    }

    /// Register `table` with the session: its schema is read from the Parquet footers, hive
    /// partition folders (`year=2026/`) become text columns, and contract tables are checked.
    pub async fn register(&self, ctx: &SessionContext, table: &str, contract: bool) -> Result<Arc<dyn TableProvider>, LakeError> {
        let state = ctx.state();
        let url = self.table_url(table)?;
        let err = |cause: String| LakeError::Table { table: table.to_string(), cause };
        let format = Arc::new(ParquetFormat::default());
        let options = ListingOptions::new(format.clone()).with_file_extension(".parquet");
        let files = self.files(table).await?;
        if files.is_empty() {
            return Err(LakeError::EmptyTable { table: table.into(), url: format!("{}{table}/", self.shown_root()) });
        }
        let partitions = options.infer_partitions(&state, &url).await.map_err(|e| err(e.to_string()))?;
        let options = options.with_table_partition_cols(partitions.into_iter().map(|p| (p, DataType::Utf8)).collect());
        let schema = match options.infer_schema(&state, &url).await {
            Ok(s) => s,
            Err(e) => {
                // Name the file that cannot be read, or the two files whose types differ, not
                // just the table.
                let mut first_seen: std::collections::HashMap<String, (DataType, String)> = std::collections::HashMap::new();
                for f in &files {
                    let schema = match format.infer_schema(&state, &self.store, std::slice::from_ref(f)).await {
                        Ok(s) => s,
                        Err(fe) => {
                            return Err(LakeError::BadFile {
                                table: table.into(),
                                file: self.relative(&f.location),
                                cause: root_cause(&fe),
                            });
                        }
                    };
                    for field in schema.fields() {
                        match first_seen.get(field.name()) {
                            Some((t, first)) if t != field.data_type() => {
                                let shown = |t: &DataType| format!("{} ({t})", crate::results::type_name(t));
                                return Err(LakeError::Conflict {
                                    table: table.into(),
                                    column: field.name().clone(),
                                    first: first.clone(),
                                    first_type: shown(t),
                                    other: self.relative(&f.location),
                                    other_type: shown(field.data_type()),
                                });
                            }
                            Some(_) => {}
                            None => {
                                first_seen.insert(field.name().clone(), (field.data_type().clone(), self.relative(&f.location)));
                            }
                        }
                    }
                }
                return Err(err(root_cause(&e)));
            }
        };
        if contract {
            let problems = contract::violations(table, &schema);
            if !problems.is_empty() {
                return Err(LakeError::Contract { table: table.into(), problems });
            }
        }
        let config = ListingTableConfig::new(url).with_listing_options(options).with_schema(schema);
        let provider: Arc<dyn TableProvider> = Arc::new(ListingTable::try_new(config).map_err(|e| err(e.to_string()))?);
        // Bare: a folder named `Orders` or `sales.eu` is one table with exactly that name.
        ctx.register_table(datafusion::common::TableReference::bare(table), provider.clone()).map_err(|e| err(e.to_string()))?;
        Ok(provider)
    }

    async fn files(&self, table: &str) -> Result<Vec<object_store::ObjectMeta>, LakeError> {
        use futures::TryStreamExt;
        let prefix = self.prefix.clone().join(table);
        let mut files: Vec<_> = self
            .store
            .list(Some(&prefix))
            .try_filter(|m| futures::future::ready(m.location.as_ref().ends_with(".parquet")))
            .try_collect()
            .await
            .map_err(|source| LakeError::List { url: self.shown.clone(), source })?;
        files.sort_by(|a, b| a.location.cmp(&b.location));
        // A zero-byte file (a writer that died before writing anything) holds no rows and no
        // schema: leave it out, and say so.
        files.retain(|f| {
            if f.size == 0 {
                tracing::warn!(
                    "lake table `{table}`: `{}` is empty (0 bytes) and was left out; remove it or write it again",
                    self.relative(&f.location)
                );
            }
            f.size > 0
        });
        Ok(files)
    }

    fn shown_root(&self) -> String {
        if self.shown.ends_with('/') { self.shown.clone() } else { format!("{}/", self.shown) }
    }

    fn relative(&self, location: &StorePath) -> String {
        let full = location.as_ref();
        let prefix = self.prefix.as_ref();
        let rel = full.strip_prefix(prefix).unwrap_or(full).trim_start_matches('/');
        format!("{}{rel}", self.shown_root())
    }
}

/// The innermost message of a DataFusion error, without its wrapping.
pub fn root_cause(e: &datafusion::error::DataFusionError) -> String {
    e.find_root().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_side_by_side_share_the_cores() {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let partitions = |parallel: usize| {
            let ctx = session();
            share_cores(&ctx, parallel);
            ctx.state().config().target_partitions()
        };
        assert_eq!(partitions(1), cores);
        assert_eq!(partitions(2), (cores / 2).max(1));
        assert_eq!(partitions(cores * 4), 1);
    }
}
