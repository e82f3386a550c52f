"""Pipeline configuration leaves an audit trail: pipelines created, renamed, made default and
archived; stages added, archived, restored, deleted and reordered; lost reasons."""

from __future__ import annotations

import pytest
from django.urls import reverse

from crm import audit
from crm.models import AuditLog
from pipeline import services
from pipeline.models import LostReason, Pipeline, Stage
from tests.factories import PipelineFactory

pytestmark = pytest.mark.django_db


def only(action: str) -> AuditLog:
    return AuditLog.objects.get(action=action)


def test_creating_a_default_pipeline_is_audited_and_so_is_the_demoted_one(admin_user):
    # given
    old = services.create_pipeline(by=admin_user, name="Sales")
    AuditLog.objects.all().delete()
    # when
    new = services.create_pipeline(by=admin_user, name=" Partners ", is_default=True)
    # then
    created = only("pipeline.create")
    assert (created.actor, created.target_type, created.target_id, created.target_label) == (
        admin_user,
        "pipeline.pipeline",
        str(new.pk),
        "Partners",
    )
    assert created.changes == {
        "name": [None, "Partners"],
        "is_default": [None, True],
        "stages": [None, ["New", "Closed Won", "Closed Lost"]],
    }
    demoted = only("pipeline.update")
    assert (demoted.actor, demoted.target_id, demoted.changes) == (
        admin_user,
        str(old.pk),
        {"is_default": [True, False]},
    )


def test_renaming_and_archiving_a_pipeline_are_audited_and_a_no_op_is_not(manager):
    default = PipelineFactory(is_default=True)
    pipeline = PipelineFactory(name="Partners")
    services.update_pipeline(pipeline=pipeline, by=manager, name="Partners")  # no change
    services.update_pipeline(pipeline=pipeline, by=manager, name="Channel")
    services.archive_pipeline(pipeline=pipeline, by=manager)
    assert [(e.action, e.actor, e.changes) for e in audit.history_for(pipeline)] == [
        ("pipeline.archive", manager, {"is_archived": [False, True]}),
        ("pipeline.update", manager, {"name": ["Partners", "Channel"]}),
    ]
    assert audit.history_for(default).exists() is False


def test_making_a_pipeline_the_default_is_audited_on_both(manager):
    old = PipelineFactory(is_default=True)
    new = PipelineFactory()
    services.update_pipeline(pipeline=new, by=manager, is_default=True)
    assert [e.changes for e in audit.history_for(new)] == [{"is_default": [False, True]}]
    assert [e.changes for e in audit.history_for(old)] == [{"is_default": [True, False]}]


def test_adding_archiving_restoring_and_deleting_stages_are_audited(admin_user):
    pipeline = PipelineFactory(name="Sales")
    # when
    legal = services.add_stage(
        pipeline=pipeline, by=admin_user, name="Legal", probability=90, rot_after_days=5
    )
    services.archive_stage(stage=legal, by=admin_user)
    services.archive_stage(stage=legal, by=admin_user, archived=False)
    services.archive_stage(stage=legal, by=admin_user, archived=False)  # already restored
    legal_pk = legal.pk
    services.delete_stage(stage=legal, by=admin_user)
    # then: the trail outlives the stage
    trail = AuditLog.objects.filter(target_type="pipeline.stage", target_id=str(legal_pk))
    assert [(e.action, e.actor, e.target_label) for e in trail] == [
        ("stage.delete", admin_user, "Legal"),
        ("stage.restore", admin_user, "Legal"),
        ("stage.archive", admin_user, "Legal"),
        ("stage.create", admin_user, "Legal"),
    ]
    changes = {e.action: e.changes for e in trail}
    assert changes["stage.create"] == {
        "pipeline": "Sales",
        "name": [None, "Legal"],
        "probability": [None, 90],
        "kind": [None, "open"],
        "forecast_category": [None, "pipeline"],
        "rot_after_days": [None, 5],
        "order": [None, 3],
    }
    assert changes["stage.archive"] == {"is_archived": [False, True]}
    assert changes["stage.restore"] == {"is_archived": [True, False]}
    assert changes["stage.delete"] == {"pipeline": "Sales", "name": ["Legal", None]}


def test_a_refused_stage_change_leaves_no_entry(admin_user):
    pipeline = PipelineFactory()
    lost = pipeline.stages.get(kind="lost")
    with pytest.raises(Exception, match="lost stage"):
        services.archive_stage(stage=lost, by=admin_user)
    with pytest.raises(Exception, match="won stage"):
        services.add_stage(pipeline=pipeline, by=admin_user, name="Won again", kind="won")
    assert AuditLog.objects.exists() is False


def test_reordering_stages_is_audited_once_with_old_and_new_order(
    manager, django_assert_max_num_queries
):
    for size in (2, 20):
        pipeline = PipelineFactory()
        for i in range(size):
            services.add_stage(pipeline=pipeline, by=manager, name=f"Step {i}")
        stages = list(pipeline.stages.order_by("order", "pk"))
        before = [s.name for s in stages]
        reordered = [stages[-1], *stages[:-1]]
        # when
        with django_assert_max_num_queries(5):
            services.reorder_stages(
                pipeline=pipeline, by=manager, stage_ids=[s.pk for s in reordered]
            )
        # then
        entry = audit.history_for(pipeline).get()
        assert (entry.action, entry.actor) == ("pipeline.reorder_stages", manager)
        assert entry.changes == {"stages": [before, [s.name for s in reordered]]}
    services.reorder_stages(pipeline=pipeline, by=manager, stage_ids=[s.pk for s in reordered])
    assert AuditLog.objects.filter(action="pipeline.reorder_stages").count() == 2  # no-op: none


def test_lost_reasons_created_and_changed_are_audited(manager):
    price = services.save_lost_reason(by=manager, label="Price")
    services.save_lost_reason(by=manager, label="Price", reason=price)  # no change
    services.save_lost_reason(by=manager, label="Too expensive", reason=price, is_active=False)
    assert [(e.action, e.changes) for e in audit.history_for(price)] == [
        ("lost_reason.update", {"label": ["Price", "Too expensive"], "is_active": [True, False]}),
        ("lost_reason.create", {"label": [None, "Price"], "is_active": [None, True]}),
    ]


def test_the_settings_pages_record_the_manager_who_acts(client, manager):
    client.force_login(manager)
    client.post(reverse("pipeline:settings"), {"name": "Partners"})
    pipeline = Pipeline.objects.get(name="Partners")
    new = pipeline.stages.get(name="New")
    ids = list(pipeline.stages.order_by("order").values_list("pk", flat=True))
    client.post(reverse("pipeline:stages_reorder", args=[pipeline.pk]), {"stage": ids[::-1]})
    client.post(reverse("pipeline:settings_pipeline", args=[pipeline.pk]), {"name": "Channel"})
    client.post(reverse("pipeline:stage_edit", args=[new.pk]), {"action": "delete"})
    client.post(reverse("pipeline:lost_reasons"), {"label": "Timing", "is_active": "on"})
    assert sorted(AuditLog.objects.filter(actor=manager).values_list("action", flat=True)) == [
        "lost_reason.create",
        "pipeline.create",
        "pipeline.reorder_stages",
        "pipeline.update",
    ]
    # deleting the only open stage was refused: nothing recorded for it
    assert Stage.objects.filter(pk=new.pk).exists()
    assert LostReason.objects.filter(label="Timing").exists()
