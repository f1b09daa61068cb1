//! What a call into a plugin is for. The phase picks the call's time limit,
//! names it in errors and logs, says whether a switched-off plugin still
//! runs it, and, for a hook, carries the outbox delivery its commit settles.

use crate::Method;
use crate::limits::Limits;
use crate::store::DeliveryMark;
use crate::types::EntityEvent;
use std::time::Duration;

/// One call's purpose (see the module doc).
#[derive(Debug, Clone)]
pub(crate) enum Phase {
    /// Loading: the plugin's exports are checked and it lists its routes and widgets.
    Init,
    /// An entity hook. Its storage commit marks `delivery` done in the same
    /// transaction, so its writes take effect once however often it runs.
    Hook { event: EntityEvent, delivery: DeliveryMark },
    /// One of its HTTP routes.
    Route { method: Method, path: String },
    /// A field widget's `render`.
    Render { widget: String },
    /// A field widget's `validate`.
    Validate { widget: String },
}

impl Phase {
    /// The time the call may take, from the plugin's limits.
    pub(crate) fn timeout(&self, limits: &Limits) -> Duration {
        match self {
            Phase::Init => limits.init_timeout,
            Phase::Hook { .. } => limits.hook_timeout,
            Phase::Route { .. } => limits.route_timeout,
            Phase::Render { .. } | Phase::Validate { .. } => limits.widget_timeout,
        }
    }

    /// How errors and logs name it: `init`, `on-entity-created`,
    /// `route GET /stats`, `widget render word-count`.
    pub(crate) fn label(&self) -> String {
        match self {
            Phase::Init => "init".to_string(),
            Phase::Hook { event, .. } => event.hook_name().to_string(),
            Phase::Route { method, path } => format!("route {} {path}", method.as_str()),
            Phase::Render { widget } => format!("widget render {widget}"),
            Phase::Validate { widget } => format!("widget validate {widget}"),
        }
    }

    /// The delivery a hook's commit settles.
    pub(crate) fn delivery(&self) -> Option<&DeliveryMark> {
        match self {
            Phase::Hook { delivery, .. } => Some(delivery),
            _ => None,
        }
    }

    /// Whether it runs while an operator has the plugin switched off: only
    /// loading does, so the plugin is ready the moment it is switched on.
    pub(crate) fn runs_when_switched_off(&self) -> bool {
        matches!(self, Phase::Init)
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
        let delivery = DeliveryMark { id: 7, node: "node-a".into() };
        let phases = [
            (Phase::Init, 1, "init"),
            (Phase::Hook { event: EntityEvent::Updated, delivery: delivery.clone() }, 2, "on-entity-updated"),
            (Phase::Route { method: Method::Get, path: "/stats".into() }, 3, "route GET /stats"),
            (Phase::Render { widget: "w".into() }, 4, "widget render w"),
            (Phase::Validate { widget: "w".into() }, 4, "widget validate w"),
        ];
        for (phase, millis, label) in phases {
            assert_eq!(phase.timeout(&limits), Duration::from_millis(millis), "{label}");
            assert_eq!(phase.label(), label);
            assert_eq!(phase.runs_when_switched_off(), label == "init");
            let settles = phase.delivery().cloned();
            assert_eq!(settles, (label == "on-entity-updated").then(|| delivery.clone()), "{label}");
        }
    }
}
