"""Forms of the lead pages: they check shape; leads.services decide."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db import models

from activities import forms as activity_forms
from crm.models import Team, User
from leads import selectors, services
from leads.csv_import import FIELD_CHOICES
from leads.models import Lead, LeadReason
from pipeline.models import Opportunity, Pipeline
from pipeline.selectors import default_pipeline


def style(form: forms.Form, *, small: bool = False) -> None:
    """Bootstrap classes on every widget (templates stay plain `{{ field }}`)."""
    size = "-sm" if small else ""
    for field in form.fields.values():
        widget = field.widget
        if isinstance(widget, forms.CheckboxInput):
            css = "form-check-input"
        elif isinstance(widget, forms.Select | forms.SelectMultiple):
            css = f"form-select form-select{size}" if small else "form-select"
        else:
            css = f"form-control form-control{size}" if small else "form-control"
        widget.attrs["class"] = f"{widget.attrs.get('class', '')} {css}".strip()


def choice_field(form: forms.BaseForm, name: str) -> forms.ChoiceField:
    """A form's choice field, typed (so its choices can be set per request)."""
    field = form.fields[name]
    assert isinstance(field, forms.ChoiceField), name
    return field


def model_choice_field(form: forms.BaseForm, name: str) -> forms.ModelChoiceField:
    """A form's model choice field, typed (so its queryset can be narrowed per request)."""
    field = form.fields[name]
    assert isinstance(field, forms.ModelChoiceField), name
    return field


class StyledForm(forms.Form):
    small = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        style(self, small=self.small)


class LeadFilterForm(forms.Form):
    """The leads list's filters (GET). Invalid values are ignored, never a 500."""

    q = forms.CharField(required=False, label="Search", max_length=200)
    stage = forms.ChoiceField(required=False, choices=[("", "Any stage"), *Lead.Lifecycle.choices])
    owner = forms.ChoiceField(required=False)
    team = forms.ModelChoiceField(
        required=False, queryset=Team.objects.none(), empty_label="Any team"
    )
    source = forms.ChoiceField(required=False, choices=[("", "Any source"), *Lead.Source.choices])
    score_min = forms.IntegerField(required=False, label="Score ≥")
    score_max = forms.IntegerField(required=False, label="Score ≤")
    created_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    created_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    sort = forms.ChoiceField(required=False, choices=[(k, k) for k in selectors.SORTS])

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        owners = [(str(u.pk), str(u)) for u in services.assignable_owners(user=user)]
        choice_field(self, "owner").choices = [
            ("", "Anyone"),
            ("me", "My leads"),
            ("none", "Unassigned"),
            *owners,
        ]
        model_choice_field(self, "team").queryset = (
            Team.objects.all()
            if user.is_admin or user.role == User.Role.MARKETING
            else Team.objects.subtree_of(user)
            if user.is_manager
            else Team.objects.filter(pk=user.team_id)
            if user.team_id is not None
            else Team.objects.none()
        )
        style(self, small=True)

    def cleaned_filters(self) -> dict[str, Any]:
        if self.is_valid():
            return self.cleaned_data
        return {k: v for k, v in self.cleaned_data.items() if k not in self.errors}


class BulkActionForm(forms.Form):
    """Bulk actions on the checked rows of the leads list."""

    ACTIONS = [("assign", "Assign owner"), ("stage", "Change stage"), ("disqualify", "Disqualify")]

    action = forms.ChoiceField(choices=ACTIONS)
    ids = forms.TypedMultipleChoiceField(coerce=int, choices=[])
    owner = forms.ModelChoiceField(queryset=User.objects.none(), required=False)
    stage = forms.ChoiceField(
        required=False,
        choices=[
            ("", "—"),
            *[
                (s, label)
                for s, label in Lead.Lifecycle.choices
                if s in (Lead.Lifecycle.MQL, Lead.Lifecycle.SRL, Lead.Lifecycle.SQL)
            ],
        ],
    )
    reason = forms.ModelChoiceField(
        queryset=LeadReason.objects.none(), required=False, to_field_name="label"
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        model_choice_field(self, "owner").queryset = services.assignable_owners(user=user)
        model_choice_field(self, "reason").queryset = selectors.lead_reasons(
            kind=LeadReason.Kind.DISQUALIFY
        )
        # Any integer is a valid choice here; the view scopes ids to the user's leads.
        self.fields["ids"].valid_value = lambda value: str(value).isdigit()  # type: ignore[attr-defined]
        style(self, small=True)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        action = data.get("action")
        if action == "assign" and not data.get("owner"):
            self.add_error("owner", "Choose the new owner.")
        if action == "stage" and not data.get("stage"):
            self.add_error("stage", "Choose the stage.")
        if action == "disqualify" and not data.get("reason"):
            self.add_error("reason", "Choose a reason.")
        return data


class TransitionForm(StyledForm):
    """One lifecycle move from the lead page."""

    to = forms.ChoiceField(choices=Lead.Lifecycle.choices)
    reason = forms.CharField(required=False, max_length=200)
    note = forms.CharField(
        required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )


class ConvertForm(StyledForm):
    """sql → converted: the new opportunity's pipeline, amount, close date and deal type."""

    pipeline = forms.ModelChoiceField(queryset=Pipeline.objects.filter(is_archived=False))
    amount = forms.DecimalField(max_digits=14, decimal_places=2, min_value=0)
    expected_close_date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    deal_type = forms.ChoiceField(choices=Opportunity.DealType.choices)
    name = forms.CharField(required=False, max_length=200, label="Deal name (optional)")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        default = default_pipeline()
        if default is not None:
            self.fields["pipeline"].initial = default.pk


class BantForm(forms.Form):
    """Budget, authority, need, timeline: each a yes/no (or not asked) plus a short note."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for item in Lead.BANT:
            self.fields[f"{item}_confirmed"] = forms.NullBooleanField(
                required=False,
                label=item.capitalize(),
                widget=forms.NullBooleanSelect,
            )
            self.fields[f"{item}_confirmed"].widget.choices = [
                ("unknown", "Not asked"),
                ("true", "Yes"),
                ("false", "No"),
            ]
            self.fields[f"{item}_note"] = forms.CharField(
                required=False, max_length=300, label=f"{item.capitalize()} note"
            )
        style(self, small=True)


class ActivityForm(activity_forms.ActivityForm):
    """Log an activity or schedule a task on the lead (full-size controls)."""

    small = False


class LeadEditForm(forms.Form):
    """The lead's own fields (owner via Assign, stage via the lifecycle buttons)."""

    FIELDS = (
        "first_name",
        "last_name",
        "email",
        "phone",
        "title",
        "company",
        "employee_count",
        "industry",
        "country",
        "region",
        "source",
        "campaign",
        "external_id",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in self.FIELDS:
            model_field = Lead._meta.get_field(name)
            assert isinstance(model_field, models.Field), name
            form_field = model_field.formfield(required=name == "email")
            assert form_field is not None, name  # every edited column has a form field
            self.fields[name] = form_field
        style(self, small=True)

    def changed_values(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in self.changed_data}


class AssignForm(forms.Form):
    owner = forms.ModelChoiceField(queryset=User.objects.none())

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        model_choice_field(self, "owner").queryset = services.assignable_owners(user=user)
        style(self, small=True)


class CsvUploadForm(StyledForm):
    file = forms.FileField(label="CSV file (UTF-8, first row = headers)")
    match_on = forms.ChoiceField(
        choices=[("email", "E-mail"), ("external_id", "External id")], initial="email"
    )


class CsvMappingForm(forms.Form):
    """Header → lead field for each column of the uploaded file, and optionally save it."""

    save_as = forms.CharField(required=False, max_length=100, label="Save this mapping as")

    def __init__(
        self, *args: Any, headers: list[str], initial_map: dict[str, str], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.headers = headers
        for position, header in enumerate(headers):
            self.fields[f"col_{position}"] = forms.ChoiceField(
                choices=[("", "— skip —"), *FIELD_CHOICES],
                required=False,
                label=header,
                initial=initial_map.get(header, ""),
            )
        style(self, small=True)

    def column_map(self) -> dict[str, str]:
        return {
            header: self.cleaned_data.get(f"col_{i}") or "" for i, header in enumerate(self.headers)
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        chosen = [str(data[f"col_{i}"]) for i in range(len(self.headers)) if data.get(f"col_{i}")]
        duplicates = sorted({f for f in chosen if chosen.count(f) > 1})
        if duplicates:
            raise forms.ValidationError(
                f"Each field once: {', '.join(duplicates)} is mapped twice."
            )
        return data
