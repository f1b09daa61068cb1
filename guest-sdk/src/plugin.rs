//! The [`Plugin`] trait and the glue that exports it through the generated
//! bindings.

use crate::bindings::entity_plugin::exports::plinth::plugin::events;
use crate::bindings::route_plugin::exports::plinth::plugin::routes;
use crate::bindings::widget_plugin::exports::plinth::plugin::field_widget;
use crate::{Entity, Error, FieldContext, Result, Router, Widget};
use std::marker::PhantomData;

/// A plugin. Implement the methods for the roles you export with
/// [`export!`](crate::export); the others keep their defaults.
///
/// Each call runs in a fresh instance, so keep state in
/// [`host::storage_set`](crate::host::storage_set), not in statics.
pub trait Plugin: 'static {
    /// An entity was created (role `events`).
    fn on_entity_created(_entity: Entity) -> Result<()> {
        Ok(())
    }

    /// An entity was updated (role `events`).
    fn on_entity_updated(_entity: Entity) -> Result<()> {
        Ok(())
    }

    /// An entity was deleted (role `events`).
    fn on_entity_deleted(_entity_type: String, _entity_id: String) -> Result<()> {
        Ok(())
    }

    /// The plugin's routes (role `routes`).
    fn router() -> Router {
        Router::new()
    }

    /// The plugin's field widgets (role `widgets`).
    fn widgets() -> Vec<Widget> {
        Vec::new()
    }

    /// HTML for widget `widget_id` (role `widgets`).
    fn render_widget(widget_id: &str, _context: FieldContext) -> Result<String> {
        Err(unknown_widget(widget_id))
    }

    /// The problems with `value` (JSON text) for widget `widget_id`; empty
    /// when valid (role `widgets`).
    fn validate_widget(widget_id: &str, _value: &str) -> Result<Vec<String>> {
        Err(unknown_widget(widget_id))
    }

    /// Runs the job `plugin.json` declares as `job_id` (role `jobs`: the
    /// plinth:plugin 0.3.0). The host calls it once per due run, on
    /// one node of all that share the database.
    fn run_job(job_id: &str) -> Result<()> {
        Err(Error::NotFound(format!("this plugin has no job `{job_id}`")))
    }

    /// A message on a topic `plugin.json` subscribes to
    /// (`capabilities.subscribes`; role `subscriber`, since plinth:plugin
    /// 0.3.0). Its storage writes take effect once per message.
    fn on_message(_message: crate::Message) -> Result<()> {
        Ok(())
    }
}

fn unknown_widget(widget_id: &str) -> Error {
    Error::NotFound(format!("this plugin has no widget `{widget_id}`"))
}

/// Adapts a [`Plugin`] to the generated export traits.
#[doc(hidden)]
pub struct Exports<P>(PhantomData<P>);

impl<P: Plugin> events::Guest for Exports<P> {
    fn on_entity_created(entity: Entity) -> Result<()> {
        P::on_entity_created(entity)
    }

    fn on_entity_updated(entity: Entity) -> Result<()> {
        P::on_entity_updated(entity)
    }

    fn on_entity_deleted(entity_type: String, entity_id: String) -> Result<()> {
        P::on_entity_deleted(entity_type, entity_id)
    }
}

impl<P: Plugin> crate::bindings::job_plugin::exports::plinth::plugin::jobs::Guest for Exports<P> {
    fn run_job(job: String) -> Result<()> {
        P::run_job(&job)
    }
}

impl<P: Plugin> crate::bindings::message_plugin::exports::plinth::plugin::subscriber::Guest for Exports<P> {
    fn on_message(message: crate::Message) -> Result<()> {
        P::on_message(message)
    }
}

impl<P: Plugin> routes::Guest for Exports<P> {
    fn register_routes() -> Vec<routes::Route> {
        P::router().declared()
    }

    fn handle(request: routes::Request) -> Result<routes::Response> {
        P::router().dispatch(request)
    }
}

impl<P: Plugin> field_widget::Guest for Exports<P> {
    fn list_widgets() -> Vec<Widget> {
        P::widgets()
    }

    fn render(widget_id: String, context: FieldContext) -> Result<String> {
        P::render_widget(&widget_id, context)
    }

    fn validate(widget_id: String, value: String) -> Result<Vec<String>> {
        P::validate_widget(&widget_id, &value)
    }
}
