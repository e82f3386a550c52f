"""The lead fields a client may send (import records, PATCH, the edit form), as one table of
parsers. Each parser both checks a value and describes it: `clean_lead_fields` validates a
record with the table, and leads.api builds the OpenAPI schema of a record from the same
table, so what the API documents is what the import accepts — field for field, no mirror.

No queries here: `owner` comes back as a user id, checked by the caller, set-based.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from leads.models import Lead

MAX_ATTRIBUTES_BYTES = 16 * 1024
# A strict subset of what Django's EmailValidator accepts (dot-atom user, LDH labels, alpha
# TLD): most addresses pass this one compiled regex; the rest get the full validator.
COMMON_EMAIL = re.compile(
    r"[a-z0-9_%+-]+(?:\.[a-z0-9_%+-]+)*@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\Z"
)


class Invalid(Exception):
    """A sent value a parser refuses; the message goes to the client as that field's error."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _max_length(name: str) -> int:
    max_length = getattr(Lead._meta.get_field(name), "max_length", None)
    assert isinstance(max_length, int), name  # every text column the table names has one
    return max_length


@dataclass(frozen=True)
class FieldParser:
    """One sendable lead field: `parse` turns a JSON value into the stored value (or raises
    Invalid), `schema` is its OpenAPI description. `column` is the model attribute it writes;
    `max_length` the column's length, for text."""

    name: str
    max_length: int = 0

    help: ClassVar[str] = ""
    # Set when the schema should be a named component (an enum), as DRF's ChoiceField makes.
    component: ClassVar[str | None] = None

    @property
    def column(self) -> str:
        return self.name

    def parse(self, value: Any) -> Any:
        raise NotImplementedError

    def schema(self) -> dict[str, Any]:
        raise NotImplementedError

    def description(self) -> str:
        return self.help


@dataclass(frozen=True)
class Text(FieldParser):
    """Plain text; trimmed, null = empty, at most the column's length."""

    def parse(self, value: Any) -> str:
        if value is None:
            return ""
        if not isinstance(value, str):
            raise Invalid("Expected a string.")
        text = value.strip()
        if len(text) > self.max_length:
            raise Invalid(f"At most {self.max_length} characters.")
        return text

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "nullable": True}

    def description(self) -> str:
        return (
            f"At most {self.max_length} characters (surrounding spaces are trimmed; null = empty)."
        )


@dataclass(frozen=True)
class Email(FieldParser):
    """A valid address, stored trimmed and in lower case."""

    help: ClassVar[str] = (
        "Needed when matching on email, and for every new lead; stored trimmed and in lower case."
    )

    def parse(self, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise Invalid("A valid e-mail address is required.")
        email = normalise_email(value)
        if len(email) > self.max_length:
            raise Invalid(f"At most {self.max_length} characters.")
        if COMMON_EMAIL.match(email):
            return email
        try:
            validate_email(email)
        except ValidationError:
            raise Invalid("Enter a valid e-mail address.") from None
        return email

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "minLength": 1}


@dataclass(frozen=True)
class ExternalId(FieldParser):
    """The sender's id: text or a whole number (stored as text); null or blank clears it."""

    help: ClassVar[str] = "Your id for the lead (needed when matching on it)."

    def parse(self, value: Any) -> str | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise Invalid("Expected a string.")
        text = str(value).strip()
        if len(text) > self.max_length:
            raise Invalid(f"At most {self.max_length} characters.")
        return text

    def schema(self) -> dict[str, Any]:
        return {"oneOf": [{"type": "string"}, {"type": "integer"}], "nullable": True}


@dataclass(frozen=True)
class Count(FieldParser):
    """A whole number from 0 to the column's maximum, or its digits as text; null/"" = none."""

    MAXIMUM: ClassVar[int] = 2_147_483_647
    help: ClassVar[str] = "A whole number (or its digits as text); null for unknown."

    def parse(self, value: Any) -> int | None:
        if value is None or value == "":
            return None
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise Invalid("Expected a whole number.")
        try:
            number = int(value)
        except ValueError:
            raise Invalid("Expected a whole number.") from None
        if not 0 <= number <= self.MAXIMUM:
            raise Invalid(f"Must be between 0 and {self.MAXIMUM}.")
        return number

    def schema(self) -> dict[str, Any]:
        return {
            "oneOf": [
                {"type": "integer", "minimum": 0, "maximum": self.MAXIMUM},
                {"type": "string", "description": "digits"},
            ],
            "nullable": True,
        }


@dataclass(frozen=True)
class Source(FieldParser):
    """One of Lead.Source."""

    component: ClassVar[str | None] = "LeadRecordSourceEnum"

    def parse(self, value: Any) -> str:
        # isinstance first: {} or [] is unhashable
        if not isinstance(value, str) or value not in Lead.Source.values:
            raise Invalid(f"Expected one of: {', '.join(sorted(Lead.Source.values))}.")
        return value

    def schema(self) -> dict[str, Any]:
        choices = sorted(Lead.Source.choices)
        return {
            "type": "string",
            "enum": [value for value, _ in choices],
            "description": "\n".join(f"* `{value}` - {label}" for value, label in choices),
        }


@dataclass(frozen=True)
class Attributes(FieldParser):
    """Custom data: a JSON object of at most 16 KB, merged into what is stored."""

    help: ClassVar[str] = "Custom data (at most 16 KB), merged into what is stored."

    def parse(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise Invalid("Expected a JSON object.")
        if not _surely_small(value) and json_size(value) > MAX_ATTRIBUTES_BYTES:
            raise Invalid("At most 16 KB of custom attributes.")
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "object", "additionalProperties": {}}


@dataclass(frozen=True)
class Owner(FieldParser):
    """A user id or null (whether the sender may assign that user is the caller's check)."""

    help: ClassVar[str] = "A user id, or null for unassigned."

    @property
    def column(self) -> str:
        return "owner_id"

    def parse(self, value: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid("Expected a user id or null.")
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "integer", "nullable": True}


TEXT_NAMES = (
    "first_name",
    "last_name",
    "phone",
    "title",
    "company",
    "industry",
    "country",
    "region",
    "campaign",
    "utm_source",
    "utm_medium",
    "utm_campaign",
)
# The table: every field a client may send, in the order the schema lists them.
PARSERS: dict[str, FieldParser] = {
    parser.name: parser
    for parser in (
        Email("email", _max_length("email")),
        ExternalId("external_id", _max_length("external_id")),
        *(Text(name, _max_length(name)) for name in TEXT_NAMES),
        Count("employee_count"),
        Source("source"),
        Attributes("attributes"),
        Owner("owner"),
    )
}
# Known lead fields a client may read but not write: named as read-only, not "unknown".
READ_ONLY_FIELDS = frozenset(
    {
        "id",
        "score",
        "fit_score",
        "engagement_score",
        "score_breakdown",
        "stage",
        "account",
        "created_at",
        "updated_at",
        "first_contacted_at",
        *(f"{stage}_at" for stage in Lead.Lifecycle.values if stage != "new"),
    }
)


def normalise_email(value: str) -> str:
    return value.strip().lower()


def clean_lead_fields(
    data: Any, *, partial: bool = True
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Check one record's shape (no queries): returns (clean values, field errors).

    Only sent fields appear in the clean values, so callers never blank out what was not sent.
    """
    if not isinstance(data, dict):
        return {}, {"non_field_errors": ["Expected a JSON object for each lead."]}
    clean: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    unknown = []
    for name, value in data.items():
        parser = PARSERS.get(name)
        if parser is not None:
            try:
                clean[name] = parser.parse(value)
            except Invalid as error:
                errors[name] = [error.message]
        elif name in READ_ONLY_FIELDS:
            errors[name] = ["This field is read-only."]
        else:
            unknown.append(str(name))
    if unknown:
        errors["non_field_errors"] = [
            f"Unknown field(s): {', '.join(sorted(unknown))}. Put custom data in attributes."
        ]
    if not partial and "email" not in clean and "email" not in errors:
        errors["email"] = ["This field is required."]
    return clean, errors


def json_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")))


def _surely_small(value: dict[str, Any]) -> bool:
    """Cheap proof that a flat object serialises under 16 KB (≤ 32 keys, short keys and
    values, each char at most 6 bytes escaped), so most records skip the exact json.dumps."""
    if len(value) > 32:
        return False
    for key, item in value.items():
        if len(key) > 40:
            return False
        if isinstance(item, str):
            if len(item) > 40:
                return False
        elif not isinstance(item, int | float | bool | None):
            return False
    return True


def merge_attributes(current: dict[str, Any], sent: dict[str, Any]) -> dict[str, Any]:
    """Shallow merge: sent keys replace, a key sent as null is removed, others are kept."""
    merged = {**current, **sent}
    return {k: v for k, v in merged.items() if v is not None}
