//! SQL files as queries: typed parameters, the dependency graph between queries (a query may read
//! another's result as a table, like dbt's `ref`), and concurrent execution with DataFusion.

use crate::lake::{LakeError, root_cause};
use crate::problem::Problem;
use crate::project::QueryFile;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::Statement as DfStatement;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why a query could not be planned or run.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("{}", crate::problem::list(.0))]
    Problems(Vec<Problem>),
    #[error(transparent)]
    Lake(#[from] LakeError),
}

impl From<Problem> for QueryError {
    fn from(p: Problem) -> Self {
        QueryError::Problems(vec![p])
    }
}

/// Named parameter values, bound by DataFusion as typed literals (never pasted into SQL).
pub type Params = BTreeMap<String, ScalarValue>;

/// The suffix that names a query's result for the previous period: `value_tiers__prev` is
/// `value_tiers` computed with every period parameter one period back.
pub const PREV: &str = "__prev";

/// `value_tiers__prev` → (`value_tiers`, true).
pub fn split_lag(name: &str) -> (&str, bool) {
    match name.strip_suffix(PREV) {
        Some(base) => (base, true),
        None => (name, false),
    }
}

/// Where node `name` comes from: the key of its SQL in `queries`, and whether it runs one period
/// back. `name__prev` is query `name` run with the previous period's parameters, unless the
/// project has an explicit `name__prev.sql`, which then is the previous period's version and
/// runs with this period's parameters (it may read `name` and derive from it, which is cheaper
/// than computing everything again).
pub fn source<'a>(name: &'a str, queries: &BTreeMap<String, QueryFile>) -> (&'a str, bool) {
    match split_lag(name) {
        (base, true) if !queries.contains_key(name) => (base, true),
        _ => (name, false),
    }
}

/// What a query may read besides other queries.
pub struct Tables<'a> {
    /// Tables in the lake.
    pub lake: &'a [String],
    /// Tables the runner provides (from the job file, like `service_levels`).
    pub provided: &'a [String],
    /// Tables a query may need that a lake may lack; a query reading a missing one is switched off
    /// (its report section shows a note) instead of failing.
    pub optional: &'a [&'a str],
    /// The lake as the user wrote it, for messages.
    pub lake_shown: &'a str,
}

/// The queries a job runs, in an order where every query comes after the ones it reads.
#[derive(Debug, Clone)]
pub struct Graph {
    /// Node names: query names, and `name__prev` for a query run one period back.
    pub order: Vec<String>,
    /// Node → the nodes it reads.
    pub deps: BTreeMap<String, BTreeSet<String>>,
    /// Lake tables any of them read.
    pub lake_tables: BTreeSet<String>,
    /// Nodes switched off, with why (a table the lake lacks, or a query that is off).
    pub skipped: BTreeMap<String, String>,
    /// Contract tables the lake lacks that queries marked optional: read as empty tables.
    pub stand_ins: BTreeSet<String>,
    /// What is wrong: syntax errors, unknown tables, cycles. Queries with a problem, and those
    /// that read them, are left out of `order`.
    pub problems: Vec<Problem>,
}

impl Graph {
    /// The graph, or every problem in it.
    pub fn ok(self) -> Result<Graph, Vec<Problem>> {
        if self.problems.is_empty() { Ok(self) } else { Err(self.problems) }
    }
}

/// One query's result.
#[derive(Debug, Clone)]
pub struct QueryResult {
    pub name: String,
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub rows: usize,
    pub elapsed: Duration,
    /// The most memory the query's operators (hash tables, sorts) held at once, in bytes.
    pub peak_bytes: usize,
    /// The size of the result in memory, in bytes.
    pub result_bytes: usize,
    /// Bytes its operators spilled to disk under `[lake] memory_limit`.
    pub spilled_bytes: usize,
    /// Why the result is off, when a model could not be fitted to the data (or the query reads
    /// one that is off): it has no rows, and its report section says why.
    pub off: Option<String>,
}

/// Work out which queries `wanted` needs (including queries they read, and `name__prev`
/// variants), what lake tables they read, which are switched off, and an order to run them in.
/// Every problem is collected: syntax errors, unknown tables, cycles.
pub fn graph(ctx: &SessionContext, queries: &BTreeMap<String, QueryFile>, wanted: &[String], tables: &Tables) -> Graph {
    let state = ctx.state();
    let dialect = state.config().options().sql_parser.dialect;
    let mut problems = Vec::new();
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut lake = BTreeSet::new();
    let mut todo: Vec<String> = wanted.to_vec();
    let mut bad: BTreeSet<String> = BTreeSet::new();
    let mut skipped: BTreeMap<String, String> = BTreeMap::new();
    let mut stand_ins = BTreeSet::new();
    while let Some(name) = todo.pop() {
        if deps.contains_key(&name) {
            continue;
        }
        let (base, lagged) = source(&name, queries);
        let q = &queries[base];
        let base = split_lag(base).0;
        let before = problems.len();
        let mut mine = BTreeSet::new();
        let stmt = match state.sql_to_statement(&q.sql, &dialect) {
            Ok(s) => s,
            Err(e) => {
                problems.push(sql_problem(q, &e));
                bad.insert(name.clone());
                deps.insert(name, mine);
                continue;
            }
        };
        if !is_query(&stmt) {
            problems.push(Problem::new(q.file.clone(), "a query file must hold one SELECT (or WITH … SELECT) statement"));
        }
        match state.resolve_table_references(&stmt) {
            Ok(refs) => {
                for r in refs {
                    if r.schema().is_some_and(|s| s == "information_schema") {
                        continue;
                    }
                    let t = r.table().to_string();
                    if r.schema().is_none() && state.table_functions().contains_key(&t) {
                        continue; // generate_series(…), range(…): DataFusion's table functions
                    }
                    let (t_base, t_lagged) = split_lag(&t);
                    let in_lake = tables.lake.contains(&t) || tables.provided.contains(&t);
                    if queries.contains_key(t_base) {
                        if in_lake {
                            problems.push(locate(
                                q,
                                &t,
                                format!("`{t}` is both a lake table and queries/{t}.sql; rename the query so the name means one thing"),
                            ));
                        }
                        if lagged && t_lagged {
                            problems.push(locate(
                                q,
                                &t,
                                format!("`{t}` is already the previous period; a query of the previous period cannot go back another"),
                            ));
                            continue;
                        }
                        let node = if lagged { format!("{t_base}{PREV}") } else { t.clone() };
                        if node == name {
                            problems.push(locate(q, &t, format!("query `{base}` reads itself")));
                            continue;
                        }
                        mine.insert(node.clone());
                        todo.push(node);
                    } else if in_lake {
                        if tables.lake.contains(&t) {
                            lake.insert(t);
                        }
                    } else if tables.optional.contains(&t.as_str()) && q.optional_tables().contains(&t) {
                        stand_ins.insert(t);
                    } else if tables.optional.contains(&t.as_str()) {
                        skipped.insert(name.clone(), format!("the lake `{}` has no table `{t}`", tables.lake_shown));
                    } else {
                        let known: BTreeSet<String> = tables
                            .lake
                            .iter()
                            .chain(tables.provided)
                            .cloned()
                            .chain(queries.keys().cloned())
                            .filter(|k| !k.starts_with("__"))
                            .collect();
                        let hint = if t_base == crate::model::scoring::TABLE {
                            "; it is made by a `[scoring]` model: declare one in the job file".to_string()
                        } else if t_base == crate::model::prediction::TABLE || t_base == crate::model::prediction::FIT {
                            "; it is made by a `[prediction]` model: declare one in the job file".to_string()
                        } else {
                            crate::spec::job::suggest(&t, &known)
                        };
                        problems.push(locate(
                            q,
                            &t,
                            format!("table `{t}` is neither a table in the lake `{}` nor a query in queries/{hint}", tables.lake_shown),
                        ));
                    }
                }
            }
            Err(e) => problems.push(sql_problem(q, &e)),
        }
        if problems.len() > before {
            bad.insert(name.clone());
        }
        deps.insert(name, mine);
    }

    let order = match topo_order(&deps) {
        Ok(o) => {
            let mut kept = Vec::new();
            for n in o {
                if bad.contains(&n) || deps[&n].iter().any(|d| bad.contains(d)) {
                    bad.insert(n);
                    continue;
                }
                if !skipped.contains_key(&n)
                    && let Some(off) = deps[&n].iter().find(|d| skipped.contains_key(*d))
                {
                    let why = format!("it reads `{off}`, which is off ({})", skipped[off]);
                    skipped.insert(n.clone(), why);
                }
                if !skipped.contains_key(&n) {
                    kept.push(n);
                }
            }
            kept
        }
        Err(cycle) => {
            let first = &queries[source(&cycle[0], queries).0];
            problems.push(Problem::new(
                first.file.clone(),
                format!("queries read each other in a cycle: {}; break it by moving the shared part into its own query", cycle.join(" → ")),
            ));
            Vec::new()
        }
    };
    problems.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    problems.dedup();
    Graph { order, deps, lake_tables: lake, skipped, stand_ins, problems }
}

fn is_query(stmt: &DfStatement) -> bool {
    use datafusion::sql::sqlparser::ast::Statement as S;
    matches!(stmt, DfStatement::Statement(s) if matches!(s.as_ref(), S::Query(_)))
}

/// Dependencies first; on a cycle, the names around it (first name repeated at the end).
fn topo_order(deps: &BTreeMap<String, BTreeSet<String>>) -> Result<Vec<String>, Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    fn visit(
        n: &str,
        deps: &BTreeMap<String, BTreeSet<String>>,
        marks: &mut HashMap<String, Mark>,
        stack: &mut Vec<String>,
        out: &mut Vec<String>,
    ) -> Result<(), Vec<String>> {
        match marks.get(n) {
            Some(Mark::Done) => return Ok(()),
            Some(Mark::Visiting) => {
                let start = stack.iter().position(|s| s == n).unwrap_or(0);
                let mut cycle = stack[start..].to_vec();
                cycle.push(n.to_string());
                return Err(cycle);
            }
            None => {}
        }
        marks.insert(n.to_string(), Mark::Visiting);
        stack.push(n.to_string());
        for d in deps.get(n).into_iter().flatten() {
            visit(d, deps, marks, stack, out)?;
        }
        stack.pop();
        marks.insert(n.to_string(), Mark::Done);
        out.push(n.to_string());
        Ok(())
    }
    let mut marks = HashMap::new();
    let mut out = Vec::new();
    for n in deps.keys() {
        visit(n, deps, &mut marks, &mut Vec::new(), &mut out)?;
    }
    Ok(out)
}

/// Plan one query against the session's tables and bind its parameters.
pub async fn plan(ctx: &SessionContext, q: &QueryFile, params: &Params) -> Result<LogicalPlan, Problem> {
    let state = ctx.state();
    let dialect = state.config().options().sql_parser.dialect;
    let mut stmt = state.sql_to_statement(&q.sql, &dialect).map_err(|e| sql_problem(q, &e))?;
    type_placeholders(&mut stmt, params);
    let plan = state.statement_to_plan(stmt).await.map_err(|e| sql_problem(q, &e))?;
    let used = plan.get_parameter_types().map_err(|e| sql_problem(q, &e))?;
    let mut bound = HashMap::new();
    let mut unknown = Vec::new();
    for id in used.keys() {
        let name = id.trim_start_matches('$');
        if name.chars().all(|c| c.is_ascii_digit()) {
            return Err(locate(q, id, format!("positional parameter `{id}`: use a named one such as `$period_start`")));
        }
        match params.get(name) {
            Some(v) => {
                bound.insert(name.to_string(), v.clone().into());
            }
            None => unknown.push(id.clone()),
        }
    }
    if let Some(id) = unknown.into_iter().min() {
        let known = params.keys().map(|k| format!("${k}")).collect::<Vec<_>>().join(", ");
        let name = id.trim_start_matches('$');
        if name == crate::burst::KEY_PARAM {
            return Err(locate(
                q,
                &id,
                format!(
                    "`{id}` is bound only in a query that runs once per group of a `[burst]` job: add a `-- pareto: burst` line to it (`pareto query --group KEY` binds it to try one group)"
                ),
            ));
        }
        return Err(locate(
            q,
            &id,
            format!("unknown parameter `{id}`; add `{name} = …` under `[params]` in the job file, or use one of: {known}"),
        ));
    }
    plan.with_param_values(ParamValues::Map(bound)).map_err(|e| sql_problem(q, &e))
}

/// Where a query plans and runs: a session and the parameters bound there.
#[derive(Clone)]
pub struct Scope {
    pub ctx: SessionContext,
    pub params: Arc<Params>,
}

/// The period's scope, and the previous period's (for `name__prev` queries). Both sessions see
/// the same lake tables; a `__prev` query runs in `previous`, where the queries it reads are its
/// previous-period versions under their plain names.
#[derive(Clone)]
pub struct Scopes {
    pub current: Scope,
    pub previous: Scope,
}

impl Scopes {
    fn of(&self, lagged: bool) -> &Scope {
        if lagged { &self.previous } else { &self.current }
    }

    /// Register a node's result: as its name in the current session, and for a `__prev` node also
    /// under its plain name in the previous session.
    fn register(&self, node: &str, q: &QueryFile, schema: SchemaRef, batches: Vec<RecordBatch>, partitions: usize) -> Result<(), Problem> {
        let (base, lagged) = split_lag(node);
        register_result(&self.current.ctx, node, q, schema.clone(), batches.clone(), partitions)?;
        if lagged {
            register_result(&self.previous.ctx, base, q, schema, batches, partitions)?;
        }
        Ok(())
    }

    /// Register a table holding a node's result, as [`Scopes::register`] does.
    fn register_table(&self, node: &str, q: &QueryFile, table: Arc<dyn datafusion::catalog::TableProvider>) -> Result<(), Problem> {
        let (base, lagged) = split_lag(node);
        let mut targets = vec![(&self.current.ctx, node)];
        if lagged {
            targets.push((&self.previous.ctx, base));
        }
        for (ctx, name) in targets {
            let _ = ctx.deregister_table(name);
            ctx.register_table(name, table.clone())
                .map_err(|e| Problem::new(q.file.clone(), format!("cannot register the result as table `{name}`: {e}")))?;
        }
        Ok(())
    }

    /// Drop a node's result from the sessions: nothing reads it any more.
    fn release(&self, node: &str) {
        let (base, lagged) = split_lag(node);
        let _ = self.current.ctx.deregister_table(node);
        if lagged {
            let _ = self.previous.ctx.deregister_table(base);
        }
    }
}

/// Give every known `$name` its type before planning: `$name` becomes
/// `arrow_cast($name, '<type>')` in the syntax tree, so DataFusion knows a parameter's type wherever
/// it appears (`date_trunc('month', $period_end_date)`), not only beside a column. The value is
/// still bound by DataFusion as a typed literal afterwards; no value is written into the SQL.
fn type_placeholders(stmt: &mut DfStatement, params: &Params) {
    use datafusion::sql::sqlparser::ast::{
        Expr, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments, Ident, ObjectName, Value, visit_expressions_mut,
    };
    let DfStatement::Statement(inner) = stmt else { return };
    let _ = visit_expressions_mut(inner.as_mut(), |e: &mut Expr| {
        if let Expr::Value(v) = e
            && let Value::Placeholder(id) = &v.value
            && let Some(value) = params.get(id.trim_start_matches('$'))
        {
            let type_name = Expr::Value(Value::SingleQuotedString(value.data_type().to_string()).with_empty_span());
            let args = vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(e.clone())), FunctionArg::Unnamed(FunctionArgExpr::Expr(type_name))];
            let f = datafusion::sql::sqlparser::ast::Function {
                name: ObjectName::from(vec![Ident::new("arrow_cast")]),
                uses_odbc_syntax: false,
                parameters: FunctionArguments::None,
                args: FunctionArguments::List(FunctionArgumentList { duplicate_treatment: None, args, clauses: vec![] }),
                filter: None,
                null_treatment: None,
                over: None,
                within_group: vec![],
            };
            *e = Expr::Function(f);
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
}

/// `q` failed while it ran in `ctx`: what went wrong, and on a Ballista cluster what to do.
pub fn execution_problem(ctx: &SessionContext, q: &QueryFile, e: &DataFusionError) -> Problem {
    let message = if crate::cluster::is_remote(ctx) {
        format!(
            "query failed on the Ballista cluster: {}; if an executor or the scheduler stopped, run the job again once the cluster is whole (`pareto serve` retries failed runs by itself)",
            explain_failure(e)
        )
    } else {
        format!("query failed: {}", explain_failure(e))
    };
    Problem::new(q.file.clone(), message)
}

/// Run one node and keep its result. It runs with its own view of the session's memory pool, so
/// the most memory its operators held at once is known.
/// `widen`: plan it for this many partitions instead of the session's (it runs alone; never on a
/// cluster, which plans for its executors).
async fn run_one(scopes: Arc<Scopes>, node: String, q: QueryFile, lagged: bool, widen: Option<usize>) -> Result<QueryResult, Problem> {
    let started = Instant::now();
    let node_name = node.clone();
    let scope = scopes.of(lagged);
    let mut plan = plan(&scope.ctx, &q, &scope.params).await?;
    let remote = crate::cluster::is_remote(&scope.ctx);
    let failed = |e: DataFusionError| execution_problem(&scope.ctx, &q, &e);
    if remote {
        if let Some(why) = crate::cluster::unsupported(&plan) {
            return Err(Problem::new(q.file.clone(), format!("cannot run on the Ballista cluster: {why}")));
        }
        plan = crate::cluster::ship(plan, &scope.ctx.state()).await.map_err(failed)?;
    }
    let df = scope.ctx.execute_logical_plan(plan).await.map_err(|e| sql_problem(&q, &e))?;
    let plan_schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let (mut state, plan) = df.into_parts();
    if let Some(partitions) = widen {
        state.config_mut().options_mut().execution.target_partitions = partitions;
    }
    let (task, tracked) = crate::lake::tracked_task(&state);
    let physical = state.create_physical_plan(&plan).await.map_err(|e| sql_problem(&q, &e))?;
    let mut batches = datafusion::physical_plan::collect(physical.clone(), task).await.map_err(failed)?;
    // A result has the shape its plan declares. DataFusion's batches can say otherwise about
    // whether a column may hold NULLs (a UNION ALL's batches keep the branch they came from), and
    // a cluster plans the query again: taking the plan's shape makes the archived result the
    // same whichever branch came first, and on either engine. (Where a batch does not fit, such as
    // NULLs in a column declared without, the batches stay as they came.)
    if let Ok(fitted) =
        batches.iter().map(|b| RecordBatch::try_new(plan_schema.clone(), b.columns().to_vec())).collect::<Result<Vec<_>, _>>()
    {
        batches = fitted;
    }
    let spilled_bytes = spilled(&physical);
    let schema = batches.first().map(|b| b.schema()).unwrap_or(plan_schema);
    // A model's table is made in Rust from what its SQL returned (on this thread: it is CPU work
    // that the daemon's other tasks must not wait behind).
    let (schema, batches) = match &q.compute {
        None => (schema, batches),
        Some(node) => {
            let computed = tokio::task::block_in_place(|| crate::model::prediction::compute(node, &schema, &batches)).map_err(|why| {
                Problem::new(
                    q.file.clone(),
                    format!(
                        "the rows of `{}` (queries/{}.sql) do not suit the model: {why}",
                        crate::model::prediction::INPUTS,
                        crate::model::prediction::INPUTS
                    ),
                )
            })?;
            match computed {
                crate::model::prediction::Computed::Table(schema, batches) => (schema, batches),
                crate::model::prediction::Computed::Off(why) => {
                    if let crate::model::prediction::Node::Fit(spec) | crate::model::prediction::Node::Score(spec) = node
                        && let Some(criterion) = &spec.required_by
                    {
                        return Err(Problem::new(
                            q.file.clone(),
                            format!(
                                "the predicted-value model could not be fitted: {why}; the `[scoring]` criterion `{criterion}` reads its figures, so no value tiers can be made"
                            ),
                        ));
                    }
                    return Ok(off_result(&node_name, why, started));
                }
            }
        }
    };
    let rows = batches.iter().map(|b| b.num_rows()).sum();
    // The data's own size: batches cut from one array share its buffers, so adding up each
    // batch's whole buffers would count them many times.
    let result_bytes = batches.iter().flat_map(|b| b.columns()).map(|c| c.to_data().get_slice_memory_size().unwrap_or(0)).sum();
    let partitions = scope.ctx.state().config().target_partitions();
    let mut kept = false;
    if let Some(scratch) = crate::cluster::scratch(&scope.ctx) {
        match scratch.put(&node, schema.clone(), &batches, partitions).await {
            Ok(table) => {
                scopes.register_table(&node, &q, table)?;
                kept = true;
            }
            Err(e) => {
                tracing::warn!(query = %node, error = %root_cause(&e), "cannot write a result to the cluster's scratch folder; it travels inside the plans that read it")
            }
        }
    }
    if !kept {
        scopes.register(&node, &q, schema.clone(), batches.clone(), partitions)?;
    }
    Ok(QueryResult {
        name: node,
        schema,
        batches,
        rows,
        elapsed: started.elapsed(),
        peak_bytes: tracked.peak(),
        result_bytes,
        spilled_bytes,
        off: None,
    })
}

/// A result that is off, with why (its report section says so).
pub fn off(name: &str, why: String) -> QueryResult {
    off_result(name, why, Instant::now())
}

/// A result that is off, with why.
fn off_result(name: &str, why: String, started: Instant) -> QueryResult {
    QueryResult {
        name: name.to_string(),
        schema: Arc::new(datafusion::arrow::datatypes::Schema::empty()),
        batches: Vec::new(),
        rows: 0,
        elapsed: started.elapsed(),
        peak_bytes: 0,
        result_bytes: 0,
        spilled_bytes: 0,
        off: Some(why),
    }
}

/// Bytes a plan's operators wrote to disk because the memory pool was full.
fn spilled(plan: &Arc<dyn datafusion::physical_plan::ExecutionPlan>) -> usize {
    plan.metrics().and_then(|m| m.spilled_bytes()).unwrap_or(0) + plan.children().iter().map(|c| spilled(c)).sum::<usize>()
}

/// A failed query's error, with what to do when it ran out of memory.
fn explain_failure(e: &DataFusionError) -> String {
    let text = root_cause(e);
    if matches!(e.find_root(), DataFusionError::ResourcesExhausted(_)) {
        format!("{text}; the query needs more memory than `[lake] memory_limit` in pareto.toml allows: raise it, or make the query lighter")
    } else {
        text
    }
}

fn register_result(
    ctx: &SessionContext,
    name: &str,
    q: &QueryFile,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    partitions: usize,
) -> Result<(), Problem> {
    // Spread the batches over the session's partitions, so the queries that read the result scan
    // it in parallel without repartitioning it first.
    let n = partitions.clamp(1, batches.len().max(1));
    let mut parts: Vec<Vec<RecordBatch>> = vec![Vec::new(); n];
    for (i, b) in batches.into_iter().enumerate() {
        parts[i % n].push(b);
    }
    let table = MemTable::try_new(schema, parts).map_err(|e| Problem::new(q.file.clone(), format!("cannot keep the result: {e}")))?;
    let _ = ctx.deregister_table(name);
    ctx.register_table(name, Arc::new(table))
        .map_err(|e| Problem::new(q.file.clone(), format!("cannot register the result as table `{name}`: {e}")))?;
    Ok(())
}

/// How to run a graph's queries.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Results to return. The others are dropped (and their tables released) as soon as every
    /// query that reads them is done, so a million-row intermediate does not stay in memory for
    /// the whole run. The `on_event` callback sees every result first.
    pub keep: Option<BTreeSet<String>>,
    /// Queries running at once, at most (0: one per core).
    pub parallel: usize,
    /// The memory (MiB) each query took in the job's last run (the most it held while running
    /// plus its result), or `None` for a first run. A query starts beside others only while what
    /// the running ones took last time, what this one took, and the results held in memory now
    /// add up to at most [`BUDGET_MIB`]; of the queries ready to start, the heavier go first
    /// (while the fewest results are held). With no last run, two queries that read only the lake
    /// never run at the same time: until the first run has measured them, the scans of the
    /// largest tables do not overlap (unless each query is planned for one partition, see
    /// [`crate::lake::share_cores`], when a scan holds a single table).
    pub memory: Option<BTreeMap<String, f64>>,
}

/// The memory (MiB) a run's queries and held results may take together before another query
/// waits for a running one to finish. A query that needs more runs alone.
pub const BUDGET_MIB: f64 = 1536.0;

impl RunOptions {
    fn memory(&self, name: &str) -> f64 {
        self.memory.as_ref().and_then(|m| m.get(name).copied()).unwrap_or(0.0)
    }

    /// Whether `name` may start now beside `running`, with `held_mib` of results in memory.
    fn fits(&self, graph: &Graph, name: &str, running: &BTreeSet<String>, held_mib: f64, partitions: usize) -> bool {
        if running.is_empty() {
            return true;
        }
        match &self.memory {
            Some(_) => held_mib + running.iter().map(|r| self.memory(r)).sum::<f64>() + self.memory(name) <= BUDGET_MIB,
            // A query planned for one partition aggregates in one phase, in one table: two such
            // scans side by side hold less than one split over the cores did.
            None if partitions == 1 => true,
            None => {
                let lake_only = |n: &str| graph.deps.get(n).is_some_and(|d| d.is_empty());
                !(lake_only(name) && running.iter().any(|r| lake_only(r)))
            }
        }
    }
}

/// What happens while the graph runs, for progress displays and for archiving each result as it
/// is made.
pub enum Event<'a> {
    Started(&'a str),
    Done(&'a QueryResult),
}

/// Run the graph's queries: each once, a query only after the queries it reads, independent ones
/// concurrently up to `options.parallel`. Stops at the first failure.
pub async fn run(
    scopes: &Scopes,
    graph: &Graph,
    queries: &BTreeMap<String, QueryFile>,
    options: &RunOptions,
    mut on_event: impl FnMut(Event),
) -> Result<BTreeMap<String, QueryResult>, QueryError> {
    let scopes = Arc::new(scopes.clone());
    let parallel =
        if options.parallel == 0 { std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2) } else { options.parallel };
    // How many queries still have to read each result.
    let mut readers: BTreeMap<&str, usize> = BTreeMap::new();
    for name in &graph.order {
        for d in &graph.deps[name] {
            *readers.entry(d.as_str()).or_default() += 1;
        }
    }
    let mut done: BTreeMap<String, QueryResult> = BTreeMap::new();
    let mut finished: BTreeSet<String> = BTreeSet::new();
    let mut started: BTreeSet<String> = BTreeSet::new();
    let mut running: BTreeSet<String> = BTreeSet::new();
    // Results that are off (a model the data could not support), with why, and nodes found to
    // read one, waiting to be reported.
    let mut off: BTreeMap<String, String> = BTreeMap::new();
    let mut ready_off: Vec<QueryResult> = Vec::new();
    // The order queries start in when several are ready: first those that read other results (so
    // a chain finishes and its intermediates are released), then those that start a chain, and
    // last those that read only the lake and feed nothing (a data-health scan, a support table):
    // they then run beside the fewest held intermediates, which keeps the peak memory down.
    let mut by_priority: Vec<&String> = graph.order.iter().collect();
    let classes: BTreeMap<&str, u8> = graph
        .order
        .iter()
        .map(|name| {
            let class = match (graph.deps[name].is_empty(), readers.contains_key(name.as_str())) {
                (false, _) => 0,
                (true, true) => 1,
                (true, false) => 2,
            };
            (name.as_str(), class)
        })
        .collect();
    let class = |name: &str| classes[name];
    by_priority.sort_by(|a, b| class(a).cmp(&class(b)).then(options.memory(b).total_cmp(&options.memory(a))));
    let partitions = scopes.current.ctx.state().config().target_partitions();
    // A query that runs with no other running or ready to start has the cores to itself until it
    // is done (only its end can make another ready): it is planned for all of them, not for the
    // share the session gives each query (`crate::lake::share_cores`).
    let widest = crate::lake::every_core().filter(|&cores| cores > partitions && !crate::cluster::is_remote(&scopes.current.ctx));
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let held_mib: f64 = done.values().map(|r| r.result_bytes as f64 / 1048576.0).sum();
        // Of the queries that read results, those nearer to releasing the results they read go
        // first: each held result it reads counts its size over the queries still to read it (a
        // result's last reader releases all of it). A heavy query then tends to start after the
        // twins of the previous period have been read and released, not beside them.
        let releases = |name: &str| -> f64 {
            graph.deps[name]
                .iter()
                .filter(|d| options.keep.as_ref().is_some_and(|k| !k.contains(*d)))
                .filter_map(|d| Some(done.get(d)?.result_bytes as f64 / 1048576.0 / readers.get(d.as_str()).copied()?.max(1) as f64))
                .sum()
        };
        let mut order = by_priority.clone();
        order.sort_by(|a, b| {
            class(a).cmp(&class(b)).then_with(|| match class(a) {
                0 => releases(b).total_cmp(&releases(a)),
                _ => std::cmp::Ordering::Equal,
            })
        });
        for name in order.iter().copied() {
            if tasks.len() >= parallel {
                break;
            }
            if !started.contains(name) && graph.deps[name].iter().all(|d| finished.contains(d)) {
                if let Some(why) = graph.deps[name].iter().find_map(|d| off.get(d)) {
                    // It reads a result that is off: it is off too, and says why (the result that
                    // could not be made, and its reason).
                    let r = off_result(name, why.clone(), Instant::now());
                    started.insert(name.clone());
                    ready_off.push(r);
                    continue;
                }
                if !options.fits(graph, name, &running, held_mib, partitions) {
                    continue;
                }
                let alone = running.is_empty()
                    && !graph
                        .order
                        .iter()
                        .any(|other| other != name && !started.contains(other) && graph.deps[other].iter().all(|d| finished.contains(d)));
                started.insert(name.clone());
                running.insert(name.clone());
                let (key, lagged) = source(name, queries);
                let q = queries[key].clone();
                on_event(Event::Started(name));
                tasks.spawn(run_one(scopes.clone(), name.clone(), q, lagged, widest.filter(|_| alone)));
            }
        }
        let joined = match ready_off.pop() {
            Some(r) => Ok(Ok(r)),
            None => match tasks.join_next().await {
                Some(j) => j,
                None => break,
            },
        };
        match joined {
            Ok(Ok(r)) => {
                if let Some(why) = &r.off {
                    // What the results that read it say: only a model's nodes are off at run time.
                    let why = if why.starts_with("the predicted-value model is off: ") {
                        why.clone()
                    } else {
                        format!("the predicted-value model is off: {why}")
                    };
                    off.insert(r.name.clone(), why);
                }
                running.remove(&r.name);
                on_event(Event::Done(&r));
                finished.insert(r.name.clone());
                let name = r.name.clone();
                done.insert(name.clone(), r);
                for d in &graph.deps[&name] {
                    let left = readers.get_mut(d.as_str()).expect("counted");
                    *left -= 1;
                    if *left == 0 && options.keep.as_ref().is_some_and(|k| !k.contains(d)) {
                        scopes.release(d);
                        done.remove(d);
                    }
                }
            }
            Ok(Err(p)) => {
                tasks.abort_all();
                return Err(p.into());
            }
            Err(e) => {
                tasks.abort_all();
                return Err(Problem::new(None, format!("a query task failed: {e}")).into());
            }
        }
    }
    if let Some(keep) = &options.keep {
        done.retain(|name, _| keep.contains(name));
    }
    Ok(done)
}

/// Plan every query in the graph without running it, registering an empty table of each result's
/// shape so the queries that read it can be planned too. Returns every problem found.
/// With `remote`, each plan must also be one a Ballista cluster can run
/// ([`crate::cluster::encodable`]).
pub async fn check(scopes: &Scopes, graph: &Graph, queries: &BTreeMap<String, QueryFile>, remote: bool) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut failed: BTreeSet<String> = BTreeSet::new();
    for name in &graph.order {
        let (key, lagged) = source(name, queries);
        let q = &queries[key];
        if graph.deps[name].iter().any(|d| failed.contains(d) || !graph.order.contains(d)) {
            failed.insert(name.clone());
            continue;
        }
        let scope = scopes.of(lagged);
        match plan(&scope.ctx, q, &scope.params).await {
            Ok(mut plan) => {
                let mut schema: SchemaRef = Arc::new(plan.schema().as_arrow().clone());
                if let Some(node) = &q.compute {
                    schema = crate::model::prediction::schema(node, &schema);
                }
                if let Err(p) = scopes.register(name, q, schema, Vec::new(), 1) {
                    problems.push(p);
                }
                // Creating the physical plan runs the optimizer and type checks that planning skips.
                if remote {
                    if let Some(why) = crate::cluster::unsupported(&plan) {
                        problems.push(Problem::new(q.file.clone(), format!("cannot run on the Ballista cluster: {why}")));
                        continue;
                    }
                    match crate::cluster::ship(plan.clone(), &scope.ctx.state()).await {
                        Ok(shipped) => plan = shipped,
                        Err(e) => {
                            problems.push(Problem::new(q.file.clone(), format!("cannot run on the Ballista cluster: {}", root_cause(&e))))
                        }
                    }
                }
                match scope.ctx.state().create_physical_plan(&plan).await {
                    Err(e) => problems.push(sql_problem(q, &e)),
                    Ok(physical) if remote => {
                        // Sent as DataFusion sends it: optimized (subqueries decorrelated).
                        let optimized = scope.ctx.state().optimize(&plan);
                        if let Err(why) = optimized.map_err(|e| root_cause(&e)).and_then(|o| crate::cluster::encodable(&o, physical)) {
                            problems.push(Problem::new(q.file.clone(), format!("cannot run on the Ballista cluster: {why}")));
                        }
                    }
                    Ok(_) => {}
                }
            }
            Err(p) => {
                problems.push(p);
                failed.insert(name.clone());
            }
        }
    }
    problems
}

/// A DataFusion error as a problem in query file `q`, with line and column when DataFusion knows
/// them.
pub fn sql_problem(q: &QueryFile, e: &DataFusionError) -> Problem {
    let root = e.find_root();
    let (message, pos) = match root {
        DataFusionError::SQL(pe, _) => {
            let text = pe.to_string();
            let pos = parse_line_col(&text);
            let text = text.strip_prefix("sql parser error: ").unwrap_or(&text).to_string();
            (format!("SQL syntax error: {}", strip_position(&text)), pos)
        }
        other => {
            let pos = e
                .diagnostic()
                .or_else(|| other.diagnostic())
                .and_then(|d| d.span)
                .filter(|s| s.start.line > 0)
                .map(|s| (s.start.line as usize, s.start.column as usize));
            (other.to_string(), pos)
        }
    };
    let p = Problem::new(q.file.clone(), message);
    match pos {
        Some((l, c)) => p.at(l, c),
        None => p,
    }
}

fn parse_line_col(text: &str) -> Option<(usize, usize)> {
    let i = text.rfind("Line: ")?;
    let rest = &text[i + 6..];
    let line: usize = rest.split(',').next()?.trim().parse().ok()?;
    let j = rest.find("Column: ")?;
    let col: usize = rest[j + 8..].chars().take_while(|c| c.is_ascii_digit()).collect::<String>().parse().ok()?;
    Some((line, col))
}

fn strip_position(text: &str) -> String {
    match text.rfind(" at Line: ") {
        Some(i) => text[..i].to_string(),
        None => text.to_string(),
    }
}

/// A problem about `word` in query `q`, pinned to where the word first appears outside comments.
fn locate(q: &QueryFile, word: &str, message: String) -> Problem {
    let p = Problem::new(q.file.clone(), message);
    match find_word(&q.sql, word) {
        Some(offset) => p.at_offset(&q.sql, offset),
        None => p,
    }
}

/// Whether `sql` uses `word` as a whole word outside comments.
pub fn mentions(sql: &str, word: &str) -> bool {
    find_word(sql, word).is_some()
}

fn find_word(sql: &str, word: &str) -> Option<usize> {
    let lower = sql.to_ascii_lowercase();
    let word = word.to_ascii_lowercase();
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '$';
    let mut from = 0;
    while let Some(i) = lower[from..].find(&word) {
        let at = from + i;
        let before = lower[..at].chars().next_back();
        let after = lower[at + word.len()..].chars().next();
        let line_start = lower[..at].rfind('\n').map(|n| n + 1).unwrap_or(0);
        let in_comment = lower[line_start..at].contains("--");
        if !before.is_some_and(is_ident) && !after.is_some_and(is_ident) && !in_comment {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run queries `(name, sql, reads)` in that graph order and return the events as
    /// `+name` (started) and `-name` (done).
    /// `memory`: what each query took in the last run, in MiB (`None`: a first run).
    async fn events(nodes: &[(&str, &str, &[&str])], parallel: usize, memory: Option<&[(&str, f64)]>) -> Vec<String> {
        events_on(nodes, parallel, memory, 4).await
    }

    /// [`events`], with each query planned for `partitions` partitions.
    async fn events_on(nodes: &[(&str, &str, &[&str])], parallel: usize, memory: Option<&[(&str, f64)]>, partitions: usize) -> Vec<String> {
        run_nodes(nodes, parallel, memory, partitions, &[]).await.0
    }

    /// [`events_on`], keeping the results named in `keep`.
    async fn run_nodes(
        nodes: &[(&str, &str, &[&str])],
        parallel: usize,
        memory: Option<&[(&str, f64)]>,
        partitions: usize,
        keep: &[&str],
    ) -> (Vec<String>, BTreeMap<String, QueryResult>) {
        let queries: BTreeMap<String, QueryFile> =
            nodes.iter().map(|(n, sql, _)| (n.to_string(), QueryFile::new(*n, format!("queries/{n}.sql"), *sql))).collect();
        let graph = Graph {
            order: nodes.iter().map(|(n, _, _)| n.to_string()).collect(),
            deps: deps(&nodes.iter().map(|(n, _, d)| (*n, *d)).collect::<Vec<_>>()),
            lake_tables: BTreeSet::new(),
            skipped: BTreeMap::new(),
            stand_ins: BTreeSet::new(),
            problems: Vec::new(),
        };
        let scope = || Scope {
            ctx: SessionContext::new_with_config(
                datafusion::prelude::SessionConfig::new().with_target_partitions(partitions).with_information_schema(true),
            ),
            params: Arc::new(Params::new()),
        };
        let scopes = Scopes { current: scope(), previous: scope() };
        // Each result not kept is released once its readers are done, as in a job's run.
        let options = RunOptions {
            keep: Some(keep.iter().map(|k| k.to_string()).collect()),
            parallel,
            memory: memory.map(|m| m.iter().map(|(n, mib)| (n.to_string(), *mib)).collect()),
        };
        let mut seen = Vec::new();
        let results = run(&scopes, &graph, &queries, &options, |e| match e {
            Event::Started(n) => seen.push(format!("+{n}")),
            Event::Done(r) => seen.push(format!("-{}", r.name)),
        })
        .await
        .unwrap();
        (seen, results)
    }

    #[tokio::test]
    async fn chains_run_before_lake_only_queries_and_heavy_ones_never_overlap() {
        let slow = "SELECT COUNT(*) AS n FROM generate_series(1, 300000)";
        // One at a time: a chain's start, then what reads it, then the query that feeds nothing,
        // although the graph's order lists that first.
        let seen = events(&[("health", slow, &[]), ("facts", slow, &[]), ("tiers", "SELECT n FROM facts", &["facts"])], 1, Some(&[])).await;
        assert_eq!(seen, ["+facts", "-facts", "+tiers", "-tiers", "+health", "-health"]);
        // Four at once, but not two whose memory last time adds up to over the budget: the
        // heavier of those first, the light ones beside it.
        let nodes: &[(&str, &str, &[&str])] = &[("a", slow, &[]), ("b", slow, &[]), ("c", slow, &[]), ("d", slow, &[])];
        let seen = events(nodes, 4, Some(&[("a", 800.0), ("c", 900.0), ("d", 100.0)])).await;
        let at = |e: &str| seen.iter().position(|s| s == e).unwrap();
        assert_eq!(seen[0], "+c", "{seen:?}");
        assert!(at("-c") < at("+a"), "{seen:?}");
        assert!(at("+b") < at("-c") && at("+d") < at("-c"), "the others run beside them: {seen:?}");
        // One over the budget runs with nothing beside it, first.
        let seen = events(nodes, 4, Some(&[("b", 1600.0)])).await;
        assert_eq!(seen[..2], ["+b", "-b"], "{seen:?}");
    }

    #[tokio::test]
    async fn queries_that_release_held_results_go_first() {
        // `wide` (200,000 rows) is held until both x and y have read it; `base` (one row) until
        // `heavy` has. When wide is done, heavy, x and y are ready: listed first, heavy would
        // start first; x and y release more (half of wide's size each, against base's whole), so
        // they go first.
        let nodes: &[(&str, &str, &[&str])] = &[
            ("base", "SELECT 1 AS n", &[]),
            ("wide", "SELECT value + n AS n FROM generate_series(1, 200000), base", &["base"]),
            ("heavy", "SELECT n FROM base", &["base"]),
            ("x", "SELECT COUNT(*) AS n FROM wide", &["wide"]),
            ("y", "SELECT MAX(n) AS n FROM wide", &["wide"]),
        ];
        let seen = events(nodes, 1, Some(&[])).await;
        assert_eq!(seen, ["+base", "-base", "+wide", "-wide", "+x", "-x", "+y", "-y", "+heavy", "-heavy"]);
    }

    #[tokio::test]
    async fn a_first_run_scans_the_lake_one_query_at_a_time() {
        let slow = "SELECT COUNT(*) AS n FROM generate_series(1, 300000)";
        let nodes: &[(&str, &str, &[&str])] =
            &[("facts", slow, &[]), ("health", slow, &[]), ("tiers", "SELECT n FROM facts", &["facts"]), ("kpis", slow, &[])];
        let seen = events(nodes, 4, None).await;
        // No two of facts, health and kpis overlap; tiers may run beside one of them.
        for (i, e) in seen.iter().enumerate() {
            if let Some(n) = e.strip_prefix('+').filter(|n| *n != "tiers") {
                let end = seen.iter().position(|s| *s == format!("-{n}")).unwrap();
                assert!(seen[i + 1..end].iter().all(|s| s == "+tiers" || s == "-tiers"), "{seen:?}");
            }
        }
    }

    #[tokio::test]
    async fn a_first_run_on_one_partition_a_query_scans_the_lake_beside_another() {
        let slow = "SELECT COUNT(*) AS n FROM generate_series(1, 300000)";
        let nodes: &[(&str, &str, &[&str])] = &[("facts", slow, &[]), ("health", slow, &[])];
        let seen = events_on(nodes, 2, None, 1).await;
        assert_eq!(seen[..2], ["+facts", "+health"], "{seen:?}");
        // Planned over several partitions, the second waits for the first.
        let seen = events_on(nodes, 2, None, 2).await;
        assert_eq!(seen[..2], ["+facts", "-facts"], "{seen:?}");
    }

    #[tokio::test]
    async fn a_query_that_runs_alone_is_planned_for_every_core() {
        let setting = "SELECT CAST(value AS BIGINT) AS partitions FROM information_schema.df_settings \
                       WHERE name = 'datafusion.execution.target_partitions'";
        let both = format!("SELECT ({setting}) AS own, a.partitions AS a, b.partitions AS b FROM a CROSS JOIN b");
        // `a` and `b` run side by side on their share of the cores; `both`, which reads them, runs
        // with nothing beside it and nothing else to start.
        let nodes: &[(&str, &str, &[&str])] = &[("a", setting, &[]), ("b", setting, &[]), ("both", &both, &["a", "b"])];
        let (seen, results) = run_nodes(nodes, 2, None, 1, &["both"]).await;
        assert_eq!(seen[..2], ["+a", "+b"], "{seen:?}");
        let batch = &results["both"].batches[0];
        let column = |i: usize| batch.column(i).as_any().downcast_ref::<datafusion::arrow::array::Int64Array>().unwrap().value(0);
        let cores = crate::lake::every_core().unwrap_or(1);
        assert_eq!((column(0), column(1), column(2)), (cores as i64, 1, 1));
    }

    fn deps(pairs: &[(&str, &[&str])]) -> BTreeMap<String, BTreeSet<String>> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect())).collect()
    }

    #[test]
    fn topo_order_puts_dependencies_first() {
        let order = topo_order(&deps(&[("a", &["b", "c"]), ("b", &["c"]), ("c", &[])])).unwrap();
        assert_eq!(order, vec!["c", "b", "a"]);
    }

    #[test]
    fn topo_order_names_the_cycle() {
        let cycle = topo_order(&deps(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"])])).unwrap_err();
        assert_eq!(cycle, vec!["a", "b", "c", "a"]);
    }

    #[test]
    fn finds_words_not_parts_or_comments() {
        let sql = "-- orders here\nselect * from big_orders join orders on true";
        assert_eq!(find_word(sql, "orders"), Some(sql.rfind("orders").unwrap()));
    }

    #[test]
    fn reads_parser_positions() {
        assert_eq!(parse_line_col("Expected: end of statement, found: x at Line: 3, Column: 14"), Some((3, 14)));
    }
}
