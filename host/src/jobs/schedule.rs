//! A job as `plugin.json` declares it (`jobs`): an id and either an
//! interval (`every_seconds`) or a cron expression (`cron`, in UTC: five
//! fields, minute to weekday, or six with seconds first; POSIX/Vixie
//! meaning, so weekday 0 or 7 is Sunday and a day of month or a weekday
//! matches), and when its next run falls.

use chrono::{DateTime, Utc};
use std::str::FromStr;

/// The most jobs one plugin may declare.
pub const MAX_JOBS: usize = 32;

/// One declared job.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct JobDeclaration {
    /// The name `run-job` is called with (`digest`).
    pub id: String,
    /// Run every this many seconds (at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every_seconds: Option<u64>,
    /// Run at the times this cron expression names, in UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
}

/// When a job runs.
#[derive(Debug, Clone)]
pub(crate) enum Schedule {
    Every(u64),
    Cron(Box<croner::Cron>),
}

impl JobDeclaration {
    /// Its schedule, or what is wrong with the declaration.
    pub(crate) fn schedule(&self) -> Result<Schedule, String> {
        match (self.every_seconds, &self.cron) {
            (Some(0), None) => Err("`every_seconds` must be at least 1".into()),
            (Some(seconds), None) => Ok(Schedule::Every(seconds)),
            (None, Some(expression)) => croner::Cron::from_str(expression)
                .map(|schedule| Schedule::Cron(Box::new(schedule)))
                .map_err(|e| format!("`{expression}` is not a cron expression ({e}): write five fields, minute hour day month weekday, such as `0 6 * * 1` (six o'clock on Mondays, UTC)")),
            _ => Err("give exactly one of `every_seconds` and `cron`".into()),
        }
    }

    /// How the schedule reads, as the API and consent show it.
    pub fn describe(&self) -> String {
        match (self.every_seconds, &self.cron) {
            (Some(seconds), _) => format!("every {seconds} s"),
            (_, Some(expression)) => format!("cron {expression} (UTC)"),
            _ => String::new(),
        }
    }
}

impl Schedule {
    /// The first run after `after_ms` (milliseconds since the epoch); `None`
    /// when the expression names no later time.
    pub(crate) fn next_after(&self, after_ms: u64) -> Option<u64> {
        match self {
            Schedule::Every(seconds) => Some(after_ms.saturating_add(seconds.saturating_mul(1000))),
            Schedule::Cron(schedule) => {
                let after = DateTime::<Utc>::from_timestamp_millis(i64::try_from(after_ms).ok()?)?;
                let next = schedule.find_next_occurrence(&after, false).ok()?;
                u64::try_from(next.timestamp_millis()).ok()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(every_seconds: Option<u64>, cron: Option<&str>) -> JobDeclaration {
        JobDeclaration { id: "j".into(), every_seconds, cron: cron.map(str::to_string) }
    }

    #[test]
    fn intervals_and_cron_expressions_give_the_next_run() {
        let every = job(Some(90), None).schedule().expect("interval");
        assert_eq!(every.next_after(1_000), Some(91_000));
        // 2026-12-07 14:00:00 UTC; six o'clock next morning.
        let at_two = 1_796_652_000_000;
        let daily = job(None, Some("0 6 * * *")).schedule().expect("cron");
        assert_eq!(daily.next_after(at_two), Some(at_two + 16 * 3_600_000));
        let with_seconds = job(None, Some("*/10 * * * * *")).schedule().expect("six fields");
        assert_eq!(with_seconds.next_after(at_two), Some(at_two + 10_000));
        // 2026-12-07 is a Monday: weekday 1 is Monday and 0 Sunday, as in cron.
        let mondays = job(None, Some("0 15 * * 1")).schedule().expect("weekday");
        assert_eq!(mondays.next_after(at_two), Some(at_two + 3_600_000));
        let sundays = job(None, Some("0 15 * * 0")).schedule().expect("weekday 0");
        assert_eq!(sundays.next_after(at_two), Some(at_two + 3_600_000 + 6 * 86_400_000));
    }

    #[test]
    fn malformed_declarations_say_what_to_write() {
        for (every, cron, says) in [
            (Some(0), None, "at least 1"),
            (None, None, "exactly one"),
            (Some(5), Some("* * * * *"), "exactly one"),
            (None, Some("every day"), "five fields"),
            (None, Some("61 * * * *"), "five fields"),
        ] {
            let problem = job(every, cron).schedule().expect_err(says);
            assert!(problem.contains(says), "{problem}");
        }
    }
}
