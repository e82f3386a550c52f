"""Form plumbing shared by every app's pages."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError


def bootstrap(form: forms.BaseForm, *, small: bool = True) -> None:
    """Bootstrap's classes on every widget, small controls by default, so templates stay
    loops over plain `{{ field }}`. A class set on a widget already is kept."""
    size = " form-select-sm" if small else ""
    control = " form-control-sm" if small else ""
    for field in form.fields.values():
        widget = field.widget
        if isinstance(widget, forms.CheckboxInput):
            css = "form-check-input"
        elif isinstance(widget, forms.Select):
            css = f"form-select{size}"
        else:
            css = f"form-control{control}"
        widget.attrs.setdefault("class", css)


def add_validation_error(form: forms.BaseForm, error: ValidationError) -> None:
    """Show a service's ValidationError on the form that caused it.

    A field dict puts each message on its field (or on the form when the form has no such
    field); a plain error becomes a form-wide message. Services raise, views call this once.
    """
    if hasattr(error, "error_dict"):
        for name, messages in error.message_dict.items():
            form.add_error(name if name in form.fields else None, messages)
    else:
        form.add_error(None, error.messages)
