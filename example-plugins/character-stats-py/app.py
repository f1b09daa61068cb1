"""character-stats in Python: the migration guide's plugin, now sandboxed.

Built with componentize-py against Plinth's wit/ (world `hooks-and-routes`):
on every new entity it counts the `character` entities and stores
`analysis/{entity_id}` = {"related_count": N}; it serves
GET /stats/{entity_type} and POST /analyze, like its Rust twin.
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import routes
from wit_world.imports import entities, logging, settings, storage, types


def count(entity_type):
    query = entities.EntityQuery(entity_type=entity_type, filters=[], limit=None, offset=0)
    return entities.count(query)


def analyze(entity_id):
    related = json.dumps({"related_count": count("character")}, separators=(",", ":"))
    storage.set(f"analysis/{entity_id}", related.encode())


def analysis_depth():
    value = settings.get("analysis_depth")
    return json.loads(value) if value is not None else 3


def respond(status, value):
    body = json.dumps(value, separators=(",", ":"), sort_keys=True).encode()
    return routes.Response(status=status, headers=[("content-type", "application/json")], body=body)


class Events(exports.Events):
    def on_entity_created(self, entity):
        analyze(entity.id)

    def on_entity_updated(self, entity):
        pass

    def on_entity_deleted(self, entity_type, entity_id):
        pass


class Routes(exports.Routes):
    def register_routes(self):
        return [
            routes.Route(method=routes.Method.GET, path="/stats/{entity_type}", handler="stats"),
            routes.Route(method=routes.Method.POST, path="/analyze", handler="analyze"),
        ]

    def handle(self, request):
        if request.handler == "stats":
            entity_type = dict(request.params).get("entity_type", "")
            return respond(200, {"entity_type": entity_type, "count": count(entity_type), "analysis_depth": analysis_depth()})
        if request.handler == "analyze":
            try:
                entity_type = json.loads(bytes(request.body))["entity_type"]
            except (ValueError, KeyError, TypeError) as error:
                raise Err(types.Error_InvalidInput(f"the body must be {{\"entity_type\": ...}}: {error}"))
            found = entities.find(entities.EntityQuery(entity_type=entity_type, filters=[], limit=None, offset=0))
            for entity in found:
                analyze(entity.id)
            logging.log(logging.Level.INFO, f"analyzed {len(found)} {entity_type}")
            return respond(200, {"analyzed": len(found)})
        raise Err(types.Error_NotFound(f"no handler {request.handler}"))
