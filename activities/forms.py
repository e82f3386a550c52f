"""The form every record page uses to log an activity or schedule a task. Shape only:
activities.services.create_activity decides."""

from __future__ import annotations

from typing import Any

from django import forms

from activities.models import Activity
from crm.forms import bootstrap


class ActivityForm(forms.Form):
    """Log an activity or schedule a task on a lead, deal or contact."""

    small = True  # the deal and contact pages' compact controls

    kind = forms.ChoiceField(choices=Activity.Kind.choices)
    subject = forms.CharField(max_length=200)
    body = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    due_at = forms.DateTimeField(
        required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        bootstrap(self, small=self.small)
