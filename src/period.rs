//! Period maths in a job's time zone: which period a run covers, its bounds and its label.
//! Pure functions over fixed instants, so tests can drive them.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::fmt;

/// How long a report's period is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PeriodKind {
    Day,
    Week,
    Month,
    Quarter,
    Hour,
    Minute,
}

impl fmt::Display for PeriodKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PeriodKind::Minute => "minute",
            PeriodKind::Hour => "hour",
            PeriodKind::Day => "day",
            PeriodKind::Week => "week",
            PeriodKind::Month => "month",
            PeriodKind::Quarter => "quarter",
        })
    }
}

/// A period `[start, end)` of local wall-clock time: a minute, an hour, or a calendar day, week
/// (Monday to Sunday), month or quarter starting at local midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub kind: PeriodKind,
    pub start: NaiveDateTime,
    pub end: NaiveDateTime,
}

impl Period {
    /// The period of `kind` that contains the local wall-clock time `local`.
    pub fn containing(kind: PeriodKind, local: NaiveDateTime) -> Period {
        let date = local.date();
        let midnight = |d: NaiveDate| d.and_time(NaiveTime::MIN);
        let (start, end) = match kind {
            PeriodKind::Minute => {
                let start = date.and_hms_opt(local.hour(), local.minute(), 0).expect("a valid minute");
                (start, start + Duration::minutes(1))
            }
            PeriodKind::Hour => {
                let start = date.and_hms_opt(local.hour(), 0, 0).expect("a valid hour");
                (start, start + Duration::hours(1))
            }
            PeriodKind::Day => (midnight(date), midnight(date + Duration::days(1))),
            PeriodKind::Week => {
                let monday = date - Duration::days(date.weekday().num_days_from_monday() as i64);
                (midnight(monday), midnight(monday + Duration::days(7)))
            }
            PeriodKind::Month => {
                let first = first_of_month(date.year(), date.month());
                (midnight(first), midnight(add_months(first, 1)))
            }
            PeriodKind::Quarter => {
                let first = first_of_month(date.year(), (date.month0() / 3) * 3 + 1);
                (midnight(first), midnight(add_months(first, 3)))
            }
        };
        Period { kind, start, end }
    }

    /// The last complete period before the instant `at`, in the time zone `tz`.
    ///
    /// Periods are wall-clock spans, so daylight saving bends them: a minute or hour inside a
    /// spring-forward gap never happens and is passed over (it is empty), and the last minute or
    /// hour before the end of an autumn fold stretches over the repeated time. So consecutive
    /// periods cover every instant once, with no gap and no overlap.
    pub fn last_complete(kind: PeriodKind, at: DateTime<Utc>, tz: Tz) -> Period {
        let current = Period::containing(kind, at.with_timezone(&tz).naive_local());
        // `current` contains `at`, so it has not ended; the one before it has, unless `at` falls
        // right after a gap (then the periods in the gap are empty and end at `at` or later).
        let mut p = current.prev();
        while p.end_instant(tz) > at || p.is_empty(tz) {
            p = p.prev();
        }
        p
    }

    /// True when no instant falls in the period: it lies inside a daylight-saving gap.
    pub fn is_empty(&self, tz: Tz) -> bool {
        self.start_instant(tz) >= self.end_instant(tz)
    }

    /// True for minutes and hours, whose bounds are not local midnights.
    pub fn is_sub_day(&self) -> bool {
        matches!(self.kind, PeriodKind::Minute | PeriodKind::Hour)
    }

    /// The period just before this one.
    pub fn prev(&self) -> Period {
        Period::containing(self.kind, self.start - Duration::minutes(1))
    }

    /// The period just after this one.
    pub fn next(&self) -> Period {
        Period::containing(self.kind, self.end)
    }

    /// The local date the period starts on.
    pub fn start_date(&self) -> NaiveDate {
        self.start.date()
    }

    /// The local date the period ends on (exclusive for calendar periods: the day after the last).
    pub fn end_date(&self) -> NaiveDate {
        self.end.date()
    }

    /// The start as `run.json` and templates show it: a date, or a local time for minutes and hours.
    pub fn start_text(&self) -> String {
        self.text(self.start)
    }

    /// The (exclusive) end as `run.json` and templates show it.
    pub fn end_text(&self) -> String {
        self.text(self.end)
    }

    fn text(&self, t: NaiveDateTime) -> String {
        if self.is_sub_day() { t.format("%Y-%m-%dT%H:%M").to_string() } else { t.date().to_string() }
    }

    /// The last local date the period covers.
    pub fn last_day(&self) -> NaiveDate {
        (self.end - Duration::minutes(1)).date()
    }

    /// What to give `pareto run --as-of` to run this period again: its end, a date for calendar
    /// periods (`2026-11-23`) and a local time for minutes and hours (`2026-11-23T06:05`).
    pub fn as_of_arg(&self) -> String {
        self.end_text()
    }

    /// A short, sortable label, safe in file names and Message-IDs: `2026-11-22T0605`,
    /// `2026-11-22T06`, `2026-11-22`, `2026-W47`, `2026-11`, `2026-Q4`.
    pub fn label(&self) -> String {
        match self.kind {
            PeriodKind::Minute => self.start.format("%Y-%m-%dT%H%M").to_string(),
            PeriodKind::Hour => self.start.format("%Y-%m-%dT%H").to_string(),
            PeriodKind::Day => self.start.format("%Y-%m-%d").to_string(),
            PeriodKind::Week => {
                let w = self.start.iso_week();
                format!("{}-W{:02}", w.year(), w.week())
            }
            PeriodKind::Month => self.start.format("%Y-%m").to_string(),
            PeriodKind::Quarter => format!("{}-Q{}", self.start.year(), self.start.month0() / 3 + 1),
        }
    }

    /// Words for people: `Sun 22 Nov 2026 06:05–06:06`, `Mon 16 – Sun 22 Nov 2026`,
    /// `November 2026`, `Q4 2026`.
    pub fn title(&self) -> String {
        let last = self.last_day();
        match self.kind {
            PeriodKind::Minute | PeriodKind::Hour => {
                format!("{}–{}", self.start.format("%a %-d %b %Y %H:%M"), self.end.format("%H:%M"))
            }
            PeriodKind::Day => self.start.format("%a %-d %b %Y").to_string(),
            PeriodKind::Week => {
                if self.start.month() == last.month() {
                    format!("{} – {}", self.start.format("%a %-d"), last.format("%a %-d %b %Y"))
                } else if self.start.year() == last.year() {
                    format!("{} – {}", self.start.format("%a %-d %b"), last.format("%a %-d %b %Y"))
                } else {
                    format!("{} – {}", self.start.format("%a %-d %b %Y"), last.format("%a %-d %b %Y"))
                }
            }
            PeriodKind::Month => self.start.format("%B %Y").to_string(),
            PeriodKind::Quarter => format!("Q{} {}", self.start.month0() / 3 + 1, self.start.year()),
        }
    }

    /// The instant the period starts: `start` in `tz` (a time in a gap moves to just after it).
    pub fn start_instant(&self, tz: Tz) -> DateTime<Utc> {
        local_instant(self.start, tz)
    }

    /// The instant the period ends (exclusive): `end` in `tz`.
    pub fn end_instant(&self, tz: Tz) -> DateTime<Utc> {
        local_instant(self.end, tz)
    }

    /// Number of months the period spans (a week is 7/30.4375 of a month).
    pub fn months(&self) -> f64 {
        match self.kind {
            PeriodKind::Minute => 1.0 / (30.4375 * 24.0 * 60.0),
            PeriodKind::Hour => 1.0 / (30.4375 * 24.0),
            PeriodKind::Day => 1.0 / 30.4375,
            PeriodKind::Week => 7.0 / 30.4375,
            PeriodKind::Month => 1.0,
            PeriodKind::Quarter => 3.0,
        }
    }
}

/// The first instant of local date `date` in `tz`. Where midnight does not exist (a daylight-saving
/// gap, as in America/Santiago), the day starts at the first local time after the gap; where it
/// happens twice, at the earlier.
pub fn local_midnight(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    local_instant(date.and_time(NaiveTime::MIN), tz)
}

/// The instant of a local wall-clock time in `tz`, resolving gaps forward and folds to the earlier.
pub fn local_instant(local: NaiveDateTime, tz: Tz) -> DateTime<Utc> {
    let mut t = local;
    for _ in 0..(4 * 60) {
        match tz.from_local_datetime(&t) {
            chrono::LocalResult::Single(d) => return d.with_timezone(&Utc),
            chrono::LocalResult::Ambiguous(a, _) => return a.with_timezone(&Utc),
            chrono::LocalResult::None => t += Duration::minutes(1),
        }
    }
    // No zone has a gap of four hours; fall back to reading the wall clock as UTC.
    Utc.from_utc_datetime(&local)
}

/// Parse `--as-of`: a date (local midnight), a local date-time, or an RFC 3339 instant.
pub fn parse_as_of(text: &str, tz: Tz) -> Result<DateTime<Utc>, String> {
    let t = parse_instant(text, tz)?;
    if !(1970..=9999).contains(&t.year()) {
        return Err(format!("`{}` is outside the years 1970 to 9999", text.trim()));
    }
    Ok(t)
}

fn parse_instant(text: &str, tz: Tz) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(text) {
        return Ok(d.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(local_midnight(d, tz));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(d) = NaiveDateTime::parse_from_str(text, fmt) {
            return Ok(local_instant(d, tz));
        }
    }
    Err(format!("`{text}` is not a date or time; use `2026-11-23`, `2026-11-23T07:00` (in the job's time zone) or `2026-11-23T06:00:00Z`"))
}

fn first_of_month(year: i32, month: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, 1).expect("valid first of month")
}

fn add_months(first: NaiveDate, months: u32) -> NaiveDate {
    let m0 = first.month0() + months;
    first_of_month(first.year() + (m0 / 12) as i32, m0 % 12 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn dt(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M").unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn week_runs_monday_to_sunday() {
        let p = Period::containing(PeriodKind::Week, dt("2026-11-22T00:00")); // a Sunday
        assert_eq!((p.start_date(), p.end_date()), (d("2026-11-16"), d("2026-11-23")));
        assert_eq!(p.label(), "2026-W47");
        assert_eq!(p.title(), "Mon 16 – Sun 22 Nov 2026");
    }

    #[test]
    fn last_complete_week_on_monday_morning_is_the_week_before() {
        let tz: Tz = "Europe/Amsterdam".parse().unwrap();
        let p = Period::last_complete(PeriodKind::Week, utc("2026-11-23T06:00:00Z"), tz);
        assert_eq!((p.start_date(), p.end_date()), (d("2026-11-16"), d("2026-11-23")));
        // 23:30 UTC on Sunday is already Monday 00:30 in Amsterdam: the week has ended there.
        let p = Period::last_complete(PeriodKind::Week, utc("2026-11-22T23:30:00Z"), tz);
        assert_eq!(p.start_date(), d("2026-11-16"));
        // ...but not in New York, where it is still Sunday evening.
        let ny: Tz = "America/New_York".parse().unwrap();
        let p = Period::last_complete(PeriodKind::Week, utc("2026-11-22T23:30:00Z"), ny);
        assert_eq!(p.start_date(), d("2026-11-09"));
    }

    #[test]
    fn months_and_quarters_roll_over_years() {
        let tz: Tz = "UTC".parse().unwrap();
        let p = Period::last_complete(PeriodKind::Month, utc("2026-01-05T07:00:00Z"), tz);
        assert_eq!((p.start_date(), p.end_date(), p.label()), (d("2025-12-01"), d("2026-01-01"), "2025-12".into()));
        let q = Period::last_complete(PeriodKind::Quarter, utc("2026-02-01T00:00:00Z"), tz);
        assert_eq!((q.start_date(), q.end_date(), q.label()), (d("2025-10-01"), d("2026-01-01"), "2025-Q4".into()));
        assert_eq!(q.prev().label(), "2025-Q3");
        assert_eq!(q.next().label(), "2026-Q1");
    }

    #[test]
    fn iso_week_label_uses_the_iso_year() {
        let p = Period::containing(PeriodKind::Week, dt("2026-12-31T00:00"));
        assert_eq!(p.label(), "2026-W53");
        let p = Period::containing(PeriodKind::Week, dt("2025-12-31T00:00"));
        assert_eq!(p.label(), "2026-W01");
    }

    #[test]
    fn bounds_are_local_midnights_across_dst() {
        let tz: Tz = "Europe/Amsterdam".parse().unwrap();
        // The week of the October 2026 change back to CET: starts at +02:00, ends at +01:00.
        let p = Period::containing(PeriodKind::Week, dt("2026-10-25T12:00"));
        assert_eq!(p.start_instant(tz), utc("2026-10-18T22:00:00Z"));
        assert_eq!(p.end_instant(tz), utc("2026-10-25T23:00:00Z"));
    }

    #[test]
    fn a_skipped_midnight_starts_the_day_after_the_gap() {
        // Santiago skips 00:00–00:59 on 2026-09-06.
        let tz: Tz = "America/Santiago".parse().unwrap();
        assert_eq!(local_midnight(d("2026-09-06"), tz), utc("2026-09-06T04:00:00Z"));
    }

    #[test]
    fn as_of_accepts_dates_local_times_and_instants() {
        let tz: Tz = "Europe/Amsterdam".parse().unwrap();
        assert_eq!(parse_as_of("2026-11-23", tz).unwrap(), utc("2026-11-22T23:00:00Z"));
        assert_eq!(parse_as_of("2026-11-23T07:00", tz).unwrap(), utc("2026-11-23T06:00:00Z"));
        assert_eq!(parse_as_of("2026-11-23T07:00:00Z", tz).unwrap(), utc("2026-11-23T07:00:00Z"));
        assert!(parse_as_of("last monday", tz).unwrap_err().contains("`last monday` is not a date"));
    }

    #[test]
    fn minutes_and_hours_have_labels_titles_and_as_of() {
        let m = Period::containing(PeriodKind::Minute, dt("2026-11-22T06:05"));
        assert_eq!(
            (m.label(), m.title(), m.as_of_arg()),
            ("2026-11-22T0605".into(), "Sun 22 Nov 2026 06:05–06:06".into(), "2026-11-22T06:06".into())
        );
        assert_eq!((m.start_text(), m.end_text(), m.last_day()), ("2026-11-22T06:05".into(), "2026-11-22T06:06".into(), d("2026-11-22")));
        let h = Period::containing(PeriodKind::Hour, dt("2026-11-22T23:59"));
        assert_eq!(
            (h.label(), h.title(), h.as_of_arg()),
            ("2026-11-22T23".into(), "Sun 22 Nov 2026 23:00–00:00".into(), "2026-11-23T00:00".into())
        );
        assert_eq!(h.next().label(), "2026-11-23T00");
        assert_eq!(h.prev().label(), "2026-11-22T22");
        assert_eq!(Period::containing(PeriodKind::Minute, dt("2027-01-01T00:00")).prev().label(), "2026-12-31T2359");
        // Kolkata is UTC+05:30: its hours start at half past in UTC.
        let tz: Tz = "Asia/Kolkata".parse().unwrap();
        let p = Period::last_complete(PeriodKind::Hour, utc("2026-11-22T06:45:00Z"), tz);
        assert_eq!(
            (p.label(), p.start_instant(tz), p.end_instant(tz)),
            ("2026-11-22T11".into(), utc("2026-11-22T05:30:00Z"), utc("2026-11-22T06:30:00Z"))
        );
        // `--as-of` with the period's own suggestion runs that period again.
        assert_eq!(Period::last_complete(PeriodKind::Hour, parse_as_of(&p.as_of_arg(), tz).unwrap(), tz), p);
    }

    #[test]
    fn minutes_and_hours_cover_every_instant_once_across_daylight_saving() {
        // A spring gap and an autumn fold each: whole hours, and Lord Howe's half hour.
        let windows = [
            ("Europe/Amsterdam", "2026-03-28T00:00", "2026-03-30T00:00"),
            ("Europe/Amsterdam", "2026-10-24T00:00", "2026-10-26T00:00"),
            ("America/Santiago", "2026-04-04T00:00", "2026-04-06T00:00"),
            ("America/Santiago", "2026-09-05T00:00", "2026-09-07T00:00"),
            ("Australia/Lord_Howe", "2026-04-04T00:00", "2026-04-06T00:00"),
            ("Australia/Lord_Howe", "2026-10-03T00:00", "2026-10-05T00:00"),
        ];
        for (zone, from, to) in windows {
            let tz: Tz = zone.parse().unwrap();
            for kind in [PeriodKind::Minute, PeriodKind::Hour] {
                let mut p = Period::containing(kind, dt(from));
                let mut covered_to = p.start_instant(tz);
                let (mut empty, mut short, mut long) = (0, 0, 0);
                let normal = if kind == PeriodKind::Minute { Duration::minutes(1) } else { Duration::hours(1) };
                while p.start < dt(to) {
                    let (start, end) = (p.start_instant(tz), p.end_instant(tz));
                    if p.is_empty(tz) {
                        empty += 1;
                    } else {
                        assert_eq!(start, covered_to, "{zone} {kind} {}: no gap, no overlap", p.label());
                        long += usize::from(end - start > normal);
                        short += usize::from(end - start < normal);
                        covered_to = end;
                        // The run at the period's end, and any time before the next one ends, covers it.
                        assert_eq!(Period::last_complete(kind, end, tz), p, "{zone} {}", p.label());
                        assert_eq!(Period::last_complete(kind, end + Duration::seconds(30), tz), p, "{zone} {}", p.label());
                    }
                    p = p.next();
                }
                // Each window holds one change of the clocks: either some periods never happen or
                // are cut short (a gap), or one stretches over the repeated time (a fold).
                assert!((empty + short > 0) != (long > 0), "{zone} {kind} {from}: {empty} empty, {short} short, {long} long");
            }
        }
    }
}
