"""Run by test_upgrade_from_base.py in a subprocess, with the current code, against the
upgraded database (DATABASE_URL): checks that labels resolve, that the moved tables still
take new rows, and GETs every page as the demo admin. Prints one JSON report on stdout."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.test.utils import setup_test_environment

    setup_test_environment()  # the test client's host, in-memory e-mail
    report = {"labels": labels(), "inserts": inserts(), "pages": pages()}
    sys.stdout.write("PROBE " + json.dumps(report) + "\n")


def labels() -> dict[str, Any]:
    """Content types, notification targets, audit labels and permissions after the move."""
    from django.apps import apps
    from django.contrib.contenttypes.models import ContentType

    from crm.models import AuditLog, Notification, User

    stale = [
        f"{ct.app_label}.{ct.model}" for ct in ContentType.objects.all() if not ct.model_class()
    ]
    targets = Notification.objects.exclude(target_type=None).select_related("target_type")
    dangling = [n.pk for n in targets if n.target is None]
    marked = {
        n.message: f"{type(n.target).__module__}.{type(n.target).__name__}"
        for n in targets.filter(verb="upgrade-probe")
    }
    known = {model._meta.label_lower for model in apps.get_models()}
    audit_types = set(AuditLog.objects.values_list("target_type", flat=True).distinct())
    marked_audit = dict(
        AuditLog.objects.filter(action="upgrade.probe").values_list("target_label", "target_type")
    )
    rep = User.objects.get(username="rep1")
    return {
        "stale_content_types": stale,
        "dangling_notification_targets": dangling,
        "marked_notifications": marked,
        "unknown_audit_types": sorted(audit_types - known),
        "marked_audit": marked_audit,
        "rep1_can_view_accounts": rep.has_perm("accounts.view_account"),
    }


def inserts() -> dict[str, bool]:
    """The renamed tables keep their id sequences: a new row gets the next id."""
    from django.db import transaction
    from django.db.models import Max
    from django.utils import timezone

    from accounts.models import Account
    from activities.models import Activity, ReminderDelivery
    from crm.models import User

    owner = User.objects.get(username="rep1")
    result = {}
    with transaction.atomic():
        top = Account.objects.aggregate(top=Max("pk"))["top"] or 0
        account = Account.objects.create(name="Probe Ltd", owner=owner)
        result["account"] = account.pk > top
        top = Activity.objects.aggregate(top=Max("pk"))["top"] or 0
        seeded = Activity.objects.order_by("pk").first()
        assert seeded is not None  # the demo logs activities on every deal
        task = Activity.objects.create(
            kind="task",
            subject="Probe",
            owner=owner,
            lead_id=seeded.lead_id,
            opportunity_id=seeded.opportunity_id,
            due_at=timezone.now(),
        )
        result["activity"] = task.pk > top
        top = ReminderDelivery.objects.aggregate(top=Max("pk"))["top"] or 0
        delivery = ReminderDelivery.objects.create(
            activity=task, recipient=owner, due_at=timezone.now(), sent_at=timezone.now()
        )
        result["reminder_delivery"] = delivery.pk > top
        transaction.set_rollback(True)
    return result


# Routes whose id the attack matrix's naming rules cannot map (their URL names no model).
EXPLICIT = {
    "pipeline/settings/<int:pk>/": "pipeline.Pipeline",
    "leads/import/<int:pk>/": "leads.LeadCsvUpload",
}


def pages() -> dict[str, Any]:
    """GET every route of the URLconf as the demo admin (objects: the first row of the model
    behind each id, mapped as the attack matrix maps them); report anything that 500s."""
    from django.apps import apps
    from django.test import Client
    from django.urls import NoReverseMatch, reverse

    from crm.models import User
    from tests.crm import attack_matrix as am

    admin = User.objects.get(username="admin")
    client = Client(raise_request_exception=False)
    client.force_login(admin)
    routes = am.walk_routes()
    am.map_models(routes, admin)
    for route in routes:
        prefix = next((p for p in EXPLICIT if route.route.startswith(p)), None)
        if prefix and route.unmapped == ["pk"]:
            route.model_for["pk"], route.unmapped = apps.get_model(EXPLICIT[prefix]), []
    errors, unmapped, checked = [], [], 0
    for route in routes:
        if route.unmapped or not route.name:
            unmapped.append(route.route)
            continue
        kwargs = {k: v for k, v in am.NON_OBJECT_KWARGS.items() if k in route.kwargs}
        missing = False
        for kwarg in route.object_kwargs:
            row = route.model_for[kwarg]._default_manager.order_by("pk").first()
            if row is None:
                missing = True
                break
            kwargs[kwarg] = row.pk
        if missing:
            continue
        try:
            url = reverse(route.name, kwargs=kwargs)
        except NoReverseMatch:
            continue
        status = client.get(url).status_code
        checked += 1
        if status >= 500:
            errors.append(f"GET {url} → {status}")
    return {"checked": checked, "errors": errors, "unmapped": unmapped}


if __name__ == "__main__":
    main()
