"""Subjects register the foreign key activities reach them through; a wrong one is refused."""

from __future__ import annotations

import pytest

from accounts.models import Account, Contact
from activities import registry
from leads.models import Lead
from pipeline.models import Opportunity


def test_leads_deals_and_contacts_are_the_subjects_in_link_order():
    assert [(s.field, s.model) for s in registry.subjects()] == [
        ("lead", Lead),
        ("opportunity", Opportunity),
        ("contact", Contact),
    ]


def test_a_subject_whose_foreign_key_points_elsewhere_is_refused():
    with pytest.raises(ValueError, match="points at"):
        registry.register_subject(field="lead", model=Account, order=5)
    assert registry.subject_for(Account) is None
