//! What a call into a plugin is for. The phase picks the call's time limit,
//! names it in errors and logs, says whether a switched-off plugin still
//! runs it, and, for a hook, carries the outbox delivery its commit settles.

use crate::Method;
use crate::limits::Limits;
use crate::store::{JobOutcome, WriteChain};
use crate::types::{HookEvent, HookOutcome};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The outbox delivery a hook call is. Its commit settles the delivery and
/// records its outcome in one transaction; `settled` then holds that
/// outcome for the caller (empty when the call did not commit).
#[derive(Debug, Clone)]
pub(crate) struct HookDelivery {
    pub id: u64,
    /// The entity the event is about (a message's topic), for the outcome.
    pub entity_id: String,
    pub settled: Arc<OnceLock<HookOutcome>>,
    /// The plugin writes that led to the event, which the hook's own writes continue.
    pub chain: WriteChain,
}

impl HookDelivery {
    pub(crate) fn new(id: u64, entity_id: &str, chain: WriteChain) -> HookDelivery {
        HookDelivery { id, entity_id: entity_id.to_string(), settled: Arc::default(), chain }
    }
}

/// A job's run. A scheduled one (`claim`) is settled by its commit (the
/// next due time and the outcome, in one transaction); `settled` then holds
/// that outcome (empty when the call did not commit). One run on demand
/// (`Host::run_job`) has no claim and settles nothing.
#[derive(Debug, Clone)]
pub(crate) struct JobRun {
    pub job_id: String,
    pub claim: Option<JobClaim>,
    /// When the run started, in milliseconds since the epoch.
    pub started_at: u64,
    pub settled: Arc<OnceLock<JobOutcome>>,
}

/// The scheduled run a node claimed.
#[derive(Debug, Clone)]
pub(crate) struct JobClaim {
    /// The due time it was claimed at, and the node holding it.
    pub due: u64,
    pub node: String,
    /// When the job is due next (`None`: never).
    pub next_due: Option<u64>,
}

/// One call's purpose (see the module doc).
#[derive(Debug, Clone)]
pub(crate) enum Phase {
    /// Loading: the plugin's exports are checked and it lists its routes and widgets.
    Init,
    /// An entity hook, or a message's `on-message`. Its storage commit
    /// settles `delivery` in the same transaction, so its writes take
    /// effect once however often it runs.
    Hook { event: HookEvent, delivery: HookDelivery },
    /// One of its HTTP routes.
    Route { method: Method, path: String },
    /// A field widget's `render`.
    Render { widget: String },
    /// A field widget's `validate`.
    Validate { widget: String },
    /// A scheduled job's run. Its storage commit settles `run`, so its
    /// writes take effect once however many nodes try it.
    Job { run: JobRun },
}

impl Phase {
    /// The time the call may take, from the plugin's limits.
    pub(crate) fn timeout(&self, limits: &Limits) -> Duration {
        match self {
            Phase::Init => limits.init_timeout,
            Phase::Hook { .. } => limits.hook_timeout,
            Phase::Route { .. } | Phase::Job { .. } => limits.route_timeout,
            Phase::Render { .. } | Phase::Validate { .. } => limits.widget_timeout,
        }
    }

    /// How errors and logs name it: `init`, `on-entity-created`,
    /// `route GET /stats`, `widget render word-count`.
    pub(crate) fn label(&self) -> String {
        match self {
            Phase::Init => "init".to_string(),
            Phase::Hook { event: HookEvent::Message, delivery } => {
                format!("on-message {}", delivery.entity_id)
            }
            Phase::Hook { event, .. } => event.hook_name().to_string(),
            Phase::Route { method, path } => format!("route {} {path}", method.as_str()),
            Phase::Render { widget } => format!("widget render {widget}"),
            Phase::Validate { widget } => format!("widget validate {widget}"),
            Phase::Job { run } => format!("job {}", run.job_id),
        }
    }

    /// Whether the call may write entities, and the chain its writes
    /// continue: a route or a job starts one, a hook continues its event's;
    /// loading and widgets write none (a widget's check runs inside others'
    /// writes).
    pub(crate) fn write_chain(&self) -> Option<WriteChain> {
        match self {
            Phase::Route { .. } | Phase::Job { .. } => Some(WriteChain::default()),
            Phase::Hook { delivery, .. } => Some(delivery.chain.clone()),
            _ => None,
        }
    }

    /// The delivery a hook's commit settles, with its event.
    pub(crate) fn delivery(&self) -> Option<(HookEvent, &HookDelivery)> {
        match self {
            Phase::Hook { event, delivery } => Some((*event, delivery)),
            _ => None,
        }
    }

    /// The job run a job's commit settles.
    pub(crate) fn job_run(&self) -> Option<&JobRun> {
        match self {
            Phase::Job { run } => Some(run),
            _ => None,
        }
    }

    /// Whether it runs while an operator has the plugin switched off: only
    /// loading does, so the plugin is ready the moment it is switched on.
    pub(crate) fn runs_when_switched_off(&self) -> bool {
        matches!(self, Phase::Init)
    }

    /// Whether it takes the plugin's serial lock (`PluginContext::serial`).
    /// A widget's call never does: it runs inside the field checks of
    /// entity writes, possibly its own plugin's call re-run after a
    /// conflict, which holds that lock alone.
    pub(crate) fn takes_serial_lock(&self) -> bool {
        !matches!(self, Phase::Render { .. } | Phase::Validate { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_phase_has_its_own_time_limit_and_label() {
        let limits = Limits {
            init_timeout: Duration::from_millis(1),
            hook_timeout: Duration::from_millis(2),
            route_timeout: Duration::from_millis(3),
            widget_timeout: Duration::from_millis(4),
            ..Limits::default()
        };
        let chain = WriteChain { links: Vec::new(), budget: Some(3) };
        let delivery = HookDelivery::new(7, "e1", chain.clone());
        let phases = [
            (Phase::Init, 1, "init"),
            (Phase::Hook { event: HookEvent::Updated, delivery: delivery.clone() }, 2, "on-entity-updated"),
            (Phase::Hook { event: HookEvent::Message, delivery: delivery.clone() }, 2, "on-message e1"),
            (Phase::Route { method: Method::Get, path: "/stats".into() }, 3, "route GET /stats"),
            (Phase::Render { widget: "w".into() }, 4, "widget render w"),
            (Phase::Validate { widget: "w".into() }, 4, "widget validate w"),
        ];
        for (phase, millis, label) in phases {
            assert_eq!(phase.timeout(&limits), Duration::from_millis(millis), "{label}");
            assert_eq!(phase.label(), label);
            assert_eq!(phase.runs_when_switched_off(), label == "init");
            // Routes start a chain of entity writes, hooks continue theirs,
            // and loading and widgets write none.
            let writes = match label {
                "on-entity-updated" | "on-message e1" => Some(chain.clone()),
                "route GET /stats" => Some(WriteChain::default()),
                _ => None,
            };
            assert_eq!(phase.write_chain(), writes, "{label}");
            assert_eq!(phase.takes_serial_lock(), !label.starts_with("widget"), "{label}");
            let settles = phase.delivery().map(|(event, delivery)| (event, delivery.id));
            let event = match label {
                "on-entity-updated" => Some(HookEvent::Updated),
                "on-message e1" => Some(HookEvent::Message),
                _ => None,
            };
            assert_eq!(settles, event.map(|event| (event, 7)), "{label}");
        }
    }
}
