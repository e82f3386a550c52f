"""Merge fields in e-mail templates: `{{ lead.first_name }}`, `{{ sender.first_name }}` …

Not Django's template language: a template is text with named holes, nothing else. A tag
(`{% … %}`), a comment (`{# … #}`), a filter (`{{ lead.email|upper }}`) or a field nobody
registered (activities.registry.register_merge_group) is refused when the template is saved,
with a message naming it. Rendering fills each hole with its value, escaped in the HTML part.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from django.core.exceptions import ValidationError
from django.utils.html import escape

from activities import registry
from crm.models import User

HOLE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
FIELD = re.compile(r"\s*([a-z_]+)\.([a-z_]+)\s*")
FORBIDDEN = ("{%", "%}", "{#", "#}")

SENDER_FIELDS = {
    "first_name": "Your first name",
    "last_name": "Your last name",
    "full_name": "Your full name",
    "email": "Your e-mail address",
}


def known_fields() -> dict[str, dict[str, str]]:
    """{group: {field: label}} of every registered merge field."""
    return {group.name: group.fields for group in registry.merge_groups()}


def check_merge_fields(text: str, *, field_name: str) -> list[str]:
    """The merge fields `text` uses ("lead.first_name"), or ValidationError naming the first
    thing that is not one: a tag, a comment, a filter, an unclosed `{{`, an unknown field."""
    for token in FORBIDDEN:
        if token in text:
            raise ValidationError(
                {
                    field_name: f"“{token}” is not allowed: templates hold text and merge "
                    "fields like {{ lead.first_name }}, no tags or comments."
                }
            )
    known = known_fields()
    used = []
    for match in HOLE.finditer(text):
        inner = match.group(1)
        parsed = FIELD.fullmatch(inner)
        if parsed is None:
            raise ValidationError(
                {
                    field_name: f"“{{{{{inner}}}}}” is not a merge field: write {{{{ lead.first_name }}}}."
                }
            )
        group, name = parsed.groups()
        if name not in known.get(group, {}):
            raise ValidationError(
                {
                    field_name: f"Unknown merge field {{{{ {group}.{name} }}}}. Known: "
                    + ", ".join(f"{g}.{f}" for g, fields in known.items() for f in fields)
                    + "."
                }
            )
        used.append(f"{group}.{name}")
    leftover = HOLE.sub("", text)
    if "{{" in leftover or "}}" in leftover:
        raise ValidationError({field_name: "A “{{” without its “}}” (or the other way round)."})
    return used


def sender_values(user: User) -> dict[str, str]:
    return {
        "first_name": user.first_name,
        "last_name": user.last_name,
        "full_name": user.get_full_name() or user.username,
        "email": user.email,
    }


def render(text: str, values: Mapping[str, Mapping[str, str]], *, html: bool = False) -> str:
    """`text` with every merge field filled (empty when the record has no value for it),
    each value escaped when `html`."""

    def fill(match: re.Match[str]) -> str:
        parsed = FIELD.fullmatch(match.group(1))
        if parsed is None:
            return match.group(0)
        group, name = parsed.groups()
        value = str(values.get(group, {}).get(name, "") or "")
        return escape(value) if html else value

    return HOLE.sub(fill, text)
