"""Routing under real concurrency: 8 worker processes on PostgreSQL against one queue."""

from __future__ import annotations

import multiprocessing
import os

import pytest
from django.db import connections
from django.db.models import Count

from activities.models import Activity
from crm.models import User
from leads.assignment import assign_leads
from leads.models import AssignmentLog, AssignmentRule, Lead, LeadTransition
from tests.factories import TeamFactory

WORKERS = 8


def _worker(barrier: multiprocessing.synchronize.Barrier) -> None:  # runs in a forked child
    try:
        barrier.wait(timeout=60)
        assign_leads(batch_size=200)
    finally:
        connections.close_all()


def _run_workers() -> list[int]:
    connections.close_all()  # a forked child must never share the parent's socket
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(WORKERS)
    processes = [context.Process(target=_worker, args=(barrier,)) for _ in range(WORKERS)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=600)
    return [process.exitcode for process in processes]


def _setup(
    *, leads: int, reps: int, cap: int, method: str = "round_robin"
) -> tuple[AssignmentRule, list[User]]:
    team = TeamFactory(name="Inside sales")
    users = User.objects.bulk_create(
        User(username=f"cc_rep{i}", role="rep", team=team, max_open_leads=cap) for i in range(reps)
    )
    rule = AssignmentRule.objects.create(name="Everyone", target_team=team, method=method)
    Lead.objects.bulk_create(
        (Lead(email=f"cc{i}@example.com", stage="mql") for i in range(leads)), batch_size=2000
    )
    return rule, users


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_eight_workers_route_10000_leads_once_each_fairly_and_under_cap():
    # given 10,000 unassigned MQLs and 50 reps
    leads, reps = int(os.environ.get("PLUMB_CC_LEADS", 10_000)), 50
    _setup(leads=leads, reps=reps, cap=500)
    # when 8 processes route at the same time
    assert _run_workers() == [0] * WORKERS
    # then every lead was routed exactly once …
    assert Lead.objects.filter(owner__isnull=True).count() == 0
    assert Lead.objects.filter(stage="srl").count() == leads
    assert AssignmentLog.objects.count() == leads
    assert AssignmentLog.objects.values("lead").distinct().count() == leads
    assert LeadTransition.objects.filter(to_stage="srl").count() == leads
    assert Activity.objects.filter(kind="task").count() == leads
    # … and the rotation stayed strict: busiest − idlest ≤ 1, nobody over cap
    per_rep = list(Lead.objects.values("owner").annotate(n=Count("pk")).values_list("n", flat=True))
    assert len(per_rep) == reps
    assert max(per_rep) - min(per_rep) <= 1
    assert max(per_rep) <= 500


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_eight_workers_never_push_a_rep_over_cap():
    # given 20 reps with room for 50 leads each and 2,000 leads
    _setup(leads=2000, reps=20, cap=50)
    # when
    assert _run_workers() == [0] * WORKERS
    # then exactly the capacity was routed, evenly, and the rest is flagged
    per_rep = list(
        Lead.objects.filter(owner__isnull=False)
        .values("owner")
        .annotate(n=Count("pk"))
        .values_list("n", flat=True)
    )
    assert sorted(set(per_rep)) == [50]
    assert len(per_rep) == 20
    assert Lead.objects.filter(owner__isnull=True, unassignable_at__isnull=False).count() == 1000
    assert AssignmentLog.objects.count() == 1000


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_eight_workers_load_balance_evenly_from_uneven_starting_loads():
    # given 20 reps, five of whom already hold 10 open leads, and 1,000 new MQLs
    _, users = _setup(leads=1000, reps=20, cap=500, method="load_balanced")
    Lead.objects.bulk_create(
        Lead(email=f"held{u.pk}-{i}@example.com", stage="srl", owner=u)
        for u in users[:5]
        for i in range(10)
    )
    # when
    assert _run_workers() == [0] * WORKERS
    # then the loads ended level: (1,000 + 50) / 20 = 52.5 → everyone at 52 or 53
    per_rep = list(Lead.objects.values("owner").annotate(n=Count("pk")).values_list("n", flat=True))
    assert sorted(set(per_rep)) == [52, 53]
    assert AssignmentLog.objects.values("lead").distinct().count() == 1000
