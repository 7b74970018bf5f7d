//! When jobs are due: a job's cron expression read as wall-clock times in its own time zone,
//! mapped to instants so that daylight saving can neither skip nor double a run. Pure functions
//! over explicit instants; the scheduler (a later stage) calls them with its clock.
//!
//! The rule: enumerate the wall-clock times the cron expression names (as if the zone had no
//! daylight saving), and turn each into an instant in the job's zone. A wall time inside a
//! spring-forward gap runs once, at the first minute after the gap; a wall time that happens twice
//! in an autumn fold runs once, at the earlier. Instants that coincide are one run.

use crate::period::local_instant;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;

/// The instants strictly after `after` and at or before `until` at which `cron` fires in `tz`.
pub fn occurrences(cron: &Cron, tz: Tz, after: DateTime<Utc>, until: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let mut out: Vec<DateTime<Utc>> = Vec::new();
    // Wall-clock times are enumerated on a clock without daylight saving (UTC as a stand-in),
    // starting a day early so a wall time that maps past `after` is not missed.
    let wall_start = after.with_timezone(&tz).naive_local() - chrono::Duration::days(1);
    let start = DateTime::<Utc>::from_naive_utc_and_offset(wall_start, Utc);
    for wall in cron.iter_after(start) {
        let instant = local_instant(wall.naive_utc(), tz);
        if instant > until && wall.naive_utc() > until.with_timezone(&tz).naive_local() + chrono::Duration::days(1) {
            break;
        }
        if instant <= after || instant > until {
            continue;
        }
        if out.last() != Some(&instant) {
            out.push(instant);
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The next `n` instants after `after` at which `cron` fires in `tz`.
pub fn next(cron: &Cron, tz: Tz, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    let mut from = after;
    let mut span = chrono::Duration::days(2);
    while out.len() < n && span < chrono::Duration::days(366 * 30) {
        out = occurrences(cron, tz, after, from + span);
        from = after;
        span = span * 4;
    }
    out.truncate(n);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, NaiveDate, TimeZone};
    use std::collections::BTreeMap;
    use std::str::FromStr;

    fn cron(s: &str) -> Cron {
        Cron::from_str(s).unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_time_in_the_spring_gap_runs_once_right_after_it() {
        // Amsterdam skips 02:00–02:59 on 2026-03-29: a 02:30 job runs at 03:00 local (01:00Z).
        let tz: Tz = "Europe/Amsterdam".parse().unwrap();
        let runs = occurrences(&cron("30 2 * * *"), tz, utc("2026-03-28T00:00:00Z"), utc("2026-03-31T00:00:00Z"));
        assert_eq!(runs, vec![utc("2026-03-28T01:30:00Z"), utc("2026-03-29T01:00:00Z"), utc("2026-03-30T00:30:00Z")]);
    }

    #[test]
    fn a_time_in_the_autumn_fold_runs_once_at_the_earlier() {
        // Amsterdam repeats 02:00–02:59 on 2026-10-25: 02:30 CEST (00:30Z), not again at 01:30Z.
        let tz: Tz = "Europe/Amsterdam".parse().unwrap();
        let runs = occurrences(&cron("30 2 * * *"), tz, utc("2026-10-24T12:00:00Z"), utc("2026-10-26T12:00:00Z"));
        assert_eq!(runs, vec![utc("2026-10-25T00:30:00Z"), utc("2026-10-26T01:30:00Z")]);
    }

    #[test]
    fn hourly_jobs_across_a_gap_do_not_double() {
        // 02:00 and 03:00 local both land on 03:00 CEST on the spring-forward day: one run.
        let tz: Tz = "Europe/Amsterdam".parse().unwrap();
        let runs = occurrences(&cron("0 * * * *"), tz, utc("2026-03-28T23:30:00Z"), utc("2026-03-29T03:30:00Z"));
        assert_eq!(
            runs,
            vec![utc("2026-03-29T00:00:00Z"), utc("2026-03-29T01:00:00Z"), utc("2026-03-29T02:00:00Z"), utc("2026-03-29T03:00:00Z")]
        );
    }

    /// A daily job runs exactly once per local day, over ten years of transitions, whatever the
    /// hour, in zones with spring/autumn changes, southern-hemisphere changes at midnight, and none.
    #[test]
    fn a_daily_job_runs_once_per_local_day_for_ten_years() {
        for zone in ["Europe/Amsterdam", "America/New_York", "America/Santiago", "Asia/Kolkata"] {
            let tz: Tz = zone.parse().unwrap();
            for hour in [0, 1, 2, 3, 23] {
                let c = cron(&format!("30 {hour} * * *"));
                let from = tz.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap().with_timezone(&Utc);
                let to = tz.with_ymd_and_hms(2036, 1, 1, 12, 0, 0).unwrap().with_timezone(&Utc);
                let runs = occurrences(&c, tz, from, to);
                let mut per_day: BTreeMap<NaiveDate, usize> = BTreeMap::new();
                for r in &runs {
                    *per_day.entry(r.with_timezone(&tz).date_naive()).or_default() += 1;
                }
                let days = (NaiveDate::from_ymd_opt(2036, 1, 1).unwrap() - NaiveDate::from_ymd_opt(2026, 1, 2).unwrap()).num_days() + 1;
                assert_eq!(per_day.len() as i64, days, "{zone} at {hour}:30: a local day without a run");
                assert!(per_day.values().all(|n| *n == 1), "{zone} at {hour}:30: a local day with two runs");
                assert!(runs.windows(2).all(|w| w[0] < w[1]));
            }
        }
    }

    #[test]
    fn weekly_jobs_keep_their_local_hour_through_the_year() {
        let tz: Tz = "America/New_York".parse().unwrap();
        let runs = next(&cron("0 7 * * MON"), tz, utc("2026-01-01T00:00:00Z"), 60);
        assert_eq!(runs.len(), 60);
        for r in runs {
            let local = r.with_timezone(&tz);
            assert_eq!((local.weekday(), local.format("%H:%M").to_string()), (chrono::Weekday::Mon, "07:00".into()));
        }
    }
}
