"""Routing-rule configuration: create, edit (reorder by priority, enable/disable) and delete
assignment rules, each change audited with its old → new values like stages and scoring rules.

Routing itself (which rep gets which lead) is `leads.assignment`; it only reads rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from crm.audit import diff, record
from crm.models import User
from leads.models import AssignmentRule

# What a rule's audit entries show: its settings, criteria and target (reps as sorted ids).
AUDITED_FIELDS = (
    "name",
    "priority",
    "is_active",
    "is_fallback",
    *AssignmentRule.CRITERIA_FIELDS,
    "target_team",
    "target_reps",
    "method",
)


def _audited(rule: AssignmentRule, reps: Iterable[User]) -> dict[str, Any]:
    fields: dict[str, Any] = {
        name: getattr(rule, name)
        for name in AUDITED_FIELDS
        if name not in ("target_team", "target_reps")
    }
    fields["target_team"] = rule.target_team_id
    fields["target_reps"] = sorted(user.pk for user in reps)
    return {name: fields[name] for name in AUDITED_FIELDS}


def _check_rule(rule: AssignmentRule, reps: list[User]) -> None:
    """A rule needs exactly one kind of target (a team or reps) unless it is inactive; ranges
    must be ordered; one fallback at most. Raises ValidationError (field dict)."""
    if rule.is_active and bool(rule.target_team_id) == bool(reps):
        raise ValidationError({"target_team": "Choose a team or a list of reps (one of the two)."})
    if rule.is_fallback:
        others = AssignmentRule.objects.filter(is_fallback=True).exclude(pk=rule.pk)
        if others.exists():
            raise ValidationError({"is_fallback": f"“{others.first()}” is already the fallback."})
    rule.full_clean(validate_constraints=False)
    for low, high in (("employee_min", "employee_max"), ("score_min", "score_max")):
        low_value, high_value = getattr(rule, low), getattr(rule, high)
        if low_value is not None and high_value is not None and low_value > high_value:
            raise ValidationError({high: "The upper bound is below the lower bound."})


@transaction.atomic
def save_rule(
    *, rule: AssignmentRule, by: User | None, reps: Iterable[User] | None = None
) -> AssignmentRule:
    """Create or update a rule and its rep list (see `_check_rule` for what is refused).

    Audited as "routing_rule.create" (the rule's defined settings) or "routing_rule.update"
    (only what changed, old → new: a new priority is a reorder, `is_active` an enable or
    disable); saving an unchanged rule writes no entry. The stored row is locked first, so
    two editors' entries each describe the change they made.
    """
    reps = list(reps) if reps is not None else list(rule.target_reps.all()) if rule.pk else []
    _check_rule(rule, reps)
    before: dict[str, Any] = {}
    if rule.pk:
        stored = AssignmentRule.objects.select_for_update().get(pk=rule.pk)
        before = _audited(stored, stored.target_reps.all())
    rule.save()
    rule.target_reps.set(reps)
    after = _audited(rule, reps)
    if not before:
        defined = {name: value for name, value in after.items() if value not in (None, "", [])}
        record(actor=by, action="routing_rule.create", target=rule, changes=diff({}, defined))
    elif delta := diff(before, after):
        record(actor=by, action="routing_rule.update", target=rule, changes=delta)
    return rule


@transaction.atomic
def delete_rule(*, rule: AssignmentRule, by: User | None) -> None:
    """Delete a rule; its log rows keep the rule's name, and the "routing_rule.delete" entry
    keeps its definition (old → None)."""
    before = _audited(rule, rule.target_reps.all())
    defined = {name: value for name, value in before.items() if value not in (None, "", [])}
    record(
        actor=by,
        action="routing_rule.delete",
        target=rule,
        changes=diff(defined, dict.fromkeys(defined)),
    )
    rule.delete()


def rules_for_page() -> list[AssignmentRule]:
    """Every rule (active or not) for the settings page, in the order routing tries them."""
    return list(
        AssignmentRule.objects.select_related("target_team", "last_assigned")
        .prefetch_related("target_reps")
        .order_by("-is_active", "is_fallback", "priority", "pk")
    )
