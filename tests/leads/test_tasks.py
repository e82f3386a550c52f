from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from crm.models import JobRun
from leads.models import ImportIdempotencyKey, LeadCsvUpload
from leads.tasks import purge_import_records_task

pytestmark = pytest.mark.django_db


def test_purge_drops_expired_keys_and_old_uploads_only(marketing):
    now = timezone.now()
    old_key = ImportIdempotencyKey.objects.create(
        user=marketing,
        key="old",
        body_sha256="x",
        status_code=200,
        response={},
        created_at=now - timedelta(hours=25),
    )
    fresh_key = ImportIdempotencyKey.objects.create(
        user=marketing, key="new", body_sha256="x", status_code=200, response={}, created_at=now
    )
    old_upload = LeadCsvUpload.objects.create(
        filename="a.csv", content="email\n", created_by=marketing
    )
    LeadCsvUpload.objects.filter(pk=old_upload.pk).update(created_at=now - timedelta(days=31))
    fresh_upload = LeadCsvUpload.objects.create(
        filename="b.csv", content="email\n", created_by=marketing
    )

    assert purge_import_records_task() == {"idempotency_keys": 1, "csv_uploads": 1}
    assert list(ImportIdempotencyKey.objects.all()) == [fresh_key]
    assert list(LeadCsvUpload.objects.all()) == [fresh_upload]
    assert ImportIdempotencyKey.objects.filter(pk=old_key.pk).exists() is False
    assert JobRun.objects.get(job="purge_import_records").status == "ok"
    assert purge_import_records_task() == {"idempotency_keys": 0, "csv_uploads": 0}
