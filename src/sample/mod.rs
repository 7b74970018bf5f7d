//! The demo lake generator: a deterministic, streaming writer of data contract v1 tables that
//! look like a real subscription business (heavy-tailed spend, churn, expansion, seasonality,
//! support load that differs by segment, and a few dirty rows for the data-health checks).

mod rng;
mod tables;

use chrono::{Datelike, Duration, NaiveDate, TimeZone, Utc};
use rng::Rng;
use std::path::{Path, PathBuf};
use tables::{Csat, Customers, Nps, Orders, Owners, Subscriptions, Table, Tickets, Writer};

/// What to generate.
#[derive(Debug, Clone)]
pub struct Options {
    pub out: PathBuf,
    pub customers: u64,
    pub seed: u64,
    /// Data runs up to (not including) this day.
    pub until: NaiveDate,
    pub years: u32,
}

/// Row counts written, per table.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub customers: u64,
    pub orders: u64,
    pub subscriptions: u64,
    pub tickets: u64,
    pub csat: u64,
    pub nps: u64,
    pub owners: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("cannot write {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("cannot write {path}: {message}")]
    Parquet { path: PathBuf, message: String },
    #[error("{0}")]
    Options(String),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Size {
    Solo,
    Smb,
    Mid,
    Enterprise,
}

/// What a customer is like, drawn once.
struct Profile {
    id: i64,
    signup: NaiveDate,
    size: Size,
    /// How much more than typical this customer spends (heavy-tailed).
    value: f64,
    converts: bool,
    /// Months billed before churning (from the first billed month).
    lifetime: u32,
    /// Months away before coming back, if ever.
    comeback: Option<u32>,
    base_mrr: f64,
    plan: &'static str,
    // Running state.
    mrr: f64,
    billed_months: u32,
}

const COUNTRIES: &[(&str, &str, &[&str], f64)] = &[
    ("NL", "Europe", &["Amsterdam", "Rotterdam", "Utrecht", "Eindhoven"], 6.0),
    ("DE", "Europe", &["Berlin", "Munich", "Hamburg", "Cologne"], 10.0),
    ("FR", "Europe", &["Paris", "Lyon", "Marseille"], 7.0),
    ("GB", "Europe", &["London", "Manchester", "Leeds", "Bristol"], 9.0),
    ("ES", "Europe", &["Madrid", "Barcelona", "Valencia"], 4.0),
    ("SE", "Europe", &["Stockholm", "Gothenburg"], 2.5),
    ("US", "North America", &["New York", "San Francisco", "Austin", "Chicago", "Seattle"], 28.0),
    ("CA", "North America", &["Toronto", "Vancouver", "Montreal"], 5.0),
    ("BR", "Latin America", &["São Paulo", "Rio de Janeiro"], 4.0),
    ("MX", "Latin America", &["Mexico City", "Guadalajara"], 3.0),
    ("IN", "APAC", &["Bengaluru", "Mumbai", "Delhi"], 7.0),
    ("JP", "APAC", &["Tokyo", "Osaka"], 4.0),
    ("SG", "APAC", &["Singapore"], 2.5),
    ("AU", "APAC", &["Sydney", "Melbourne"], 4.0),
];

const INDUSTRIES: &[(&str, f64)] = &[
    ("Software", 22.0),
    ("Retail", 16.0),
    ("Manufacturing", 12.0),
    ("Healthcare", 10.0),
    ("Finance", 10.0),
    ("Education", 8.0),
    ("Logistics", 8.0),
    ("Media", 7.0),
    ("Hospitality", 7.0),
];

const NAME_A: &[&str] =
    &["North", "Blue", "Bright", "Green", "Silver", "Red", "Stone", "Clear", "Swift", "Oak", "Iron", "Sun", "Lake", "Peak", "True", "Nova"];
const NAME_B: &[&str] = &[
    "field", "harbor", "line", "works", "point", "bridge", "gate", "wave", "path", "forge", "leaf", "stack", "light", "ridge", "wood",
    "port",
];
const NAME_C: &[&str] =
    &["Labs", "Group", "Co", "Systems", "Studio", "Partners", "Trading", "Health", "Logistics", "Media", "Foods", "Analytics"];

const FIRST: &[&str] = &["Ada", "Ben", "Chloe", "Dev", "Elif", "Finn", "Grace", "Hugo", "Iris", "Jonas", "Kim", "Lena", "Malik", "Nora"];
const LAST: &[&str] = &["Akers", "Brandt", "Costa", "Dahl", "Evans", "Fischer", "Garcia", "Horvat", "Ivanova", "Jansen", "Kowalski"];
/// Account teams: owner `k` (from 1) is in `TEAMS[(k - 1) % 3]`, and looks after customers of
/// that size; Solo customers have no account manager.
const TEAMS: &[&str] = &["Enterprise", "Mid-market", "SMB"];

/// How many account managers a sample lake of `customers` has: one per 500 customers, at least 3.
pub fn owner_count(customers: u64) -> i64 {
    (customers / 500).max(3) as i64
}

/// The account manager of a customer (drawn from a stream of its own, so the other tables do not
/// change with it): an owner of the team for its size, none for Solo customers.
fn owner_of(seed: u64, p: &Profile, owners: i64) -> Option<i64> {
    let team = match p.size {
        Size::Enterprise => 0,
        Size::Mid => 1,
        Size::Smb => 2,
        Size::Solo => return None,
    };
    let in_team = (owners - team + 2) / 3;
    let mut r = Rng::new(seed, &[9, p.id as u64]);
    Some(1 + team + 3 * r.range(0, in_team - 1))
}

fn write_owners(o: &Options, summary: &mut Summary) -> Result<(), GenerateError> {
    let mut w = Writer::<Owners>::new(&o.out, "owners");
    let mut rows = Owners::default();
    for k in 1..=owner_count(o.customers) {
        let (first, last) = (FIRST[(k as usize - 1) % FIRST.len()], LAST[(k as usize - 1) / FIRST.len() % LAST.len()]);
        let email = format!("{}.{}{}@example.com", first.to_lowercase(), last.to_lowercase(), k);
        rows.0.push((k, format!("{first} {last}"), email, TEAMS[(k as usize - 1) % 3]));
    }
    summary.owners = rows.len() as u64;
    w.append(0, rows)?;
    w.finish()
}

const REASONS: &[(&str, f64)] = &[
    ("How-to question", 24.0),
    ("Billing", 14.0),
    ("Login and access", 12.0),
    ("Bug report", 14.0),
    ("Integration", 10.0),
    ("Feature request", 9.0),
    ("Performance", 6.0),
    ("Data import", 7.0),
    ("Cancellation", 4.0),
];

fn month_start(d: NaiveDate) -> NaiveDate {
    NaiveDate::from_ymd_opt(d.year(), d.month(), 1).unwrap()
}

fn next_month(d: NaiveDate) -> NaiveDate {
    if d.month() == 12 {
        NaiveDate::from_ymd_opt(d.year() + 1, 1, 1).unwrap()
    } else {
        NaiveDate::from_ymd_opt(d.year(), d.month() + 1, 1).unwrap()
    }
}

fn micros(d: NaiveDate) -> i64 {
    Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap()).timestamp_micros()
}

const HOUR: i64 = 3_600_000_000;

/// Orders a month brings, relative to the yearly mean: busier before Christmas, quiet in summer.
fn seasonality(month: u32) -> f64 {
    [0.85, 0.9, 1.0, 1.0, 1.0, 0.95, 0.8, 0.8, 1.05, 1.1, 1.25, 1.3][month as usize - 1]
}

fn profile(seed: u64, i: u64, start: NaiveDate, until: NaiveDate) -> Profile {
    let mut r = Rng::new(seed, &[1, i]);
    let span = (until - start).num_days() as f64;
    // Growth: more customers signed up recently.
    let signup = start + Duration::days((r.f64().powf(0.75) * span) as i64).min(Duration::days(span as i64 - 1));
    let size = *r.weighted(&[(Size::Solo, 35.0), (Size::Smb, 35.0), (Size::Mid, 22.0), (Size::Enterprise, 8.0)]);
    let (size_value, churn, mrr_lo, mrr_hi, plan): (f64, f64, f64, f64, &str) = match size {
        Size::Solo => (0.35, 0.045, 19.0, 49.0, "Starter"),
        Size::Smb => (1.0, 0.028, 99.0, 499.0, "Team"),
        Size::Mid => (4.0, 0.016, 900.0, 4_000.0, "Business"),
        Size::Enterprise => (14.0, 0.008, 5_000.0, 30_000.0, "Enterprise"),
    };
    let value = size_value * r.lognormal(1.0, 1.0);
    let lifetime = {
        let u = r.f64().max(1e-9);
        (u.ln() / (1.0 - churn).ln()).floor() as u32 + 1
    };
    let comeback = r.chance(0.12).then(|| r.range(2, 8) as u32);
    let base_mrr = (mrr_lo + (mrr_hi - mrr_lo) * r.f64().powf(2.0)).round();
    Profile {
        id: 1000 + i as i64 + 1,
        signup,
        size,
        value,
        converts: r.chance(0.85),
        lifetime,
        comeback,
        base_mrr,
        plan,
        mrr: base_mrr,
        billed_months: 0,
    }
}

/// Write the sample lake. Streams month by month, so memory stays bounded by one month of rows.
pub fn generate(o: &Options, mut progress: impl FnMut(NaiveDate)) -> Result<Summary, GenerateError> {
    if o.customers == 0 {
        return Err(GenerateError::Options("--customers must be at least 1".into()));
    }
    if !(1..=50).contains(&o.years) {
        return Err(GenerateError::Options("--years must be 1 to 50".into()));
    }
    let start = month_start(o.until - Duration::days(365 * o.years as i64));
    prepare_out(&o.out)?;
    let mut summary = Summary::default();

    let mut profiles: Vec<Profile> = (0..o.customers).map(|i| profile(o.seed, i, start, o.until)).collect();
    write_customers(o, &profiles, &mut summary)?;
    write_owners(o, &mut summary)?;

    let mut orders = Writer::<Orders>::new(&o.out, "orders");
    let mut subs = Writer::<Subscriptions>::new(&o.out, "subscriptions");
    let mut tickets = Writer::<Tickets>::new(&o.out, "tickets");
    let mut csat = Writer::<Csat>::new(&o.out, "csat");
    let mut nps = Writer::<Nps>::new(&o.out, "nps");
    let until_us = micros(o.until);
    let mut order_id: i64 = 5_000_000;
    let mut ticket_id: i64 = 70_000_000;

    let mut month = start;
    let mut month_index: u64 = 0;
    while month < o.until {
        progress(month);
        let end = next_month(month).min(o.until);
        let (m0, m1) = (micros(month), micros(end));
        let days_in = (end - month).num_days().max(1);
        let (mut ob, mut sb, mut tb, mut cb, mut nb) =
            (Orders::default(), Subscriptions::default(), Tickets::default(), Csat::default(), Nps::default());
        for p in profiles.iter_mut() {
            if p.signup >= end {
                continue;
            }
            let mut r = Rng::new(o.seed, &[2, p.id as u64, month_index]);
            let tenure_days = (month - p.signup).num_days().max(0);
            let first_bill = next_month(p.signup);
            // Billing: converted customers pay from the month after signup, until they churn;
            // some come back after a while.
            let billed = if !p.converts || month < first_bill {
                false
            } else {
                let since = months_between(first_bill, month);
                match p.comeback {
                    _ if since < p.lifetime => true,
                    Some(gap) => since >= p.lifetime + gap && since < p.lifetime + gap + p.lifetime.max(6),
                    None => false,
                }
            };
            if billed {
                if p.billed_months > 0 {
                    if r.chance(0.05) {
                        p.mrr = (p.mrr * (1.1 + 0.4 * r.f64())).round();
                    } else if r.chance(0.025) {
                        p.mrr = (p.mrr * (0.6 + 0.3 * r.f64())).round().max(p.base_mrr * 0.3).round();
                    }
                } else {
                    p.mrr = p.base_mrr;
                }
                p.billed_months += 1;
                sb.push(p.id, month, cents(p.mrr), p.plan);
            } else if p.billed_months > 0 {
                p.billed_months = 0;
            }

            // Orders: active customers order more; churned ones trickle.
            let activity = if billed {
                1.0
            } else if month < first_bill {
                0.6
            } else {
                0.08
            };
            let lambda = 1.35 * p.value.powf(0.45) * seasonality(month.month()) * activity * days_in as f64 / 30.4;
            for _ in 0..r.poisson(lambda) {
                let t = m0 + (r.f64() * (m1 - m0) as f64) as i64;
                if t < micros(p.signup) {
                    continue;
                }
                let aov = 60.0 * p.value.powf(0.6);
                let mut amount = (r.lognormal(aov, 0.6) * 100.0).round() as i128;
                if r.chance(0.001) {
                    amount = -amount; // a refund booked as a negative order: dirty for the data checks
                }
                let cost = (!r.chance(0.05)).then(|| (amount as f64 * (0.35 + 0.35 * r.f64())).round() as i128);
                let channel = *r.weighted(&[("web", 55.0), ("sales", 20.0), ("partner", 10.0), ("app", 15.0)]);
                order_id += 1;
                ob.push(order_id, p.id, t, amount, cost, channel);
                if r.chance(0.0005) {
                    ob.push(order_id, p.id, t, amount, cost, channel); // duplicate export
                }
            }

            // Support: bigger and newer customers write in more.
            let size_rate = match p.size {
                Size::Solo => 0.08,
                Size::Smb => 0.15,
                Size::Mid => 0.35,
                Size::Enterprise => 0.8,
            };
            let newness = if tenure_days < 90 {
                1.8
            } else if tenure_days < 365 {
                1.1
            } else {
                0.9
            };
            let t_lambda = size_rate * newness * if billed || month < first_bill { 1.0 } else { 0.2 } * days_in as f64 / 30.4;
            for _ in 0..r.poisson(t_lambda) {
                let created = m0 + (r.f64() * (m1 - m0) as f64) as i64;
                if created < micros(p.signup) {
                    continue;
                }
                ticket_id += 1;
                let channel = *r.weighted(&[("email", 45.0), ("chat", 30.0), ("phone", 15.0), ("web", 10.0)]);
                let reason = *r.weighted(REASONS);
                let priority = *r.weighted(&[("low", 25.0), ("normal", 55.0), ("high", 15.0), ("urgent", 5.0)]);
                let reply_median = match p.size {
                    Size::Enterprise => 1.5,
                    Size::Mid => 3.0,
                    Size::Smb => 6.0,
                    Size::Solo => 10.0,
                } * if channel == "chat" {
                    0.15
                } else if channel == "phone" {
                    0.05
                } else {
                    1.0
                };
                let reply_h = r.lognormal(reply_median, 0.9);
                let complexity = if reason == "Bug report" || reason == "Integration" {
                    2.2
                } else if reason == "How-to question" {
                    0.6
                } else {
                    1.0
                };
                let resolve_h = reply_h + r.lognormal(18.0 * complexity, 1.0);
                let first_reply = created + (reply_h * HOUR as f64) as i64;
                let mut solved = created + (resolve_h * HOUR as f64) as i64;
                let first_reply = (first_reply < until_us && !r.chance(0.004)).then_some(first_reply);
                let reopens = if r.chance(0.02) {
                    2
                } else if r.chance(0.08) {
                    1
                } else {
                    0
                };
                if reopens > 0 {
                    solved += (r.lognormal(30.0, 0.8) * HOUR as f64) as i64;
                }
                if r.chance(0.002) {
                    solved = created - HOUR; // clock skew in the export: dirty
                }
                let open = first_reply.is_none() || solved >= until_us;
                let status = if open { if first_reply.is_none() { "new" } else { "pending" } } else { "solved" };
                let resolution = (!open).then(|| {
                    *r.weighted(&[
                        ("agent", 50.0),
                        ("self-service", 18.0),
                        ("bug fix", 12.0),
                        ("workaround", 8.0),
                        ("refund", 5.0),
                        ("duplicate", 7.0),
                    ])
                });
                let agent_replies = if open { r.poisson(0.8) as i32 } else { 1 + r.poisson(1.4 * complexity) as i32 };
                let escalated = r.chance(if priority == "urgent" { 0.3 } else { 0.04 });
                let sentiment =
                    r.chance(0.7).then(|| (0.35 - 0.02 * reply_h.min(30.0) - 0.15 * reopens as f64 + 0.3 * r.normal()).clamp(-1.0, 1.0));
                let customer = if r.chance(0.001) { 99_000_000 + p.id } else { p.id }; // orphan: dirty
                tb.push(tables::Ticket {
                    ticket_id,
                    customer_id: customer,
                    created_at: created,
                    first_reply_at: first_reply,
                    solved_at: (!open).then_some(solved),
                    channel,
                    reason,
                    priority,
                    status,
                    agent_replies,
                    reopens,
                    escalated,
                    resolution,
                    sentiment,
                });
                if !open && r.chance(0.35) {
                    let rated = solved + (r.lognormal(10.0, 1.0) * HOUR as f64) as i64;
                    if rated < until_us {
                        let slow = (reply_h / (reply_median * 2.0)).min(3.0);
                        let happy = (0.93 - 0.12 * slow - 0.2 * reopens as f64).clamp(0.2, 0.97);
                        let mut score = if r.chance(happy) { 4 + r.range(0, 1) as i32 } else { r.range(1, 3) as i32 };
                        if r.chance(0.0005) {
                            score = 6; // out of range: dirty
                        }
                        cb.push(ticket_id, p.id, rated, score);
                    }
                }
            }

            // NPS: a survey each quarter, answered by some.
            if month.month() % 3 == 1 && r.chance(0.2) {
                let t = m0 + (r.f64() * (m1 - m0) as f64) as i64;
                if t >= micros(p.signup) {
                    let base = if billed { 7.6 } else { 5.0 } + if p.size == Size::Enterprise { 0.5 } else { 0.0 };
                    let score = (base + 2.0 * r.normal()).round().clamp(0.0, 10.0) as i32;
                    nb.push(p.id, t, if r.chance(0.0005) { 11 } else { score });
                }
            }
        }
        ob.sort();
        tb.sort();
        summary.orders += ob.len() as u64;
        summary.subscriptions += sb.len() as u64;
        summary.tickets += tb.len() as u64;
        summary.csat += cb.len() as u64;
        summary.nps += nb.len() as u64;
        let year = month.year();
        orders.append(year, ob)?;
        subs.append(year, sb)?;
        tickets.append(year, tb)?;
        csat.append(year, cb)?;
        nps.append(year, nb)?;
        month = next_month(month);
        month_index += 1;
    }
    orders.finish()?;
    subs.finish()?;
    tickets.finish()?;
    csat.finish()?;
    nps.finish()?;
    let marker = serde_json::json!({ "seed": o.seed, "customers": o.customers, "until": o.until.to_string(), "years": o.years });
    let path = o.out.join(MARKER);
    std::fs::write(&path, marker.to_string()).map_err(|source| GenerateError::Io { path, source })?;
    Ok(summary)
}

/// The file that marks a folder as a sample lake pareto wrote (and may replace).
pub const MARKER: &str = ".pareto-sample";

const TABLES: &[&str] = &["customers", "orders", "subscriptions", "tickets", "csat", "nps", "owners"];

/// Make `out` ready: create it, or empty an earlier sample lake there. Refuses a folder that holds
/// anything else, so a real lake is never overwritten.
fn prepare_out(out: &Path) -> Result<(), GenerateError> {
    let io = |source| GenerateError::Io { path: out.to_path_buf(), source };
    if out.join(MARKER).is_file() {
        for t in TABLES {
            let dir = out.join(t);
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(io)?;
            }
        }
        std::fs::remove_file(out.join(MARKER)).map_err(io)?;
    } else if out.exists() && std::fs::read_dir(out).map_err(io)?.next().is_some() {
        return Err(GenerateError::Options(format!(
            "`{}` is not empty and is not a sample lake pareto wrote; choose an empty or new folder",
            out.display()
        )));
    }
    std::fs::create_dir_all(out).map_err(io)
}

fn months_between(a: NaiveDate, b: NaiveDate) -> u32 {
    ((b.year() - a.year()) * 12 + b.month() as i32 - a.month() as i32).max(0) as u32
}

fn cents(v: f64) -> i128 {
    (v * 100.0).round() as i128
}

fn write_customers(o: &Options, profiles: &[Profile], summary: &mut Summary) -> Result<(), GenerateError> {
    let mut w = Writer::<Customers>::new(&o.out, "customers");
    let mut batch = Customers::default();
    let owners = owner_count(o.customers);
    for p in profiles {
        let mut r = Rng::new(o.seed, &[3, p.id as u64]);
        let name = format!("{}{} {}", r.pick(NAME_A), r.pick(NAME_B), r.pick(NAME_C));
        let countries: Vec<(usize, f64)> = COUNTRIES.iter().enumerate().map(|(i, c)| (i, c.3)).collect();
        let (code, region, cities, _) = COUNTRIES[*r.weighted(&countries)];
        // Non-standard country values, as real CRMs have them.
        let country = if r.chance(0.01) {
            code.to_lowercase()
        } else if r.chance(0.005) {
            format!("{code} ")
        } else {
            code.to_string()
        };
        let city = r.pick(cities).to_string();
        let industry = *r.weighted(INDUSTRIES);
        let employees = match p.size {
            Size::Solo => r.range(1, 9),
            Size::Smb => r.range(10, 99),
            Size::Mid => r.range(100, 999),
            Size::Enterprise => r.range(1000, 25_000),
        } as i32;
        let employees = (!r.chance(0.03)).then_some(employees);
        let birth_year = r.chance(if p.size == Size::Solo { 0.6 } else { 0.2 }).then(|| r.range(1955, 2002) as i32);
        let strategic = if r.chance(0.1) { None } else { Some(r.chance(if p.size == Size::Enterprise { 0.35 } else { 0.03 })) };
        let referred_by = (p.id > 1010 && r.chance(0.15)).then(|| r.range(1001, p.id - 1));
        batch.push(tables::Customer {
            customer_id: p.id,
            name,
            signup_date: p.signup,
            country,
            region,
            city,
            industry,
            employees,
            birth_year,
            strategic,
            referred_by,
            owner_id: owner_of(o.seed, p, owners),
        });
        if batch.len() >= 100_000 {
            summary.customers += batch.len() as u64;
            w.append(0, std::mem::take(&mut batch))?;
        }
    }
    summary.customers += batch.len() as u64;
    w.append(0, batch)?;
    w.finish()
}

/// Where `generate` writes table `t`.
pub fn table_dir(out: &Path, t: &str) -> PathBuf {
    out.join(t)
}
