"""Scoring state changes, in three modules re-exported here:

- `rules`: the scoring model — rules, their versions, the MQL threshold and the decay;
- `scores`: scoring leads set-based, their history, and the threshold crossings a pass reports;
- `jobs`: the rescore job a rule change queues, and the nightly decay.

Engagement events come in through `scoring.events`; what scoring hands to the lead lifecycle
(crossings, unknown leads) goes through `scoring.handoff`.
"""

from __future__ import annotations

from scoring.services.jobs import decay_engagement, queue_rescore, run_rescore_job
from scoring.services.rules import (
    EVENT_TYPE_RE,
    clean_rule,
    create_rule,
    delete_rule,
    install_rules,
    update_rule,
    update_settings,
    write_version,
)
from scoring.services.scores import (
    BATCH_SIZE,
    SCORE_COLUMNS,
    NewLeadScoring,
    RuleSet,
    ScoringPass,
    ThresholdCrossing,
    compute_scores,
    current_rule_set,
    event_counts,
    score_leads,
    score_queryset,
    threshold_crossings,
)

__all__ = [
    "BATCH_SIZE",
    "EVENT_TYPE_RE",
    "SCORE_COLUMNS",
    "NewLeadScoring",
    "RuleSet",
    "ScoringPass",
    "ThresholdCrossing",
    "clean_rule",
    "compute_scores",
    "create_rule",
    "current_rule_set",
    "decay_engagement",
    "delete_rule",
    "event_counts",
    "install_rules",
    "queue_rescore",
    "run_rescore_job",
    "score_leads",
    "score_queryset",
    "threshold_crossings",
    "update_rule",
    "update_settings",
    "write_version",
]
