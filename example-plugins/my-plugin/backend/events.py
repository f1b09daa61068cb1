# events.py: the migration guide's "Before (Python)" event handler, ported
# with the fewest changes (docs/migrating.md): the imports come from
# plinth_plugin, host.entity_list replaces get_db(), host.storage_set
# replaces PluginDataService. The handler stays async and keeps its shape.
from plinth_plugin import EventBus, EntityEvent, host


def register(event_bus: EventBus):
    @event_bus.on("entity_created")
    async def on_entity_created(event: EntityEvent):
        entity_type = event.entity_type
        entity_id = event.entity_id
        data = event.data

        # Look up related entities
        characters = host.entity_list("entity_type=character")

        # Store analysis
        host.storage_set(f"analysis/{entity_id}", {
            "related_count": len(characters)
        })
