# routes.py: the migration guide's "Before (Python)" routes, ported with the
# fewest changes (docs/migrating.md): APIRouter comes from plinth_plugin, the
# database session is gone (host.entity_count and host.entity_list replace the
# queries), and the request model is a dataclass instead of a pydantic model.
from dataclasses import dataclass

from plinth_plugin import APIRouter, host

router = APIRouter(prefix="/api/plugins/my-plugin")


@dataclass
class AnalyzeRequest:
    entity_type: str


@router.get("/stats/{entity_type}")
async def get_stats(entity_type: str):
    count = host.entity_count(f"entity_type={entity_type}")
    return {"entity_type": entity_type, "count": count}


@router.post("/analyze")
async def run_analysis(request: AnalyzeRequest):
    entities = host.entity_list(f"entity_type={request.entity_type}")
    # ... process entities
    return {"analyzed": len(entities)}
