//! Per-plugin counters and the circuit breaker: after a run of consecutive
//! failures (traps, timeouts, exhausted limits) a plugin is degraded for a
//! back-off period: its hooks are skipped and its calls refused at once. Then
//! one call is let through (the others still refused): a success closes the
//! circuit, a failure opens it again for another back-off.

use crate::sync::locked;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where a host reads the time its circuit breakers count back-offs in: the
/// system's monotonic clock, or one that moves only when told (a test waits
/// for a back-off by moving it, not by sleeping).
#[derive(Debug, Clone, Default)]
pub struct Clock(Option<Arc<Mutex<Instant>>>);

impl Clock {
    /// The system's monotonic clock (the default).
    pub fn system() -> Clock {
        Clock(None)
    }

    /// A clock standing at the present moment, moved by [`Clock::advance`] only.
    pub fn manual() -> Clock {
        Clock(Some(Arc::new(Mutex::new(Instant::now()))))
    }

    /// Moves a manual clock forward; the system clock moves by itself.
    pub fn advance(&self, by: Duration) {
        if let Some(now) = &self.0 {
            *locked(now) += by;
        }
    }

    /// The time now.
    pub fn now(&self) -> Instant {
        match &self.0 {
            Some(now) => *locked(now),
            None => Instant::now(),
        }
    }
}

/// When to open the circuit and for how long.
#[derive(Debug, Clone, Copy)]
pub struct BreakerConfig {
    /// Consecutive failures that degrade a plugin.
    pub failures: u32,
    /// How long a degraded plugin is left alone.
    pub backoff: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig { failures: 5, backoff: Duration::from_secs(30) }
    }
}

/// Where a plugin's circuit breaker stands (`healthy`, `degraded` or
/// `recovering` in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthState {
    /// Calls run.
    Healthy,
    /// Too many failures in a row: calls are refused until the back-off ends.
    Degraded,
    /// The back-off is over: the next call tests the plugin.
    Recovering,
}

/// A plugin's health, as the host reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginHealth {
    /// Where its breaker stands.
    pub state: HealthState,
    /// Milliseconds until a degraded plugin is tried again.
    pub retry_in_ms: Option<u64>,
    /// Failures since the last success.
    pub consecutive_failures: u32,
    /// Calls run (refused ones not counted).
    pub calls: u64,
    /// Calls that trapped.
    pub traps: u64,
    /// Calls stopped at their time limit.
    pub timeouts: u64,
    /// Calls stopped at a memory, fuel or stack limit.
    pub limits_exceeded: u64,
    /// Host calls refused for want of a grant.
    pub denials: u64,
    /// Calls refused because the plugin was degraded or busy.
    pub refused: u64,
    /// Runs dropped for a storage conflict (another call, here or on
    /// another node, changed what they read, or passed the quota first) and
    /// run again after a short back-off: how hot the plugin's keys are.
    pub conflicts: u64,
    /// Calls running now.
    pub running: u64,
    /// Instances made ahead of calls and not used yet (`limits.reserve_instances` at most).
    pub ready_instances: usize,
}

/// How a call ended, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Returned (possibly with the plugin's own error).
    Completed,
    Trap,
    Timeout,
    LimitExceeded,
    /// Ended by the embedding application's function: says nothing of the
    /// plugin, so its run of failures neither grows nor resets (a plugin
    /// cannot clear its record by making the application fail).
    Unjudged,
}

#[derive(Default)]
struct Breaker {
    consecutive_failures: u32,
    /// Set while the circuit is open (degraded) or half-open (back-off over).
    open_until: Option<Instant>,
    /// Half-open: the one call let through to test the plugin is running.
    probing: bool,
}

#[derive(Default)]
pub(crate) struct Health {
    breaker: Mutex<Breaker>,
    calls: AtomicU64,
    traps: AtomicU64,
    timeouts: AtomicU64,
    limits_exceeded: AtomicU64,
    denials: AtomicU64,
    refused: AtomicU64,
    conflicts: AtomicU64,
    running: AtomicU64,
}

impl Health {
    fn breaker(&self) -> std::sync::MutexGuard<'_, Breaker> {
        locked(&self.breaker)
    }

    /// `Err(wait)` while the circuit is open, and while the single test call
    /// of a half-open circuit runs. An admitted call ends through
    /// [`Admitted::record`]; one dropped before that (its caller went away)
    /// counts as nothing and, if it was the test call, lets the next call test.
    pub(crate) fn admit(&self, now: Instant) -> Result<Admitted<'_>, Duration> {
        let mut breaker = self.breaker();
        let (refused, probe) = match breaker.open_until {
            None => (None, false),
            Some(until) if until > now => (Some(until - now), false),
            Some(_) if breaker.probing => (Some(Duration::ZERO), false),
            Some(_) => {
                breaker.probing = true;
                (None, true)
            }
        };
        match refused {
            Some(wait) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                Err(wait)
            }
            None => Ok(Admitted { health: self, probe, recorded: false }),
        }
    }

    pub(crate) fn refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn denied(&self) {
        self.denials.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn conflicted(&self) {
        self.conflicts.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a call finished at `now`; returns true when it opened the circuit.
    fn record(&self, outcome: Outcome, probe: bool, config: &BreakerConfig, now: Instant) -> bool {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let counter = match outcome {
            Outcome::Completed | Outcome::Unjudged => None,
            Outcome::Trap => Some(&self.traps),
            Outcome::Timeout => Some(&self.timeouts),
            Outcome::LimitExceeded => Some(&self.limits_exceeded),
        };
        let mut breaker = self.breaker();
        if outcome == Outcome::Unjudged {
            if probe {
                // The test call proved nothing: the next call tests again.
                breaker.probing = false;
            }
            return false;
        }
        let Some(counter) = counter else {
            *breaker = Breaker::default();
            return false;
        };
        counter.fetch_add(1, Ordering::Relaxed);
        breaker.consecutive_failures = breaker.consecutive_failures.saturating_add(1);
        // A failed test call re-opens at once; otherwise the run must reach the threshold.
        let open = breaker.probing || breaker.consecutive_failures >= config.failures.max(1);
        if open {
            breaker.open_until = Some(now + config.backoff);
            breaker.probing = false;
        }
        open
    }

    /// The counters and the breaker's state at `now`.
    pub(crate) fn snapshot(&self, now: Instant) -> PluginHealth {
        let breaker = self.breaker();
        let retry_in = breaker.open_until.filter(|until| *until > now).map(|until| until - now);
        PluginHealth {
            state: match (retry_in, breaker.open_until) {
                (Some(_), _) => HealthState::Degraded,
                (None, Some(_)) => HealthState::Recovering,
                (None, None) => HealthState::Healthy,
            },
            retry_in_ms: retry_in.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            consecutive_failures: breaker.consecutive_failures,
            calls: self.calls.load(Ordering::Relaxed),
            traps: self.traps.load(Ordering::Relaxed),
            timeouts: self.timeouts.load(Ordering::Relaxed),
            limits_exceeded: self.limits_exceeded.load(Ordering::Relaxed),
            denials: self.denials.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            conflicts: self.conflicts.load(Ordering::Relaxed),
            running: self.running.load(Ordering::SeqCst),
            ready_instances: 0,
        }
    }
}

/// A call the breaker let through.
pub(crate) struct Admitted<'a> {
    health: &'a Health,
    /// The single test call of a half-open circuit.
    probe: bool,
    recorded: bool,
}

impl Admitted<'_> {
    /// Counts the call, finished at `now`; returns true when it opened the circuit.
    pub(crate) fn record(mut self, outcome: Outcome, config: &BreakerConfig, now: Instant) -> bool {
        self.recorded = true;
        self.health.record(outcome, self.probe, config, now)
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        if !self.recorded && self.probe {
            self.health.breaker().probing = false;
        }
    }
}

/// Holds one of a plugin's concurrent-call slots.
pub(crate) struct Running<'a>(&'a AtomicU64);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Health {
    /// Whether another call could take a slot now, with `max` slots.
    pub(crate) fn has_spare_slot(&self, max: usize) -> bool {
        self.running.load(Ordering::SeqCst) < max as u64
    }

    /// Takes a call slot, or `None` when `max` calls are running.
    pub(crate) fn enter(&self, max: usize) -> Option<Running<'_>> {
        let before = self.running.fetch_add(1, Ordering::SeqCst);
        let running = Running(&self.running);
        (before < max as u64).then_some(running)
    }
}

/// The wait before running a call again after its `run`th conflict: 1 ms,
/// then 4 ms (never past the call's deadline), each spread by up to half
/// again at random, so calls that collided do not collide again in step.
pub(crate) fn conflict_backoff(run: usize) -> Duration {
    let base = Duration::from_millis(1 << (2 * run.min(3)));
    let spread = (uuid::Uuid::new_v4().as_u128() % 1000) as u32;
    base + base * spread / 2000
}

#[cfg(test)]
mod tests {
    use super::conflict_backoff;
    use super::*;

    const CONFIG: BreakerConfig = BreakerConfig { failures: 3, backoff: Duration::from_secs(30) };

    fn fail(health: &Health, now: Instant) -> bool {
        health.admit(now).expect("admitted").record(Outcome::Trap, &CONFIG, now)
    }

    #[test]
    fn the_breaker_opens_after_a_run_of_failures_and_one_call_tests_it_after_the_back_off() {
        let (health, clock) = (Health::default(), Clock::manual());
        assert!(!fail(&health, clock.now()) && !fail(&health, clock.now()));
        assert!(fail(&health, clock.now()), "the third failure in a row opens it");
        assert_eq!(health.admit(clock.now()).err(), Some(CONFIG.backoff));
        assert_eq!(health.snapshot(clock.now()).state, HealthState::Degraded);
        clock.advance(Duration::from_secs(10));
        assert_eq!(health.admit(clock.now()).err(), Some(Duration::from_secs(20)), "the wait left");

        // Back-off over: one test call at a time; its failure re-opens at once.
        clock.advance(Duration::from_secs(20));
        assert_eq!(health.snapshot(clock.now()).state, HealthState::Recovering);
        let test_call = health.admit(clock.now()).expect("the test call");
        assert_eq!(health.admit(clock.now()).err(), Some(Duration::ZERO), "others wait for it");
        assert!(test_call.record(Outcome::Timeout, &CONFIG, clock.now()), "a failed test re-opens");
        assert_eq!(health.snapshot(clock.now()).state, HealthState::Degraded);

        // A test call dropped before it ended lets the next call test instead.
        clock.advance(CONFIG.backoff);
        drop(health.admit(clock.now()).expect("the test call"));
        let next = health.admit(clock.now()).expect("the next call tests");
        assert!(!next.record(Outcome::Completed, &CONFIG, clock.now()), "a success closes it");
        let healthy = health.snapshot(clock.now());
        assert_eq!(
            (healthy.state, healthy.consecutive_failures, healthy.traps),
            (HealthState::Healthy, 0, 3)
        );
        assert_eq!((healthy.timeouts, healthy.refused), (1, 3));
    }

    #[test]
    fn a_success_resets_the_run_of_failures() {
        let (health, clock) = (Health::default(), Clock::manual());
        fail(&health, clock.now());
        fail(&health, clock.now());
        health.admit(clock.now()).expect("admitted").record(Outcome::Completed, &CONFIG, clock.now());
        assert!(!fail(&health, clock.now()) && !fail(&health, clock.now()), "two failures after a success");
        assert!(health.admit(clock.now()).is_ok());
    }

    #[test]
    fn conflicts_back_off_a_little_and_not_in_step() {
        let waits: Vec<Duration> = (0..50).map(|_| conflict_backoff(0)).collect();
        assert!(waits.iter().all(|w| (Duration::from_millis(1)..=Duration::from_micros(1500)).contains(w)));
        assert!(waits.iter().any(|w| *w != waits[0]), "spread at random: {waits:?}");
        let second = conflict_backoff(1);
        assert!((Duration::from_millis(4)..=Duration::from_millis(6)).contains(&second), "{second:?}");
        assert!(conflict_backoff(usize::MAX) <= Duration::from_millis(96), "bounded");
    }
}
