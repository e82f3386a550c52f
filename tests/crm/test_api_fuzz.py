"""schemathesis against the OpenAPI schema (/api/schema/) with an admin token, on PostgreSQL.

Every operation the schema describes gets positive (valid) and negative (invalid) generated
requests through the real WSGI stack. The checks: never a 5xx, responses match the schema,
invalid input is rejected with a 4xx. The number of requests is printed; it grows with every
endpoint the apps add (the test needs no edit).
"""

from __future__ import annotations

import json
import os
import sys

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.config._checks import NegativeDataRejectionConfig
from schemathesis.specs.openapi.checks import positive_data_acceptance

from crm.models import ApiToken
from tests.factories import UserFactory, make_token

pytestmark = [pytest.mark.postgres, pytest.mark.fuzz, pytest.mark.django_db]

# A budget of generated requests shared by every operation (so the run stays ~2-3 minutes
# however many endpoints the apps add); each operation gets at least 25 per mode.
BUDGET = int(os.environ.get("FUZZ_BUDGET", "3000"))
REQUESTS = {"count": 0, "statuses": {}}


def _openapi() -> dict:
    """The same document /api/schema/ serves, generated in-process."""
    document = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(document))


schema = schemathesis.openapi.from_dict(_openapi())
schema.app = get_wsgi_application()
OPERATIONS = sum(1 for _ in schema.get_all_operations())
EXAMPLES = max(25, BUDGET // max(1, 2 * OPERATIONS))  # two modes: positive and negative
# Invalid input is rejected with the usual 4xx, plus what the issues make the bulk endpoints
# answer: 413 for a batch over the limit, 207 with every record failed (per-record results).
schema.config.checks.negative_data_rejection = NegativeDataRejectionConfig(
    expected_statuses=[*NegativeDataRejectionConfig._DEFAULT_EXPECTED_STATUSES, "207", "413"]
)
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
    max_examples=EXAMPLES,
    database="none",
)


@pytest.fixture
def _keep_connection():
    """The WSGI handler closes the DB connection after each request (as in production);
    inside a test transaction it must stay open, as Django's test client arranges too."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def admin_token(db, settings, _keep_connection):
    settings.API_AUTH_FAILURE_LIMIT = 0
    settings.API_THROTTLE_RATES = {}  # thousands of requests from one token: no budget applies
    admin = UserFactory(username="fuzz_admin", role="admin")
    return make_token(admin, [scope for scope, _ in ApiToken.Scope.choices])


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    # CI replays the same generated requests every run (a red build always means a change
    # broke something); FUZZ_RANDOM=1 explores new ones.
    derandomize=os.environ.get("FUZZ_RANDOM") != "1",
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_api_operation_never_fails_and_matches_its_schema(case, admin_token):
    REQUESTS["count"] += 1
    response = case.call_and_validate(
        headers={"Authorization": f"Bearer {admin_token}"},
        # A schema-valid filter may still name a record that does not exist (400): fine.
        excluded_checks=[positive_data_acceptance],
    )
    status = response.status_code
    REQUESTS["statuses"][status] = REQUESTS["statuses"].get(status, 0) + 1


def test_fuzz_report(capsys):
    with capsys.disabled():
        sys.stdout.write(
            f"\nschemathesis: {OPERATIONS} operations, {REQUESTS['count']} generated requests, "
            "statuses "
            f"{dict(sorted(REQUESTS['statuses'].items()))}\n"
        )
