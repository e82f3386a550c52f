"""Two overlapping imports at the same time create no duplicates (PostgreSQL, real threads)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from leads.importing.service import import_leads
from leads.models import Lead
from tests.leads.factories import lead_payload


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("match_on", ["email", "external_id"])
@pytest.mark.parametrize("round_no", [1, 2, 3])  # races are timing-dependent: try a few
def test_overlapping_imports_in_two_threads_create_each_lead_once(marketing, match_on, round_no):
    # given two batches sharing 150 keys, in opposite orders to provoke lock-order races
    shared = [lead_payload(i, external_id=f"ext-{i}") for i in range(150)]
    batch_a = shared + [lead_payload(1000 + i, external_id=f"ext-a{i}") for i in range(50)]
    batch_b = list(reversed(shared)) + [
        lead_payload(2000 + i, external_id=f"ext-b{i}") for i in range(50)
    ]
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}
    errors: list[BaseException] = []

    def run(name: str, batch: list[dict]) -> None:
        try:
            barrier.wait()
            outcomes[name] = import_leads(records=batch, match_on=match_on, by=marketing)
        except BaseException as error:  # surfaced in the main thread below
            errors.append(error)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=("a", batch_a)),
        threading.Thread(target=run, args=("b", batch_b)),
    ]
    # when
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # then
    assert errors == []
    assert Lead.objects.count() == 250
    a, b = outcomes["a"], outcomes["b"]
    assert a.failed == b.failed == 0
    # every shared lead was created by exactly one of the two imports
    assert a.created + b.created == 250
    assert a.created + a.updated + a.unchanged == 200
