"""Settings → Webhooks forms: the choices offered depend on who edits (webhooks.services)."""

from __future__ import annotations

from typing import Any

from django import forms

from crm.models import User
from webhooks import services
from webhooks.models import EVENT_TYPES


class WebhookSubscriptionForm(forms.Form):
    url = forms.CharField(
        max_length=2000,
        label="URL",
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/hooks/plumb"}),
    )
    events = forms.MultipleChoiceField(choices=(), widget=forms.CheckboxSelectMultiple)
    acting_user = forms.ModelChoiceField(
        queryset=User.objects.none(),
        label="Acts as",
        help_text="Payloads only ever hold records this user may see, checked at every send.",
    )
    is_active = forms.BooleanField(required=False, initial=True, label="Active")

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        events = services.allowed_events(user)
        field = self.fields["events"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = [(name, f"{name}: {EVENT_TYPES[name]}") for name in events]
        acting = self.fields["acting_user"]
        assert isinstance(acting, forms.ModelChoiceField)
        acting.queryset = User.objects.filter(pk__in=[u.pk for u in services.acting_users(user)])
        acting.initial = user.pk
