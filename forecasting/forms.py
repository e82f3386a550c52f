"""Forms for the forecast pages: quarter/node choice, adjustments, quota cells and import."""

from __future__ import annotations

from typing import Any

from django import forms

from forecasting.periods import fiscal_start_month, parse_period


class PeriodField(forms.CharField):
    def __init__(self, *, allow_month: bool = False, **kwargs: Any) -> None:
        self.allow_month = allow_month
        super().__init__(max_length=7, **kwargs)

    def clean(self, value: object) -> object:
        value = super().clean(value)
        if value in (None, ""):
            return None
        try:
            return parse_period(str(value), fiscal_start_month(), allow_month=self.allow_month)
        except forms.ValidationError as exc:
            raise forms.ValidationError(exc.message_dict["period"]) from None


class ForecastFilterForm(forms.Form):
    period = PeriodField(required=False)
    team = forms.IntegerField(required=False, min_value=1)
    user = forms.IntegerField(required=False, min_value=1)


class AdjustmentForm(forms.Form):
    period = forms.CharField(max_length=7, widget=forms.HiddenInput)
    user = forms.IntegerField(required=False, widget=forms.HiddenInput)
    team = forms.IntegerField(required=False, widget=forms.HiddenInput)
    amount = forms.CharField(
        required=False, max_length=20, help_text="Leave empty to remove the adjustment."
    )
    note = forms.CharField(required=False, max_length=500)


class QuotaCellForm(forms.Form):
    period = forms.CharField(max_length=7)
    user = forms.IntegerField(required=False)
    team = forms.IntegerField(required=False)
    amount = forms.CharField(required=False, max_length=20)


class QuotaImportForm(forms.Form):
    file = forms.FileField(help_text="CSV with columns period, username or team, amount.")

    def clean_file(self) -> bytes:
        upload = self.cleaned_data["file"]
        if upload.size > 2 * 1024 * 1024:
            raise forms.ValidationError("The file is larger than 2 MB.")
        return upload.read()


class ReportFilterForm(forms.Form):
    period = PeriodField(required=False, allow_month=True)
    pipeline = forms.IntegerField(required=False, min_value=1)
    owner = forms.IntegerField(required=False, min_value=1)
    created_from = forms.DateField(required=False)
    created_to = forms.DateField(required=False)


class PipelineSizeForm(forms.Form):
    target_revenue = forms.CharField(required=False)
    avg_deal_size = forms.CharField(required=False)
    close_rate = forms.CharField(required=False, help_text="0.8 or 80 (%).")
    reps = forms.CharField(required=False)
