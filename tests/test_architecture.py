"""The architecture's own rules, beyond the import contracts (pyproject.toml, `lint-imports`)."""

from __future__ import annotations

import pytest
from django.db import connection

from leads.models import Lead
from leads.services import transition_lead
from tests.factories import LeadFactory
from tests.lead_stage_guard import ROOT, LeadStageWrittenOutsideLeads, guard

pytestmark = pytest.mark.django_db


def test_a_lead_stage_written_from_another_app_is_refused(rep):
    # given: SQL that sets a lead's stage, sent from this test module pretending to be pipeline
    code = compile(
        'connection.cursor().execute("UPDATE \\"leads_lead\\" SET \\"stage\\" = \'mql\'")',
        str(ROOT / "pipeline" / "sneaky.py"),
        "exec",
    )
    # when / then
    with connection.execute_wrapper(guard), pytest.raises(LeadStageWrittenOutsideLeads):
        exec(code, {"connection": connection})


def test_the_leads_app_may_write_a_lead_stage(rep):
    lead = LeadFactory(owner=rep, stage=Lead.Lifecycle.NEW)
    with connection.execute_wrapper(guard):
        transition_lead(lead=lead, to=Lead.Lifecycle.MQL, by=rep)
    lead.refresh_from_db()
    assert lead.stage == Lead.Lifecycle.MQL
