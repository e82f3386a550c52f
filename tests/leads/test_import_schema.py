"""The API documents a lead record from the import's own parser table: every field the import
accepts is in the schema, described as the parser describes it, and nothing else is."""

from __future__ import annotations

import json

import pytest
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer

from leads.importing.fields import PARSERS, clean_lead_fields
from leads.models import Lead
from tests.factories import UserFactory, make_token

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schemas(django_db_blocker):
    with django_db_blocker.unblock():
        document = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(document))["components"]["schemas"]


@pytest.mark.parametrize("component", ["LeadRecordRequest", "PatchedLeadRecordRequest"])
def test_the_record_schema_lists_every_field_the_parser_accepts(schemas, component):
    properties = schemas[component]["properties"]
    assert list(properties) == list(PARSERS)
    for name, parser in PARSERS.items():
        described = properties[name]
        if parser.component:  # an enum, as its own component
            assert described == {"$ref": f"#/components/schemas/{parser.component}"}
            assert schemas[parser.component].items() >= parser.schema().items(), name
        else:
            assert described.items() >= parser.schema().items(), name
            assert described.get("description", "") == parser.description(), name


def test_the_import_body_documents_records_and_match_keys(schemas):
    body = schemas["LeadImportRequest"]["properties"]
    assert body["leads"]["items"] == {"$ref": "#/components/schemas/LeadRecordRequest"}
    assert schemas["MatchOnEnum"]["enum"] == ["email", "external_id"]


def test_a_record_sending_every_documented_field_imports(client, schemas):
    marketing = UserFactory(role="marketing")
    owner = UserFactory(role="rep")
    samples = {
        "email": " Every@Field.example ",
        "external_id": 42,
        "employee_count": "120",
        "source": "partner",
        "attributes": {"plan": "pro"},
        "owner": owner.pk,
    }
    record = {
        name: samples.get(name, f"{name} value")
        for name in schemas["LeadRecordRequest"]["properties"]
    }
    assert clean_lead_fields(record)[1] == {}
    response = client.post(
        "/api/v1/leads/import/",
        {"match_on": "email", "leads": [record]},
        content_type="application/json",
        headers={"Authorization": f"Bearer {make_token(marketing, ['leads:write'])}"},
    )
    assert response.json()["created"] == 1, response.json()
    lead = Lead.objects.get(email="every@field.example")
    assert (lead.external_id, lead.employee_count, lead.owner_id, lead.utm_medium) == (
        "42",
        120,
        owner.pk,
        "utm_medium value",
    )
