"""Forms for Settings → Lead routing. Shape only: `leads.assignment_rules` decides."""

from __future__ import annotations

from typing import Any

from django import forms

from crm.models import Team, User
from leads.models import AssignmentRule, Lead


class ListField(forms.Field):
    """Comma-separated values ↔ a list of trimmed, non-empty strings (repeats dropped)."""

    def prepare_value(self, value: Any) -> Any:
        return ", ".join(value) if isinstance(value, list) else value

    def to_python(self, value: Any) -> list[str]:
        seen: dict[str, None] = {}
        for part in str(value or "").split(","):
            if part.strip():
                seen.setdefault(part.strip(), None)
        return list(seen)


def _bootstrap(form: forms.BaseForm) -> None:
    """Bootstrap 5 classes on every widget (templates stay markup-only)."""
    for field in form.fields.values():
        widget = field.widget
        if isinstance(widget, forms.CheckboxSelectMultiple):
            continue
        if isinstance(widget, forms.CheckboxInput):
            widget.attrs["class"] = "form-check-input"
        elif isinstance(widget, forms.Select | forms.SelectMultiple):
            widget.attrs["class"] = "form-select form-select-sm"
        else:
            widget.attrs["class"] = "form-control form-control-sm"


class AssignmentRuleForm(forms.ModelForm):
    regions = ListField(required=False, help_text="Comma-separated, e.g. EMEA, APAC.")
    countries = ListField(required=False, help_text="Comma-separated, e.g. DE, FR.")
    industries = ListField(required=False, help_text="Comma-separated.")
    sources = forms.MultipleChoiceField(
        choices=Lead.Source.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    target_team = forms.ModelChoiceField(queryset=Team.objects.all(), required=False)
    target_reps = forms.ModelMultipleChoiceField(
        queryset=User.objects.filter(is_active=True, role=User.Role.REP),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 8}),
    )

    class Meta:
        model = AssignmentRule
        fields = [
            "name",
            "priority",
            "is_active",
            "is_fallback",
            "regions",
            "countries",
            "employee_min",
            "employee_max",
            "score_min",
            "score_max",
            "sources",
            "industries",
            "target_team",
            "target_reps",
            "method",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _bootstrap(self)
