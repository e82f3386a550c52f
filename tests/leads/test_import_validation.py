"""The import's one-pass validation (no database)."""

from __future__ import annotations

from django.core.validators import validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from leads.importing.fields import COMMON_EMAIL, clean_lead_fields


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet="abz09._%+-@", min_size=1, max_size=30))
def test_fast_email_check_accepts_only_what_django_accepts(text):
    if COMMON_EMAIL.match(text):
        validate_email(text)  # raises if the fast path were too lenient


def test_unusual_but_valid_addresses_still_pass_via_the_full_validator():
    clean, errors = clean_lead_fields({"email": "o'brien@xn--bcher-kva.example"})
    assert errors == {}
    assert clean["email"] == "o'brien@xn--bcher-kva.example"


def test_only_sent_fields_are_returned():
    clean, errors = clean_lead_fields({"email": " A@B.example ", "title": None})
    assert errors == {}
    assert clean == {"email": "a@b.example", "title": ""}


def test_a_value_of_any_json_type_is_a_field_error_never_a_crash():
    """Each field meets every JSON type (an object or a list would crash a set lookup)."""
    for value in ({}, [], [1], {"a": 1}, 1.5, True, None, "x" * 300):
        record = dict.fromkeys(
            ["email", "external_id", "first_name", "employee_count", "source", "attributes"],
            value,
        )
        clean, errors = clean_lead_fields(record)  # never raises
        assert set(clean) | set(errors) == set(record)
    _, errors = clean_lead_fields({"email": "a@b.example", "source": {}})
    assert errors == {"source": [errors["source"][0]]}
    assert errors["source"][0].startswith("Expected one of: ")
