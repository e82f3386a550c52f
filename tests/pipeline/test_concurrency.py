"""Concurrent moves on PostgreSQL: the version check lets exactly one writer win per version."""

from __future__ import annotations

import itertools
import random
import threading

import pytest
from django.db import close_old_connections, connection

from pipeline import services
from pipeline.models import Opportunity, StageChange
from tests.factories import PipelineFactory, UserFactory
from tests.pipeline.factories import bulk_deals

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_eight_threads_moving_the_same_100_cards_lose_no_update(org):
    manager = UserFactory(username="boss", role="admin", team=org["root"])
    pipeline = PipelineFactory()
    stages = list(pipeline.stages.filter(kind__in=["open", "won"]).order_by("order"))
    bulk_deals(100, owners=[manager], stages=stages[:1])
    ids = list(Opportunity.objects.values_list("pk", flat=True))
    accepted: list[tuple[int, int, int]] = []  # (deal, new version, stage)
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        barrier.wait()
        try:
            for _ in range(60):
                pk = rng.choice(ids)
                deal = Opportunity.objects.get(pk=pk)
                target = rng.choice([s for s in stages if s.pk != deal.stage_id])
                try:
                    moved = services.move_opportunity(
                        opportunity=deal, to_stage=target, expected_version=deal.version, by=manager
                    ).opportunity
                except services.StaleOpportunity:
                    continue
                with lock:
                    accepted.append((pk, moved.version, target.pk))
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert accepted, "no move went through"
    # Every accepted move wrote exactly one StageChange, and no version was accepted twice.
    assert StageChange.objects.filter(from_stage__isnull=False).count() == len(accepted)
    versions = [(pk, version) for pk, version, _ in accepted]
    assert len(versions) == len(set(versions))
    # Final state = the last accepted move of each deal; version = 1 + its accepted moves.
    last: dict[int, tuple[int, int]] = {}
    for pk, version, stage_id in accepted:
        if version > last.get(pk, (0, 0))[0]:
            last[pk] = (version, stage_id)
    for deal in Opportunity.objects.filter(pk__in=list(last)):
        assert (deal.version, deal.stage_id) == last[deal.pk]
        moves = [a for a in accepted if a[0] == deal.pk]
        assert deal.version == 1 + len(moves)
        history = list(
            StageChange.objects.filter(opportunity=deal, from_stage__isnull=False).order_by("pk")
        )
        # The history chains: each move starts where the previous one ended.
        for before, after in itertools.pairwise(history):
            assert after.from_stage_id == before.to_stage_id
