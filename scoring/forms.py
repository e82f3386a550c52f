"""Scoring forms: a rule (inline add/edit), the threshold and decay, the backtest period."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.utils import timezone

from crm.forms import bootstrap
from scoring.engine import FIELD_CHOICES
from scoring.models import Category, EventType, Operator


class RuleForm(forms.Form):
    """Shape only (types, required); `services.clean_rule` decides what a valid rule is and
    its field errors are added back onto this form."""

    name = forms.CharField(max_length=120)
    category = forms.ChoiceField(choices=Category.choices)
    field = forms.CharField(max_length=120, required=False)
    operator = forms.ChoiceField(choices=[("", "—"), *Operator.choices], required=False)
    value = forms.CharField(
        max_length=500, required=False, help_text="Lists and ranges: comma-separated."
    )
    event_type = forms.CharField(max_length=50, required=False)
    url_pattern = forms.CharField(max_length=300, required=False)
    points = forms.IntegerField(min_value=-1000, max_value=1000)
    max_occurrences = forms.IntegerField(min_value=1, required=False)
    window_days = forms.IntegerField(min_value=1, required=False)
    active = forms.BooleanField(required=False, initial=True)

    FIELD_SUGGESTIONS = FIELD_CHOICES
    EVENT_SUGGESTIONS = EventType.values

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        bootstrap(self)
        self.fields["field"].widget.attrs.update(
            list="scoring-fields", placeholder="industry or attributes.plan"
        )
        self.fields["event_type"].widget.attrs.update(
            list="scoring-events", placeholder="email_opened"
        )
        self.fields["url_pattern"].widget.attrs["placeholder"] = "/pricing"

    def rule_fields(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        value = data.get("value") or None
        data["value"] = value
        return data

    @staticmethod
    def initial_for(rule: Any) -> dict[str, Any]:
        value = rule.value
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        return {
            "name": rule.name,
            "category": rule.category,
            "field": rule.field,
            "operator": rule.operator,
            "value": "" if value is None else value,
            "event_type": rule.event_type,
            "url_pattern": rule.url_pattern,
            "points": rule.points,
            "max_occurrences": rule.max_occurrences,
            "window_days": rule.window_days,
            "active": rule.active,
        }


class ScoringSettingsForm(forms.Form):
    mql_threshold = forms.IntegerField(min_value=1, max_value=10000, label="MQL threshold")
    decay_percent = forms.IntegerField(min_value=0, max_value=100, label="Engagement decay (%)")
    decay_days = forms.IntegerField(min_value=1, max_value=3650, label="per days without activity")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        bootstrap(self)


class BacktestForm(forms.Form):
    start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))

    @staticmethod
    def default_initial() -> dict[str, Any]:
        today = timezone.localdate()
        return {"start": today - timedelta(days=180), "end": today}

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            raise forms.ValidationError("The period must start before it ends.")
        return data
