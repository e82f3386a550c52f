"""Forms of the activities app: logging an activity or scheduling a task (every record page),
writing an e-mail from a record, and e-mail templates. Shape only: the services decide."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet

from activities.models import Activity, EmailTemplate
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


def split_addresses(raw: str) -> list[str]:
    """ "ann@x.com, Bob Lee <bob@y.com>; c@z.com" → one item per address. Commas inside
    quotes or angle brackets stay (`"Lee, Bob" <bob@y.com>`); each item is checked later."""
    items: list[str] = []
    current: list[str] = []
    quoted = angled = False
    for char in raw:
        if char == '"':
            quoted = not quoted
        elif char == "<":
            angled = True
        elif char == ">":
            angled = False
        if char in ",;\r\n" and not quoted and not angled:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    items.append("".join(current))
    return [item.strip() for item in items if item.strip()]


class EmailComposeForm(forms.Form):
    template = forms.ModelChoiceField(
        queryset=EmailTemplate.objects.none(), required=False, empty_label="No template"
    )
    to = forms.CharField(help_text="Separate addresses with commas.")
    cc = forms.CharField(required=False, label="Cc")
    subject = forms.CharField(max_length=998)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 8}), strip=False)

    def __init__(self, *args: Any, templates: QuerySet[EmailTemplate], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        template = self.fields["template"]
        if isinstance(template, forms.ModelChoiceField):  # declared above
            template.queryset = templates
        self.fields["to"].widget.attrs["list"] = "compose-recipients"
        bootstrap(self)

    def clean_to(self) -> list[str]:
        return split_addresses(self.cleaned_data["to"])

    def clean_cc(self) -> list[str]:
        return split_addresses(self.cleaned_data["cc"])


class EmailTemplateForm(forms.Form):
    name = forms.CharField(max_length=120)
    subject = forms.CharField(max_length=998)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 10}), strip=False)
    shared = forms.BooleanField(required=False, label="Shared with everyone")

    def __init__(self, *args: Any, can_share: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not can_share:
            del self.fields["shared"]
        bootstrap(self)
