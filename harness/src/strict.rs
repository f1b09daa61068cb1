//! What plugins called, and strict mode: the host tells [`Recorder`] of
//! every host function a plugin calls (through
//! [`HostCallObserver`](plinth_host::HostCallObserver), before the grant
//! check), and in strict mode each call the test did not expect becomes a
//! [`Violation`], reported by the next harness method or when the
//! [`TestHost`](crate::TestHost) is dropped.

use plinth_host::manifest::HostFunction;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Mutex, MutexGuard};

/// A host call that strict mode did not expect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The plugin that made the call.
    pub plugin: String,
    /// The host function it called.
    pub function: HostFunction,
    /// How many times it called it, unexpected, before the violation was reported.
    pub times: usize,
    /// What the test expected of this plugin when the first such call was made.
    pub expected: Vec<HostFunction>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "strict mode: plugin `{}` called {}", self.plugin, self.function)?;
        if self.times > 1 {
            write!(f, " ({} times)", self.times)?;
        }
        let expected: Vec<&str> = self.expected.iter().map(|function| function.name()).collect();
        let expected = if expected.is_empty() { "none".to_string() } else { expected.join(", ") };
        write!(f, ", which the test did not expect (expected: {expected})")
    }
}

/// The text of a panic reporting `violations`, one line each.
pub(crate) fn describe(violations: &[Violation]) -> String {
    let lines: Vec<String> = violations.iter().map(Violation::to_string).collect();
    lines.join("\n")
}

/// Every host call of every plugin, in order, and the strict-mode bookkeeping.
/// Shared between the [`TestHost`](crate::TestHost) and the host's observer.
#[derive(Default)]
pub(crate) struct Recorder {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    strict: bool,
    expected: BTreeMap<String, BTreeSet<HostFunction>>,
    calls: BTreeMap<String, Vec<HostFunction>>,
    /// Not yet reported; one entry per (plugin, function).
    violations: Vec<Violation>,
}

impl Recorder {
    /// A recorder, strict or not, with these expectations declared.
    pub(crate) fn new(strict: bool, expected: &[(String, Vec<HostFunction>)]) -> Recorder {
        let recorder = Recorder::default();
        recorder.lock().strict = strict;
        for (plugin, functions) in expected {
            recorder.expect(plugin, functions);
        }
        recorder
    }

    /// A poisoned lock only means a test thread panicked while holding it;
    /// the record itself is still whole (every update is a single push).
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The host's observer: called for every host function a plugin calls,
    /// before its grant is checked. Judged against the expectations in force
    /// at the time of the call, so expectations declared later do not
    /// excuse it.
    pub(crate) fn observe(&self, plugin: &str, function: HostFunction) {
        let mut guard = self.lock();
        let state = &mut *guard;
        state.calls.entry(plugin.to_string()).or_default().push(function);
        let expected = state.expected.get(plugin);
        if !state.strict || expected.is_some_and(|set| set.contains(&function)) {
            return;
        }
        if let Some(seen) = state.violations.iter_mut().find(|v| v.plugin == plugin && v.function == function)
        {
            seen.times += 1;
            return;
        }
        let expected = expected.map(|set| set.iter().copied().collect()).unwrap_or_default();
        state.violations.push(Violation { plugin: plugin.to_string(), function, times: 1, expected });
    }

    /// Adds to what `plugin` may call, and turns strict mode on.
    pub(crate) fn expect(&self, plugin: &str, functions: &[HostFunction]) {
        let mut state = self.lock();
        state.strict = true;
        state.expected.entry(plugin.to_string()).or_default().extend(functions.iter().copied());
    }

    /// Whether strict mode is on.
    pub(crate) fn is_strict(&self) -> bool {
        self.lock().strict
    }

    /// What `plugin` called so far, in order.
    pub(crate) fn calls(&self, plugin: &str) -> Vec<HostFunction> {
        self.lock().calls.get(plugin).cloned().unwrap_or_default()
    }

    /// Forgets the calls recorded so far (not the violations).
    pub(crate) fn clear_calls(&self) {
        self.lock().calls.clear();
    }

    /// The violations not yet reported; they count as reported afterwards.
    pub(crate) fn take_violations(&self) -> Vec<Violation> {
        std::mem::take(&mut self.lock().violations)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unexpected_calls_in_strict_mode_are_violations() {
        let relaxed = Recorder::new(false, &[]);
        relaxed.observe("p", HostFunction::StorageSet);
        assert_eq!(relaxed.calls("p"), [HostFunction::StorageSet]);
        assert!(relaxed.take_violations().is_empty());

        let strict = Recorder::new(true, &[("p".to_string(), vec![HostFunction::StorageGet])]);
        strict.observe("p", HostFunction::StorageGet);
        strict.observe("p", HostFunction::StorageSet);
        strict.observe("p", HostFunction::StorageSet);
        strict.observe("q", HostFunction::Log);
        assert_eq!(
            describe(&strict.take_violations()),
            "strict mode: plugin `p` called storage_set (2 times), which the test did not expect (expected: storage_get)\n\
             strict mode: plugin `q` called log, which the test did not expect (expected: none)"
        );
        assert!(strict.take_violations().is_empty(), "reported once");
        assert_eq!(
            strict.calls("p"),
            [HostFunction::StorageGet, HostFunction::StorageSet, HostFunction::StorageSet]
        );
    }

    #[test]
    fn declaring_an_expectation_turns_strict_mode_on_from_then() {
        let recorder = Recorder::new(false, &[]);
        recorder.observe("p", HostFunction::Log);
        recorder.expect("p", &[HostFunction::StorageGet]);
        assert!(recorder.is_strict());
        recorder.observe("p", HostFunction::Log);
        let violations = recorder.take_violations();
        assert_eq!(violations.len(), 1);
        assert_eq!((violations[0].function, violations[0].times), (HostFunction::Log, 1));
    }
}
