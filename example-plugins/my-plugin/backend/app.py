# The component's module: what the old system did when it loaded the plugin
# (import the routes, register the event handlers), plus the two exports
# componentize-py looks for.
import events
import routes  # noqa: F401 - its router serves by being created

from plinth_plugin import Events, Routes, event_bus  # noqa: F401 - the component's exports

events.register(event_bus)
