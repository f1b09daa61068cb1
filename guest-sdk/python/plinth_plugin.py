"""plinth_plugin: Plinth plugins in Python, in the shape of the migration guide.

A plugin written for the old Python system keeps its handlers: event handlers
registered with ``@on("entity_created")``, routes with a router
(``@router.get("/stats/{entity_type}")``), and the host reached through
``host.entity_list(...)``, ``host.storage_set(...)`` and the guide's other
names. The module turns them into the component's exports (``Events`` and
``Routes``, which the plugin's module re-exports for componentize-py):

    from plinth_plugin import Events, Routes, host, on, router

    @on("entity_created")
    def on_entity_created(event):
        characters = host.entity_list("entity_type=character")
        host.storage_set(f"analysis/{event.entity_id}", {"related_count": len(characters)})

    @router.get("/stats/{entity_type}")
    def get_stats(entity_type: str):
        return {"entity_type": entity_type, "count": len(host.entity_list(f"entity_type={entity_type}"))}

Handlers may be ``async def`` (host calls never wait, so they run to the end at
once). A route handler takes its path parameters by name, and ``request`` for
the whole request; it returns a dict or list (JSON, 200), a ``(status, body)``
pair, or a ``Response``; it raises ``HTTPException(status, detail)`` for an
error status. Any other exception fails the call with the plugin's internal
error, and its traceback goes to the plugin's log.

Pure Python, no dependencies: ``plinth new --lang python`` and ``plinth
migrate`` copy it into the project. It needs the bindings componentize-py makes
from Plinth's WIT (world ``hooks-and-routes`` or ``plugin``).
"""

import inspect
import json
import sys
import traceback
import urllib.parse

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import entities as _entities
from wit_world.imports import logging as _logging
from wit_world.imports import settings as _settings
from wit_world.imports import storage as _storage
from wit_world.imports import types as _types

# A world may export events, routes or both: only what it exports is wired.
try:
    from wit_world.exports import routes as _routes
except ImportError:
    _routes = None

__all__ = [
    "APIRouter",
    "EntityEvent",
    "EventBus",
    "Events",
    "HTTPException",
    "Model",
    "Request",
    "Response",
    "Routes",
    "event_bus",
    "host",
    "on",
    "router",
]


class HTTPException(Exception):
    """An error answer: ``raise HTTPException(404, "no such character")``."""

    def __init__(self, status_code, detail=""):
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


class Response:
    """A response with its own status, headers and body (bytes, str, or JSON)."""

    def __init__(self, body=b"", status_code=200, headers=None, media_type=None):
        if isinstance(body, (dict, list)):
            body, media_type = json.dumps(body, separators=(",", ":")).encode(), media_type or "application/json"
        elif isinstance(body, str):
            body, media_type = body.encode(), media_type or "text/plain; charset=utf-8"
        self.body = bytes(body)
        self.status_code = status_code
        self.headers = dict(headers or {})
        if media_type:
            self.headers.setdefault("content-type", media_type)


class Model:
    """A request body's fields as attributes: what ``plinth migrate`` puts
    where the old app had a pydantic model it did not bring along."""

    def __init__(self, **fields):
        self.__dict__.update(fields)


class EntityEvent:
    """What an event handler gets, as in the old event bus: the entity's type,
    id and data (a dict; empty for a deleted entity)."""

    def __init__(self, event, entity_type, entity_id, data, entity=None):
        self.event = event
        self.entity_type = entity_type
        self.entity_id = entity_id
        self.data = data
        self.entity = entity


class Entity:
    """An entity as ``host.entity_read`` and ``host.entity_list`` return it."""

    def __init__(self, wit_entity):
        self.id = wit_entity.id
        self.entity_type = wit_entity.entity_type
        self.data = _json_or_text(wit_entity.data)
        self.created_at = wit_entity.created_at
        self.updated_at = wit_entity.updated_at

    def __getitem__(self, key):
        return getattr(self, key)

    def __repr__(self):
        return f"Entity(id={self.id!r}, entity_type={self.entity_type!r})"


def _json_or_text(text):
    try:
        return json.loads(text)
    except ValueError:
        return text


def _run(result):
    """The value of a handler's result, driving an ``async def`` to its end."""
    if inspect.iscoroutine(result):
        try:
            result.send(None)
        except StopIteration as done:
            return done.value
        result.close()
        raise RuntimeError("an async handler awaited something that never finishes; host calls need no await")
    return result


def _guest_error(error):
    """The plugin's typed error for an exception (the WIT `error` variant)."""
    if isinstance(error, Err):
        return error
    if isinstance(error, HTTPException):
        detail = error.detail if isinstance(error.detail, str) else json.dumps(error.detail)
        kind = {
            400: _types.Error_InvalidInput,
            401: _types.Error_Denied,
            403: _types.Error_Denied,
            404: _types.Error_NotFound,
            422: _types.Error_InvalidInput,
            507: _types.Error_QuotaExceeded,
        }.get(error.status_code, _types.Error_Internal)
        return Err(kind(detail))
    # The traceback goes to stderr, which the host keeps in the plugin's log.
    traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)
    return Err(_types.Error_Internal(f"{type(error).__name__}: {error}"))


# --- events --------------------------------------------------------------

_handlers = {"entity_created": [], "entity_updated": [], "entity_deleted": []}


def on(event):
    """Registers a handler of ``entity_created``, ``entity_updated`` or ``entity_deleted``."""
    if event not in _handlers:
        raise ValueError(f"unknown event {event!r}; use one of {sorted(_handlers)}")

    def register(handler):
        _handlers[event].append(handler)
        return handler

    return register


class EventBus:
    """The old event bus's shape: ``event_bus.on("entity_created")`` is ``on(...)``,
    so a ``register(event_bus)`` function keeps working unchanged."""

    def on(self, event):
        return on(event)


event_bus = EventBus()


def _fire(event, entity_event):
    for handler in _handlers[event]:
        try:
            _run(handler(entity_event))
        except Exception as error:  # noqa: BLE001 - every failure becomes the typed error
            raise _guest_error(error) from None


class Events(getattr(exports, "Events", object)):
    """The component's `events` export: calls the ``@on`` handlers."""

    def on_entity_created(self, entity):
        _fire("entity_created", EntityEvent("entity_created", entity.entity_type, entity.id, _json_or_text(entity.data), Entity(entity)))

    def on_entity_updated(self, entity):
        _fire("entity_updated", EntityEvent("entity_updated", entity.entity_type, entity.id, _json_or_text(entity.data), Entity(entity)))

    def on_entity_deleted(self, entity_type, entity_id):
        _fire("entity_deleted", EntityEvent("entity_deleted", entity_type, entity_id, {}))


# --- routes --------------------------------------------------------------

class Request:
    """A route's request: ``path_params``, ``query_params``, ``headers``, the
    raw ``body`` and ``json()``."""

    def __init__(self, wit_request):
        self.method = wit_request.method.name
        self.path = wit_request.path
        self.path_params = dict(wit_request.params)
        self.query_params = dict(wit_request.query)
        self.headers = {name.lower(): value for name, value in wit_request.headers}
        self.body = bytes(wit_request.body)

    def json(self):
        try:
            return json.loads(self.body or b"null")
        except ValueError as error:
            raise HTTPException(400, f"the body is not JSON: {error}") from None


class APIRouter:
    """Routes by method and path, as FastAPI's router declares them. A
    ``prefix`` such as ``/api/plugins/my-plugin`` is accepted and dropped:
    Plinth mounts every route under ``/api/plugins/{plugin-id}`` itself."""

    def __init__(self, prefix=""):
        self.prefix = prefix
        self.routes = []
        # Every router serves: a module's own `router = APIRouter(...)` needs no wiring.
        _routers.append(self)

    def _add(self, method, path):
        def register(handler):
            name = f"{method.lower()}:{path}:{len(_all_routes())}"
            self.routes.append((method, path, name, handler))
            return handler

        return register

    def get(self, path):
        return self._add("GET", path)

    def post(self, path):
        return self._add("POST", path)

    def put(self, path):
        return self._add("PUT", path)

    def patch(self, path):
        return self._add("PATCH", path)

    def delete(self, path):
        return self._add("DELETE", path)

    def include_router(self, other):
        """Kept for old code: every router serves already."""


_routers = []
router = APIRouter()


def _all_routes():
    return [route for each in _routers for route in each.routes]


def _arguments(handler, request):
    """The handler's arguments: path parameters by name (converted to an
    ``int`` or ``float`` annotation), a parameter annotated with a class (a
    dataclass, say: built from the JSON body's fields, as FastAPI builds a
    model) or named ``body`` (the JSON body), ``request`` (the request), and
    query parameters by name."""
    arguments = {}
    for name, parameter in inspect.signature(handler).parameters.items():
        annotation = parameter.annotation
        if name in request.path_params:
            value = request.path_params[name]
            if annotation in (int, float):
                try:
                    value = annotation(value)
                except ValueError:
                    raise HTTPException(422, f"{name} must be a {annotation.__name__}") from None
            arguments[name] = value
        elif inspect.isclass(annotation) and annotation not in (str, int, float, bool, dict, list, Request):
            body = request.json()
            if not isinstance(body, dict):
                raise HTTPException(422, f"the body must be a JSON object with the fields of {annotation.__name__}")
            try:
                arguments[name] = annotation(**body)
            except TypeError as error:
                raise HTTPException(422, f"the body does not fit {annotation.__name__}: {error}") from None
        elif name == "body":
            arguments[name] = request.json()
        elif name == "request":
            arguments[name] = request
        elif name in request.query_params:
            arguments[name] = request.query_params[name]
    return arguments


def _response(result):
    if isinstance(result, Response):
        return result
    if isinstance(result, tuple) and len(result) == 2:
        status, body = result
        response = Response(body)
        response.status_code = status
        return response
    if result is None:
        return Response(b"", 204)
    return Response(result if isinstance(result, (dict, list, str, bytes)) else json.loads(json.dumps(result)))


class Routes(getattr(exports, "Routes", object)):
    """The component's `routes` export: the router's routes."""

    def register_routes(self):
        return [
            _routes.Route(method=getattr(_routes.Method, method), path=path, handler=name)
            for method, path, name, _ in _all_routes()
        ]

    def handle(self, request):
        for _, _, name, handler in _all_routes():
            if name == request.handler:
                try:
                    wrapped = Request(request)
                    response = _response(_run(handler(**_arguments(handler, wrapped))))
                except Exception as error:  # noqa: BLE001 - every failure becomes the typed error
                    raise _guest_error(error) from None
                return _routes.Response(
                    status=response.status_code, headers=list(response.headers.items()), body=response.body
                )
        raise Err(_types.Error_NotFound(f"no handler {request.handler}"))


# --- the host, with the guide's names -----------------------------------

def _query(text):
    """``entity_type=character&name=Ada&limit=10&offset=5`` as an entity query."""
    pairs = urllib.parse.parse_qsl(text or "", keep_blank_values=True)
    entity_type, limit, offset, filters = None, None, 0, []
    for key, value in pairs:
        if key == "entity_type":
            entity_type = value
        elif key == "limit":
            limit = int(value)
        elif key == "offset":
            offset = int(value)
        else:
            filters.append(_entities.FieldFilter(field=key, value=value))
    return _entities.EntityQuery(entity_type=entity_type, filters=filters, limit=limit, offset=offset)


def _bytes(value):
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode()
    return json.dumps(value, separators=(",", ":")).encode()


_LEVELS = {
    "trace": _logging.Level.TRACE,
    "debug": _logging.Level.DEBUG,
    "info": _logging.Level.INFO,
    "warn": _logging.Level.WARN,
    "warning": _logging.Level.WARN,
    "error": _logging.Level.ERROR,
}


class _Host:
    """The host functions under the guide's names. Failures raise
    ``componentize_py_types.Err`` with the host's typed error (``Error_Denied``
    when plugin.json lacks the grant)."""

    def entity_read(self, entity_id):
        return Entity(_entities.read(entity_id))

    def entity_list(self, query=""):
        return [Entity(entity) for entity in _entities.find(_query(query))]

    def entity_count(self, query=""):
        return _entities.count(_query(query))

    def storage_get(self, key):
        """The stored value: parsed JSON when it is JSON, else text; None when absent."""
        value = _storage.get(key)
        return None if value is None else _json_or_text(bytes(value).decode("utf-8", "replace"))

    def storage_set(self, key, value):
        """Stores ``value``: bytes and text as they are, anything else as JSON."""
        _storage.set(key, _bytes(value))

    def storage_delete(self, key):
        return _storage.delete(key)

    def storage_list(self, prefix=""):
        return _storage.list_keys(prefix)

    def storage_increment(self, key, delta=1):
        return _storage.increment(key, delta)

    def setting_get(self, name, default=None):
        """The setting's value (the manifest's default when unset), or ``default``."""
        value = _settings.get(name)
        return default if value is None else _json_or_text(value)

    def settings(self):
        """Every setting that has a value or a default, as a dict."""
        return {name: _json_or_text(value) for name, value in _settings.get_all()}

    def log(self, message, level="info"):
        _logging.log(_LEVELS.get(level, _logging.Level.INFO), str(message))


host = _Host()
