"""Lead routing: assignment rules send unassigned MQLs to reps, race-safe across workers.

How concurrency is handled (PostgreSQL):
1. A worker claims a batch of unassigned MQLs with `FOR UPDATE SKIP LOCKED`, so two workers
   never hold the same lead and nobody waits on a row another worker is routing.
2. It then takes a transaction-scoped advisory lock per rule it needs (in rule-id order, so
   two workers cannot deadlock) and only THEN reads the rotation cursor, the reps' availability
   and their open-lead counts. Everything a cap or a rotation depends on is therefore read
   after the previous holder committed: no rep goes over cap, the rotation stays strict.
3. It writes only the decisions (owners, log, cursors) and commits, releasing the lock.
4. A second transaction, outside the lock and so in parallel across workers, finishes the
   batch: SRL via transition_leads, first-contact tasks, rep notifications. It only acts on
   leads it actually moved, so a retry or the sweep's recovery of a worker that died between
   the two transactions creates nothing twice.
Writes are set-based (one UPDATE / INSERT per table per batch).

On SQLite there are no advisory locks; `BEGIN IMMEDIATE` (see config.env.sqlite_config)
serialises writers, which gives the same guarantees with one writer at a time.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection, models, transaction
from django.db.models import BigIntegerField, Case, Count, F, Q, QuerySet, Value, When
from django.utils import timezone

from activities.models import Activity
from crm.audit import record_many
from crm.bulk import insert_rows
from crm.models import Notification, OrgSettings, User
from crm.services import notify_many
from leads.models import AssignmentLog, AssignmentRule, Lead
from webhooks.events import record_events

BATCH_SIZE = 1000
# First key of pg_advisory_xact_lock(int, int): "routing" (second key: the rule id).
LOCK_NAMESPACE = 0x504C5254
FIRST_CONTACT_SUBJECT = "First contact"
_LEAD_FIELDS = (
    "pk",
    "first_name",
    "last_name",
    "email",
    "region",
    "country",
    "source",
    "industry",
    "employee_count",
    "score",
    "unassignable_at",
    "mql_at",
)


def enqueue_assignment(*, lead_ids: list[int]) -> None:
    """Called inside the transaction that made `lead_ids` MQL: ONE task for the whole batch,
    sent only once that transaction commits (a rolled-back import routes nothing)."""
    ids = list(lead_ids)
    if not ids:
        return
    # A real cycle: leads.tasks imports this module to run the routing it enqueues.
    from leads.tasks import assign_leads_task

    assign_leads_task.delay_on_commit(ids)


@dataclass(frozen=True)
class Plan:
    """One routing decision: `rep` None means nobody could take the lead."""

    lead: Lead
    rule: AssignmentRule | None
    rep: User | None
    why: str


@dataclass
class AssignmentResult:
    """What one `assign_leads` call did (the sweep's JobRun counts)."""

    claimed: int = 0
    assigned: int = 0
    unassignable: int = 0
    newly_unassignable: int = 0
    batches: int = 0
    finished: int = 0
    recovered: int = 0


@dataclass
class _Rotation:
    """One rule's state while planning: candidates in rotation (pk) order, loads, cursor."""

    rule: AssignmentRule
    candidates: list[User]
    load: dict[int, int]
    cursor: int | None
    order: list[int] = field(init=False)

    def __post_init__(self) -> None:
        self.candidates = sorted(self.candidates, key=lambda user: user.pk)
        self.order = [user.pk for user in self.candidates]

    def _in_rotation_order(self) -> list[User]:
        """Candidates starting right after the cursor, wrapping around."""
        start = bisect.bisect_right(self.order, self.cursor) if self.cursor is not None else 0
        return self.candidates[start:] + self.candidates[:start]

    def pick(self) -> tuple[User | None, str]:
        """Choose the next rep (and count the lead against them), or None with the reason."""
        if not self.candidates:
            return None, "no available rep in the target"
        rotation = self._in_rotation_order()
        if self.rule.method == AssignmentRule.Method.LOAD_BALANCED:
            eligible = [user for user in rotation if self.load[user.pk] < user.max_open_leads]
            if not eligible:
                return None, f"all {len(rotation)} available reps are at their cap"
            # min() keeps the first of equals, i.e. rotation order breaks ties fairly.
            rep = min(eligible, key=lambda user: self.load[user.pk])
            why = f"load balanced: fewest open leads ({self.load[rep.pk]})"
        else:
            index = next(
                (i for i, user in enumerate(rotation) if self.load[user.pk] < user.max_open_leads),
                None,
            )
            if index is None:
                return None, f"all {len(rotation)} available reps are at their cap"
            rep, skipped = rotation[index], rotation[:index]
            why = "round robin: next in rotation"
            if skipped:
                names = ", ".join(str(user) for user in skipped[:3])
                why += f" (skipped {names}{'…' if len(skipped) > 3 else ''}: at cap)"
        self.load[rep.pk] += 1
        self.cursor = rep.pk
        return rep, why


def active_rules() -> list[AssignmentRule]:
    """Active rules in priority order, fallback last, with their targets loaded (two queries)."""
    return list(
        AssignmentRule.objects.filter(is_active=True)
        .select_related("target_team")
        .prefetch_related("target_reps")
        .order_by("is_fallback", "priority", "pk")
    )


def first_match(rules: list[AssignmentRule], lead: Lead) -> AssignmentRule | None:
    """First matching rule by priority; the fallback only when no other rule matches."""
    return next((rule for rule in rules if rule.matches(lead)), None)


def _fallback(rules: list[AssignmentRule]) -> AssignmentRule | None:
    return next((rule for rule in rules if rule.is_fallback), None)


def _pools(rules: list[AssignmentRule]) -> dict[int, list[User]]:
    """Each rule's candidate reps (active reps of the target team's subtree, or the listed
    reps), in one query. Availability, caps and loads are read later, under the lock."""
    paths = {rule.pk: rule.target_team.path for rule in rules if rule.target_team is not None}
    listed = {rule.pk: {user.pk for user in rule.target_reps.all()} for rule in rules}
    condition = Q(pk__in=set().union(*listed.values())) if listed else Q(pk__in=[])
    for team_path in set(paths.values()):
        condition |= Q(team__path__startswith=team_path, role=User.Role.REP)
    users = list(User.objects.filter(condition, is_active=True).select_related("team"))
    pools: dict[int, list[User]] = {}
    for rule in rules:
        path = paths.get(rule.pk)
        pools[rule.pk] = [
            user
            for user in users
            if user.pk in listed[rule.pk]
            or (
                path is not None
                and user.role == User.Role.REP
                and user.team is not None
                and user.team.path.startswith(path)
            )
        ]
    return pools


def _lock_set(rule_ids: set[int], pools: dict[int, list[User]]) -> list[int]:
    """The rules whose lock a batch needs: its own rules plus every rule sharing a rep with
    them (transitively), so two rules can never count the same rep's cap at once."""
    members = {rule_id: {user.pk for user in users} for rule_id, users in pools.items()}
    needed = set(rule_ids)
    changed = True
    while changed:
        changed = False
        reps = set().union(*(members.get(rule_id, set()) for rule_id in needed))
        for rule_id, users in members.items():
            if rule_id not in needed and users & reps:
                needed.add(rule_id)
                changed = True
    return sorted(needed)


def _lock_rules(rule_ids: list[int]) -> None:
    """Transaction-scoped advisory locks, in id order (no deadlock between two workers)."""
    if connection.vendor != "postgresql" or not rule_ids:
        return
    with connection.cursor() as cursor:
        for rule_id in rule_ids:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_NAMESPACE, rule_id])


def _rotations(
    rules: list[AssignmentRule], pools: dict[int, list[User]], *, fresh_cursors: bool
) -> dict[int, _Rotation]:
    """Fresh availability, caps, open-lead counts (one query) and cursors (one query)."""
    user_ids = {user.pk for users in pools.values() for user in users}
    fresh = {
        user.pk: user
        for user in User.objects.filter(pk__in=user_ids, is_active=True, is_available=True)
        .select_related("team")
        .annotate(
            open_leads=Count("leads", filter=Q(leads__stage__in=Lead.OPEN_STAGES), distinct=False)
        )
    }
    cursors = {rule.pk: rule.last_assigned_id for rule in rules}
    if fresh_cursors:
        cursors |= dict(
            AssignmentRule.objects.filter(pk__in=cursors).values_list("pk", "last_assigned_id")
        )
    load = {pk: user.open_leads for pk, user in fresh.items()}
    return {
        rule.pk: _Rotation(
            rule=rule,
            candidates=[fresh[user.pk] for user in pools.get(rule.pk, []) if user.pk in fresh],
            load=load,  # shared: a rep in two rules counts every lead once
            cursor=cursors.get(rule.pk),
        )
        for rule in rules
    }


def plan(
    *, leads: list[Lead], rules: list[AssignmentRule], rotations: dict[int, _Rotation]
) -> list[Plan]:
    """Route `leads` in order: first matching rule, then the fallback when the matched rule
    has nobody who can take the lead. Pure (no queries): dry run and real routing share it."""
    fallback = _fallback(rules)
    plans = []
    for lead in leads:
        rule = first_match(rules, lead)
        if rule is None:
            plans.append(Plan(lead, None, None, "no rule matches and there is no fallback rule"))
            continue
        rep, how = rotations[rule.pk].pick()
        why = f"rule “{rule.name}” ({rule.describe_criteria()}); {how}"
        if rep is None and fallback is not None and fallback.pk != rule.pk:
            rep, fallback_how = rotations[fallback.pk].pick()
            why = f"rule “{rule.name}”: {how}; fallback “{fallback.name}”; {fallback_how}"
            rule = fallback
        plans.append(Plan(lead, rule, rep, why[:300]))
    return plans


def _managers_to_notify(plans: list[Plan], pools: dict[int, list[User]]) -> dict[int, int]:
    """manager id → number of newly unroutable leads. The target team's manager; for a list
    of reps, their teams' managers; with no rule at all, the admins."""
    counts: dict[int, int] = defaultdict(int)
    admins: list[int] | None = None
    for item in plans:
        rule = item.rule
        managers: set[int] = set()
        team = rule.target_team if rule is not None else None  # select_related: no query
        if team is not None and team.manager_id:
            managers.add(team.manager_id)
        elif rule is not None:
            managers = {
                user.team.manager_id
                for user in pools.get(rule.pk, [])
                if user.team is not None and user.team.manager_id
            }
        if not managers:
            if admins is None:
                admins = list(
                    User.objects.filter(
                        Q(role=User.Role.ADMIN) | Q(is_superuser=True), is_active=True
                    ).values_list("pk", flat=True)
                )
            managers = set(admins)
        for manager_id in managers:
            counts[manager_id] += 1
    return counts


def _insert_rows(model: type[models.Model], rows: list[dict[str, object]]) -> None:
    """Set-based INSERT of plain rows (keys: field names or attnames, same in every row): the
    ORM's per-value preparation was the largest cost inside the routing lock."""
    if rows:
        insert_rows(model, {name: [row[name] for row in rows] for name in rows[0]})


def _decide(plans: list[Plan], *, pools: dict[int, list[User]], now: datetime) -> list[int]:
    """Phase 1 (inside the rule locks): record the decisions — owner + `assigned_at`, the
    assignment log with its why, the rotation cursors — and flag leads nobody could take (their
    manager told once). Only what caps and rotation depend on; returns the assigned ids."""
    assigned = [(item, item.rep.pk) for item in plans if item.rep is not None]
    if assigned:
        by_rep: dict[int, list[int]] = defaultdict(list)
        for item, rep_id in assigned:
            by_rep[rep_id].append(item.lead.pk)
        # One UPDATE for the batch; one WHEN per rep (not per lead) keeps it cheap to build.
        Lead.objects.filter(pk__in=[item.lead.pk for item, _ in assigned]).update(
            owner_id=Case(
                *(When(pk__in=ids, then=Value(rep_id)) for rep_id, ids in by_rep.items()),
                output_field=BigIntegerField(),
            ),
            assigned_at=now,
            unassignable_at=None,
            updated_at=now,
        )
        _insert_rows(
            AssignmentLog,
            [
                {
                    "lead_id": item.lead.pk,
                    "rule_id": item.rule.pk if item.rule else None,
                    "rule_name": item.rule.name if item.rule else "",
                    "rep_id": rep_id,
                    "why": item.why,
                    "at": now,
                }
                for item, rep_id in assigned
            ],
        )
        record_many(
            actor=None,
            action="lead.assign",
            model=Lead,
            ids=[item.lead.pk for item, _ in assigned],
            changes_for={
                item.lead.pk: {
                    "owner_id": [None, rep_id],
                    "rule": item.rule.name if item.rule else "",
                    "why": item.why,
                }
                for item, rep_id in assigned
            },
        )
        cursors = {item.rule.pk: rep_id for item, rep_id in assigned if item.rule is not None}
        AssignmentRule.objects.bulk_update(
            [AssignmentRule(pk=rule_id, last_assigned_id=rep) for rule_id, rep in cursors.items()],
            ["last_assigned"],
        )
    stuck = [item for item in plans if item.rep is None and item.lead.unassignable_at is None]
    if stuck:
        # Flag once: the stamp is the "already told the manager" marker.
        Lead.objects.filter(pk__in=[item.lead.pk for item in stuck]).update(
            unassignable_at=now, updated_at=now
        )
        rows = []
        for manager_id, count in _managers_to_notify(stuck, pools).items():
            noun = "lead is" if count == 1 else "leads are"
            rows.append(
                Notification(
                    recipient_id=manager_id,
                    verb="lead_unassignable",
                    message=f"{count} {noun} waiting: no available rep under cap could take them.",
                    url="/settings/routing/",
                )
            )
        notify_many(rows)
    return [item.lead.pk for item, _ in assigned]


def _assigned_but_unfinished() -> QuerySet[Lead]:
    """MQLs that were given an owner in this MQL episode but not yet moved to SRL: a worker
    died between the two phases (or a person set the owner by hand)."""
    return Lead.objects.filter(
        Q(mql_at__isnull=True) | Q(assigned_at__gte=F("mql_at")),
        stage=Lead.Lifecycle.MQL,
        owner__isnull=False,
        assigned_at__isnull=False,
    )


@transaction.atomic
def finish_assignments(*, lead_ids: list[int], sla_minutes: int) -> int:
    """Phase 2 (no rule lock): move assigned MQLs to SRL, create their "first contact" task due
    `sla_minutes` after assignment, notify each rep once (in-app + e-mail).

    Idempotent and safe concurrently: `transition_leads` locks the rows and only moves leads
    still in MQL, and only the leads it moved get a task and a notification, so running this
    twice (a retry, the recovery sweep) creates nothing twice.
    """
    # A real cycle: leads.services hands new MQLs to `enqueue_assignment`; routing loads last.
    from leads.services import transition_leads

    moved = transition_leads(lead_ids=lead_ids, to=Lead.Lifecycle.SRL, by=None, notify_owner=False)
    if not moved:
        return 0
    # Routing gave these leads their first owner in phase 1: now they are assigned for good.
    record_events(
        event="lead.assigned", model=Lead, ids=moved, previous={pk: {"owner": None} for pk in moved}
    )
    # Plain tuples, not model instances: this runs for every routed lead.
    leads = list(
        Lead.objects.filter(pk__in=moved).values_list(
            "pk",
            "first_name",
            "last_name",
            "email",
            "assigned_at",
            "owner_id",
            "owner__remind_before_minutes",
        )
    )
    now = timezone.now()
    rows = []
    by_rep: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for pk, first_name, last_name, email, assigned_at, owner_id, remind_before in leads:
        label = f"{first_name} {last_name}".strip() or email  # as str(Lead)
        by_rep[owner_id].append((pk, label))
        assert assigned_at is not None  # phase 1 stamped it on every lead it routed
        due_at = assigned_at + timedelta(minutes=sla_minutes)
        remind_at = due_at - timedelta(minutes=remind_before)
        rows.append(
            {
                "created_at": now,
                "updated_at": now,
                "kind": Activity.Kind.TASK.value,
                "subject": f"{FIRST_CONTACT_SUBJECT}: {label}"[:200],
                "body": "",
                "owner_id": owner_id,
                "lead_id": pk,
                "due_at": due_at,
                # The assignment notification is the first nudge; a reminder only makes
                # sense when it would come later than that.
                "remind_at": remind_at if remind_at > now else None,
            }
        )
    _insert_rows(Activity, rows)
    notifications = []
    for rep_id, rep_leads in by_rep.items():
        if len(rep_leads) == 1:
            pk, label = rep_leads[0]
            message = f"New lead assigned to you: {label}. First contact due in {sla_minutes} min."
            url = f"/leads/{pk}/"
        else:
            count = len(rep_leads)
            message = f"{count} new leads assigned to you. First contact due in {sla_minutes} min."
            url = "/leads/"
        notifications.append(
            Notification(recipient_id=rep_id, verb="lead_assigned", message=message, url=url)
        )
    notify_many(notifications)
    return len(moved)


def assign_leads(
    *,
    lead_ids: Iterable[int] | None = None,
    now: datetime | None = None,
    batch_size: int = BATCH_SIZE,
) -> AssignmentResult:
    """Route unassigned MQLs (the given ones, or every one for the sweep) until none is left.

    Safe to run many times at once. Each batch is two transactions:
    1. decide (short, serialised per rule): claim leads with SKIP LOCKED, take the rules'
       advisory locks, read cursors / availability / loads, write owners, log and cursors.
       No lead is routed twice, no rep goes over cap, each rule's rotation stays strict.
    2. finish (parallel across workers): SRL, first-contact task, rep notification —
       idempotent; if a worker dies between the two, the sweep (`lead_ids=None`) finishes
       those leads first.
    Leads nobody can take stay MQL, unassigned, flagged (`unassignable_at`); their manager is
    told once. The next sweep retries them.
    """
    sla = OrgSettings.load().first_contact_sla_minutes
    ids = list(lead_ids) if lead_ids is not None else None
    result = AssignmentResult()
    if ids is None:
        stragglers = list(_assigned_but_unfinished().order_by("pk").values_list("pk", flat=True))
        for start in range(0, len(stragglers), batch_size):
            result.recovered += finish_assignments(
                lead_ids=stragglers[start : start + batch_size], sla_minutes=sla
            )
    rules = active_rules()
    pools = _pools(rules)
    after = 0
    while True:
        with transaction.atomic():
            claim = Lead.objects.select_for_update(skip_locked=True, of=("self",)).filter(
                stage=Lead.Lifecycle.MQL, owner__isnull=True, pk__gt=after
            )
            if ids is not None:
                claim = claim.filter(pk__in=ids)
            leads = list(claim.order_by("pk").only(*_LEAD_FIELDS)[:batch_size])
            if not leads:
                break
            after = leads[-1].pk
            needed = {rule.pk for lead in leads if (rule := first_match(rules, lead))}
            if needed and (fallback := _fallback(rules)):
                needed.add(fallback.pk)
            _lock_rules(_lock_set(needed, pools))
            rotations = _rotations(
                [rule for rule in rules if rule.pk in needed], pools, fresh_cursors=True
            )
            plans = plan(leads=leads, rules=rules, rotations=rotations)
            assigned = _decide(plans, pools=pools, now=now or timezone.now())
        if assigned:
            result.finished += finish_assignments(lead_ids=assigned, sla_minutes=sla)
        result.batches += 1
        result.claimed += len(leads)
        result.assigned += len(assigned)
        stuck = [item for item in plans if item.rep is None]
        result.unassignable += len(stuck)
        result.newly_unassignable += sum(1 for item in stuck if item.lead.unassignable_at is None)
    return result


def dry_run(*, rule: AssignmentRule | None = None, limit: int = 20, scan: int = 5000) -> list[Plan]:
    """Who would get the next `limit` unassigned MQLs (those `rule` would take, if given) and
    why. Read-only (no locks, no writes) and computed by the same planner as real routing,
    from the current cursors, availability and loads."""
    rules = active_rules()
    pools = _pools(rules)
    rotations = _rotations(rules, pools, fresh_cursors=False)
    queue = (
        Lead.objects.filter(stage=Lead.Lifecycle.MQL, owner__isnull=True)
        .order_by("mql_at", "pk")
        .only(*_LEAD_FIELDS)
    )
    out: list[Plan] = []
    for start in range(0, scan, 500):
        chunk = list(queue[start : start + 500])
        for item in plan(leads=chunk, rules=rules, rotations=rotations):
            matched = first_match(rules, item.lead)
            if rule is None or (matched is not None and matched.pk == rule.pk):
                out.append(item)
                if len(out) >= limit:
                    return out
        if len(chunk) < 500:
            break
    return out


def unassignable_count() -> int:
    """Unassigned MQLs flagged as unroutable (shown on the routing page)."""
    return Lead.objects.filter(
        stage=Lead.Lifecycle.MQL, owner__isnull=True, unassignable_at__isnull=False
    ).count()
