"""Pipeline state changes, one module per concern, re-exported here:

- `deals`: creating deals, moving them between stages (`move_opportunity`, the only way a deal
  changes stage) and editing them;
- `configuration`: pipelines, stages and lost reasons, with the pipeline shape rule;
- `contact_roles`: a deal's buying committee (contacts with roles, one primary).

Stale deals (flag, escalate, auto-close, reopen) live in `pipeline.stale`.
"""

from __future__ import annotations

from pipeline.services.configuration import (
    STAGE_FIELDS,
    add_stage,
    archive_pipeline,
    archive_stage,
    check_pipeline_shape,
    create_pipeline,
    delete_stage,
    reorder_stages,
    save_lost_reason,
    update_pipeline,
    update_stage,
)
from pipeline.services.contact_roles import (
    add_contact_role,
    remove_contact_role,
    update_contact_role,
)
from pipeline.services.deals import (
    EDITABLE_FIELDS,
    MIN_POSITION_GAP,
    POSITION_STEP,
    MoveResult,
    StaleOpportunity,
    category_for,
    create_opportunity,
    move_opportunity,
    position_between,
    record_stage_events,
    stage_change_for,
    stage_updates,
    top_position,
    update_opportunity,
    wip_warning,
)

__all__ = [
    "EDITABLE_FIELDS",
    "MIN_POSITION_GAP",
    "POSITION_STEP",
    "STAGE_FIELDS",
    "MoveResult",
    "StaleOpportunity",
    "add_contact_role",
    "add_stage",
    "archive_pipeline",
    "archive_stage",
    "category_for",
    "check_pipeline_shape",
    "create_opportunity",
    "create_pipeline",
    "delete_stage",
    "move_opportunity",
    "position_between",
    "record_stage_events",
    "remove_contact_role",
    "reorder_stages",
    "save_lost_reason",
    "stage_change_for",
    "stage_updates",
    "top_position",
    "update_contact_role",
    "update_opportunity",
    "update_pipeline",
    "update_stage",
    "wip_warning",
]
