//! Data contract v1: the tables and columns the shipped queries rely on. The lake may have more;
//! a contract table that is present must have these columns, of these kinds.

use datafusion::arrow::datatypes::{DataType, Schema};

/// The kind of value a contract column holds; any Arrow type of that kind is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Any integer type.
    Int,
    /// Any number: integers, floats, decimals (money columns).
    Number,
    Text,
    Bool,
    /// Date32 or Date64 (a timestamp is accepted too).
    Date,
    /// Any timestamp.
    Timestamp,
}

impl Kind {
    pub fn describe(self) -> &'static str {
        match self {
            Kind::Int => "an integer",
            Kind::Number => "a number (integer, float or decimal)",
            Kind::Text => "text",
            Kind::Bool => "a boolean",
            Kind::Date => "a date",
            Kind::Timestamp => "a timestamp",
        }
    }

    pub fn accepts(self, t: &DataType) -> bool {
        let t = match t {
            DataType::Dictionary(_, v) => v.as_ref(),
            t => t,
        };
        match self {
            Kind::Int => t.is_integer(),
            Kind::Number => t.is_numeric(),
            Kind::Text => matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View),
            Kind::Bool => matches!(t, DataType::Boolean),
            Kind::Date => matches!(t, DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _)),
            Kind::Timestamp => matches!(t, DataType::Timestamp(_, _)),
        }
    }
}

/// One column of a contract table.
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
    /// A required column must be present; an optional one, when present, must be of its kind.
    pub required: bool,
}

const fn col(name: &'static str, kind: Kind) -> Column {
    Column { name, kind, required: true }
}

const fn opt(name: &'static str, kind: Kind) -> Column {
    Column { name, kind, required: false }
}

use Kind::*;

/// The tables of data contract v1.
pub const TABLES: &[(&str, &[Column])] = &[
    (
        "customers",
        &[
            col("customer_id", Int),
            col("name", Text),
            col("signup_date", Date),
            col("country", Text),
            col("region", Text),
            opt("city", Text),
            col("industry", Text),
            opt("employees", Int),
            opt("birth_year", Int),
            opt("strategic", Bool),
            opt("referred_by", Int),
            // The account manager (`owners.owner_id`): bursting sends each owner their accounts.
            opt("owner_id", Int),
        ],
    ),
    (
        "orders",
        &[
            col("order_id", Int),
            col("customer_id", Int),
            col("ordered_at", Timestamp),
            col("amount", Number),
            opt("cost", Number),
            opt("channel", Text),
        ],
    ),
    ("subscriptions", &[col("customer_id", Int), col("month", Date), col("mrr", Number), opt("plan", Text)]),
    (
        "tickets",
        &[
            col("ticket_id", Int),
            col("customer_id", Int),
            col("created_at", Timestamp),
            col("first_reply_at", Timestamp),
            col("solved_at", Timestamp),
            col("channel", Text),
            col("reason", Text),
            opt("priority", Text),
            opt("status", Text),
            col("agent_replies", Int),
            col("reopens", Int),
            col("escalated", Bool),
            opt("resolution", Text),
            opt("sentiment", Number),
        ],
    ),
    ("csat", &[col("ticket_id", Int), col("customer_id", Int), col("rated_at", Timestamp), col("score", Int)]),
    ("nps", &[col("customer_id", Int), col("responded_at", Timestamp), col("score", Int)]),
    // Account managers and their addresses; optional (a lake without it has no owners' reports).
    ("owners", &[col("owner_id", Int), col("name", Text), col("email", Text), opt("team", Text)]),
];

/// The Arrow type a stand-in column gets for a kind (the sample lake's types).
fn arrow_type(kind: Kind) -> DataType {
    match kind {
        Kind::Int => DataType::Int64,
        Kind::Number => DataType::Decimal128(18, 2),
        Kind::Text => DataType::Utf8,
        Kind::Bool => DataType::Boolean,
        Kind::Date => DataType::Date32,
        Kind::Timestamp => DataType::Timestamp(datafusion::arrow::datatypes::TimeUnit::Microsecond, Some("UTC".into())),
    }
}

/// The schema of contract table `table` (every column, nullable), for an empty stand-in.
pub fn schema(table: &str) -> Option<Schema> {
    let (_, columns) = TABLES.iter().find(|(t, _)| *t == table)?;
    Some(Schema::new(
        columns.iter().map(|c| datafusion::arrow::datatypes::Field::new(c.name, arrow_type(c.kind), true)).collect::<Vec<_>>(),
    ))
}

/// The names of the contract tables: a query reading one the lake lacks is switched off, not failed.
pub const TABLE_NAMES: &[&str] = &["customers", "orders", "subscriptions", "tickets", "csat", "nps", "owners"];

/// The column that says how recent a contract table's rows are.
pub fn time_column(table: &str) -> Option<&'static str> {
    Some(match table {
        "customers" => "signup_date",
        "orders" => "ordered_at",
        "subscriptions" => "month",
        "tickets" => "created_at",
        "csat" => "rated_at",
        "nps" => "responded_at",
        _ => return None,
    })
}

/// What is wrong with `schema` as contract table `table`; empty when it conforms or is not a
/// contract table.
pub fn violations(table: &str, schema: &Schema) -> Vec<String> {
    let Some((_, columns)) = TABLES.iter().find(|(t, _)| *t == table) else { return Vec::new() };
    let mut out = Vec::new();
    for c in columns.iter() {
        match schema.field_with_name(c.name) {
            Ok(f) if !c.kind.accepts(f.data_type()) => out.push(format!(
                "column `{table}.{}` holds {} ({}), but the data contract needs {}; fix the writer or cast it when exporting",
                c.name,
                crate::results::type_name(f.data_type()),
                f.data_type(),
                c.kind.describe()
            )),
            Ok(_) => {}
            Err(_) if c.required => out.push(format!(
                "table `{table}` has no column `{}` ({}), which the data contract requires; add it to the files or rename the column that holds it",
                c.name,
                c.kind.describe()
            )),
            Err(_) => {}
        }
    }
    out
}
