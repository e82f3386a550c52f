"""Forms for the board, the deal pages and pipeline settings. Shape only: services decide."""

from __future__ import annotations

from typing import Any

from django import forms

from accounts.models import Account
from activities.forms import ActivityForm as ActivityForm  # the deal page's, shared
from crm.forms import bootstrap
from crm.models import OrgSettings, User, users_visible_to
from leads.sweeps import SWEEP_SETTING_FIELDS
from pipeline.models import ForecastCategory, LostReason, Opportunity, Pipeline, Stage
from pipeline.selectors import BoardFilters

DATE = forms.DateInput(attrs={"type": "date"})


class BoardFilterForm(forms.Form):
    """The board's URL filters. Invalid values are dropped, never an error page."""

    owner = forms.CharField(required=False)
    team = forms.IntegerField(required=False)
    deal_type = forms.ChoiceField(
        required=False,
        choices=[("", "Any deal type"), *Opportunity.DealType.choices],
        widget=forms.Select(attrs={"class": "form-select form-select-sm", "id": "f-type"}),
    )
    close_from = forms.DateField(required=False, widget=DATE)
    close_to = forms.DateField(required=False, widget=DATE)
    stale = forms.BooleanField(required=False)
    q = forms.CharField(required=False, max_length=100)

    def filters(self) -> BoardFilters:
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        owner = str(data.get("owner") or "")
        return BoardFilters(
            owner=owner if owner in ("me", "team") or owner.isdigit() else "",
            team=data.get("team"),
            deal_type=data.get("deal_type") or "",
            close_from=data.get("close_from"),
            close_to=data.get("close_to"),
            stale=bool(data.get("stale")),
            q=(data.get("q") or "").strip(),
        )


class MoveCardForm(forms.Form):
    """A drop or a "Move to…" choice. The pipeline's live stages come from the caller (the
    view loads them once for the form and the column headers)."""

    stage = forms.TypedChoiceField(coerce=int, choices=())
    version = forms.IntegerField(min_value=1)
    lost_reason = forms.ModelChoiceField(
        queryset=LostReason.objects.filter(is_active=True), required=False
    )
    lost_note = forms.CharField(required=False, max_length=300)
    after_id = forms.IntegerField(required=False)
    before_id = forms.IntegerField(required=False)
    via = forms.ChoiceField(choices=[("drag", "drag"), ("menu", "menu")], required=False)

    def __init__(self, *args: Any, stages: dict[int, Stage], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stages = stages
        self.fields["stage"].choices = [(pk, s.name) for pk, s in stages.items()]  # type: ignore[attr-defined]

    def clean_stage(self) -> Stage:
        return self.stages[self.cleaned_data["stage"]]


class OpportunityForm(forms.ModelForm):
    """Create or edit a deal. Choices are limited to what the user may see."""

    class Meta:
        model = Opportunity
        fields = [
            "name",
            "account",
            "owner",
            "amount",
            "expected_close_date",
            "deal_type",
            "forecast_category",
            "next_step",
            "next_step_date",
        ]
        widgets = {"expected_close_date": DATE, "next_step_date": DATE}

    def __init__(self, *args: Any, user: User, creating: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        bootstrap(self)
        self.fields["account"].queryset = Account.objects.visible_to(user)  # type: ignore[attr-defined]
        self.fields["owner"].queryset = users_visible_to(user).exclude(  # type: ignore[attr-defined]
            role=User.Role.MARKETING
        )
        if creating:
            self.fields["deal_type"].required = False
            self.fields["deal_type"].choices = [  # type: ignore[attr-defined]
                ("", "From the account (customer = expansion)"),
                *Opportunity.DealType.choices,
            ]
            self.fields["forecast_category"].required = False
            self.fields["forecast_category"].choices = [  # type: ignore[attr-defined]
                ("", "From the stage"),
                *ForecastCategory.choices,
            ]
            self.fields["owner"].required = False


class NewOpportunityForm(OpportunityForm):
    stage = forms.ModelChoiceField(queryset=Stage.objects.none())

    class Meta(OpportunityForm.Meta):
        fields = [*OpportunityForm.Meta.fields]

    def __init__(self, *args: Any, user: User, pipeline: Pipeline, **kwargs: Any) -> None:
        super().__init__(*args, user=user, creating=True, **kwargs)
        bootstrap(self)
        self.fields["stage"].queryset = pipeline.stages.filter(  # type: ignore[attr-defined]
            kind=Stage.Kind.OPEN, is_archived=False
        )


class BootstrapForm(forms.Form):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        bootstrap(self)


class PipelineForm(BootstrapForm):
    name = forms.CharField(max_length=100)
    is_default = forms.BooleanField(required=False, label="Default pipeline")


class StageForm(forms.ModelForm):
    class Meta:
        model = Stage
        fields = ["name", "probability", "kind", "forecast_category", "rot_after_days", "wip_limit"]
        labels = {"wip_limit": "WIP limit", "probability": "Probability %"}

    def __init__(self, *args: Any, form_id: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        bootstrap(self)
        if form_id:  # a table row's inputs belong to the row's <form> by its id
            for field in self.fields.values():
                field.widget.attrs["form"] = form_id
                field.widget.attrs["aria-label"] = str(field.label)
        # Uniqueness and the shape rule are checked by the services (they see the pipeline).
        self.fields["wip_limit"].widget.attrs["placeholder"] = "none"


class LostReasonForm(BootstrapForm):
    label = forms.CharField(max_length=100)
    is_active = forms.BooleanField(required=False, initial=True, label="Offered")


class FollowUpSettingsForm(forms.ModelForm):
    """The Follow-up page's organisation settings: speed-to-lead SLA, stale deals, zombie
    leads. Saved together by `leads.sweeps.update_sweep_settings` (one audit entry)."""

    class Meta:
        model = OrgSettings
        fields = list(SWEEP_SETTING_FIELDS)
        labels = {
            "first_contact_sla_minutes": "First-contact SLA (minutes)",
            "sla_escalation_minutes": "Escalate to the manager after (minutes past the SLA)",
            "stale_escalate_after_days": "Escalate a stale deal after (days)",
            "stale_auto_close_after_days": "Auto-close a stale deal after (days; empty = never)",
            "zombie_lead_days": "Recycle MQL leads without engagement after (days)",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        bootstrap(self)
