"""The character-stats plugin as the Python plugin system ran it, in-process:
an event handler and a route handler working on the database directly."""

import json


def on_entity_created(db, storage, entity_id):
    (count,) = db.execute("SELECT COUNT(*) FROM entities WHERE entity_type = 'character'").fetchone()
    storage[f"analysis/{entity_id}"] = json.dumps({"related_count": count})


def get_stats(db, settings, entity_type):
    (count,) = db.execute("SELECT COUNT(*) FROM entities WHERE entity_type = ?", (entity_type,)).fetchone()
    return {"entity_type": entity_type, "count": count, "analysis_depth": settings.get("analysis_depth", 3)}
