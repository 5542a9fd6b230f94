//! When a schedule fires: a cron pattern read by `croner` in an IANA time
//! zone from `chrono-tz`. Times are unix milliseconds; fire times fall on
//! whole seconds.
//!
//! Daylight-saving transitions follow croner's documented rules (the Open
//! Cron Pattern Specification, as Vixie cron): a fixed-time pattern whose
//! time falls into a gap (02:30 on a spring-forward night) fires at the
//! first valid time after the gap, once; one whose time repeats (a
//! fall-back night) fires once, at the first occurrence. Patterns with
//! wildcards or steps in the time fields skip the gap and fire for each
//! repeated wall-clock time.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

use crate::error::{CoordinatorError, Result};

/// How far before a time the search for the next fire starts: longer than
/// any daylight-saving overlap has lasted (two hours, twice over).
const LOOKBACK_MS: i64 = 6 * 3600 * 1000;

/// Fewest seconds between two fires: a farm schedule renders pictures, and
/// a pattern firing every second would flood the queue.
const MIN_INTERVAL_S: i64 = 60;

/// A parsed cron pattern and time zone.
#[derive(Debug, Clone)]
pub(crate) struct Timing {
    cron: Cron,
    tz: Tz,
}

impl Timing {
    /// Parses a 5-field pattern (minute hour day-of-month month day-of-week)
    /// or a 6-field one with seconds first, in `time_zone` ("" = UTC).
    ///
    /// Errors: [`CoordinatorError::InvalidArgument`] naming `cron` or
    /// `time_zone`, with what to write instead; a pattern that fires more
    /// often than once a minute, or never.
    pub(crate) fn parse(pattern: &str, time_zone: &str) -> Result<Timing> {
        let tz: Tz = if time_zone.is_empty() {
            Tz::UTC
        } else {
            time_zone
                .parse()
                .map_err(|_| CoordinatorError::InvalidArgument {
                    field: "time_zone",
                    problem: format!(
                        "{time_zone:?} is not an IANA time zone; use a name such as Europe/Berlin, America/New_York or UTC"
                    ),
                })?
        };
        let bad = |problem: String| CoordinatorError::InvalidArgument {
            field: "cron",
            problem,
        };
        let fields = pattern.split_whitespace().count();
        if !(5..=6).contains(&fields) {
            return Err(bad(format!(
                "{pattern:?} has {fields} fields; write 5 (minute hour day month weekday, e.g. \"0 6 * * 1-5\") or 6 with seconds first"
            )));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .build()
            .parse(pattern)
            .map_err(|e| {
                bad(format!(
                    "{pattern:?}: {e}; e.g. \"0 6 * * 1-5\" is 06:00 on weekdays"
                ))
            })?;
        let timing = Timing { cron, tz };
        let first = timing
            .next_after(Utc::now().timestamp_millis())
            .ok_or_else(|| bad(format!("{pattern:?} never fires")))?;
        let mut previous = first;
        for _ in 0..16 {
            let Some(next) = timing.next_after(previous) else {
                break;
            };
            if next - previous < MIN_INTERVAL_S * 1000 {
                return Err(bad(format!(
                    "{pattern:?} fires {} s apart; a schedule fires at most once a minute",
                    (next - previous) / 1000
                )));
            }
            previous = next;
        }
        Ok(timing)
    }

    /// The time zone's IANA name.
    pub(crate) fn zone_name(&self) -> &'static str {
        self.tz.name()
    }

    /// The first fire time strictly after `after_ms`.
    pub(crate) fn next_after(&self, after_ms: i64) -> Option<i64> {
        self.occurrences_after(after_ms).next()
    }

    /// Fire times in `[from_ms, to_ms]`, at most `cap` of them.
    pub(crate) fn fires_between(&self, from_ms: i64, to_ms: i64, cap: usize) -> Vec<i64> {
        self.occurrences_after(from_ms.saturating_sub(1))
            .take_while(|&t| t <= to_ms)
            .take(cap)
            .collect()
    }

    /// Fire times after `after_ms`, in order. croner's iterator yields both
    /// occurrences of a repeated wall-clock time only when it starts before
    /// the repetition, so it starts [`LOOKBACK_MS`] early.
    fn occurrences_after(&self, after_ms: i64) -> impl Iterator<Item = i64> + '_ {
        let start = self.local(after_ms.saturating_sub(LOOKBACK_MS).div_euclid(1000) * 1000);
        start
            .into_iter()
            .flat_map(|start| self.cron.iter_after(start))
            .map(|t| t.timestamp_millis())
            .skip_while(move |&t| t <= after_ms)
    }

    /// `(date, time)` of `ms` on the schedule's wall clock: `2026-12-01`,
    /// `06-00` (and `06-00-30` when the seconds are not 0), for names.
    pub(crate) fn wall_clock(&self, ms: i64) -> (String, String) {
        let Some(t) = self.local(ms) else {
            return (String::new(), String::new());
        };
        let time = if t.format("%S").to_string() == "00" {
            t.format("%H-%M").to_string()
        } else {
            t.format("%H-%M-%S").to_string()
        };
        (t.format("%Y-%m-%d").to_string(), time)
    }

    /// The folder of a series run fired at `ms`: its wall-clock time,
    /// `2026-12-01T06-00-00`, sorting by wall-clock time; the second of two
    /// fires at one repeated wall-clock time (a fall-back night) gets `-2`.
    pub(crate) fn folder(&self, ms: i64) -> String {
        let Some(t) = self.local(ms) else {
            return ms.to_string();
        };
        let name = t.format("%Y-%m-%dT%H-%M-%S").to_string();
        let earlier = self
            .tz
            .from_local_datetime(&t.naive_local())
            .earliest()
            .map(|e| e.timestamp_millis());
        if earlier.is_some_and(|e| e < ms) {
            format!("{name}-2")
        } else {
            name
        }
    }

    /// `ms` as a time in the schedule's zone, as `schedule list` prints it.
    pub(crate) fn display(&self, ms: i64) -> String {
        self.local(ms)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S %Z").to_string())
            .unwrap_or_default()
    }

    fn local(&self, ms: i64) -> Option<DateTime<Tz>> {
        self.tz.timestamp_millis_opt(ms).single()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_folders_differ_on_a_repeated_hour() {
        let berlin = Timing::parse("*/30 * * * *", "Europe/Berlin").unwrap();
        // 2027-10-31: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice.
        let first = berlin.folder(utc("2027-10-31T00:30:00Z"));
        let second = berlin.folder(utc("2027-10-31T01:30:00Z"));
        assert_eq!(first, "2027-10-31T02-30-00");
        assert_eq!(second, "2027-10-31T02-30-00-2");
        assert_eq!(
            berlin.folder(utc("2027-12-01T05:00:00Z")),
            "2027-12-01T06-00-00"
        );
    }

    fn utc(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    fn iso(ms: i64) -> String {
        DateTime::<Utc>::from_timestamp_millis(ms)
            .unwrap()
            .to_rfc3339()
    }

    #[test]
    fn weekday_mornings_in_berlin() {
        let t = Timing::parse("0 6 * * 1-5", "Europe/Berlin").unwrap();
        // Friday 2026-12-04 07:00 Berlin → Monday 06:00 (05:00 UTC in winter).
        let next = t.next_after(utc("2026-12-04T06:00:00Z")).unwrap();
        assert_eq!(iso(next), "2026-12-07T05:00:00+00:00");
        assert_eq!(t.wall_clock(next), ("2026-12-07".into(), "06-00".into()));
        assert_eq!(t.display(next), "2026-12-07 06:00:00 CET");
        // Exactly at a fire time, the next one is the following day's.
        assert_eq!(
            iso(t.next_after(next).unwrap()),
            "2026-12-08T05:00:00+00:00"
        );
    }

    #[test]
    fn six_fields_have_seconds_first() {
        let t = Timing::parse("30 15 6 * * *", "").unwrap();
        let next = t.next_after(utc("2026-12-01T00:00:00Z")).unwrap();
        assert_eq!(iso(next), "2026-12-01T06:15:30+00:00");
        assert_eq!(t.wall_clock(next).1, "06-15-30");
        assert_eq!(t.zone_name(), "UTC");
    }

    #[test]
    fn spring_forward_moves_a_time_in_the_gap_to_just_after_it_once() {
        // Berlin, 2027-03-28: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist.
        let t = Timing::parse("30 2 * * *", "Europe/Berlin").unwrap();
        let fires = t.fires_between(utc("2027-03-27T00:00:00Z"), utc("2027-03-30T00:00:00Z"), 10);
        let fires: Vec<String> = fires.into_iter().map(iso).collect();
        assert_eq!(
            fires,
            [
                "2027-03-27T01:30:00+00:00", // 02:30 CET
                "2027-03-28T01:00:00+00:00", // 03:00 CEST, right after the gap
                "2027-03-29T00:30:00+00:00", // 02:30 CEST
            ]
        );
    }

    #[test]
    fn fall_back_fires_a_repeated_time_once() {
        // Berlin, 2027-10-31: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice.
        let t = Timing::parse("30 2 * * *", "Europe/Berlin").unwrap();
        let fires = t.fires_between(utc("2027-10-30T00:00:00Z"), utc("2027-11-01T00:00:00Z"), 10);
        let fires: Vec<String> = fires.into_iter().map(iso).collect();
        assert_eq!(
            fires,
            [
                "2027-10-30T00:30:00+00:00", // 02:30 CEST
                "2027-10-31T00:30:00+00:00", // the first 02:30 (CEST), not the second
            ]
        );
    }

    #[test]
    fn hourly_patterns_skip_the_gap_and_repeat_in_the_overlap() {
        let t = Timing::parse("0 * * * *", "Europe/Berlin").unwrap();
        // Spring: 01:00 CET, then 03:00 CEST (02:00 does not exist): one hour apart in UTC.
        let spring = t.fires_between(utc("2027-03-28T00:00:00Z"), utc("2027-03-28T01:00:00Z"), 10);
        assert_eq!(
            spring.into_iter().map(iso).collect::<Vec<_>>(),
            ["2027-03-28T00:00:00+00:00", "2027-03-28T01:00:00+00:00"]
        );
        // Autumn: 02:00 CEST and 02:00 CET both fire.
        let autumn = t.fires_between(utc("2027-10-31T00:00:00Z"), utc("2027-10-31T01:00:00Z"), 10);
        assert_eq!(
            autumn.into_iter().map(iso).collect::<Vec<_>>(),
            ["2027-10-31T00:00:00+00:00", "2027-10-31T01:00:00+00:00"]
        );
    }

    #[test]
    fn bad_patterns_and_zones_say_what_to_write() {
        let e = Timing::parse("0 6 * *", "").unwrap_err().to_string();
        assert!(
            e.contains("cron") && e.contains("4 fields") && e.contains("0 6 * * 1-5"),
            "{e}"
        );
        let e = Timing::parse("0 25 * * *", "").unwrap_err().to_string();
        assert!(e.contains("cron") && e.contains("\"0 25 * * *\""), "{e}");
        let e = Timing::parse("0 6 * * *", "Europe/Atlantis")
            .unwrap_err()
            .to_string();
        assert!(e.contains("time_zone") && e.contains("IANA"), "{e}");
        let e = Timing::parse("* * * * * *", "").unwrap_err().to_string();
        assert!(e.contains("once a minute"), "{e}");
        let e = Timing::parse("0 0 30 2 *", "").unwrap_err().to_string();
        assert!(e.contains("never fires"), "{e}");
    }
}
