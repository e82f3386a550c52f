"""OpenAPI description of Plumb's token authentication (drf-spectacular extension)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """`Authorization: Bearer plumb_<prefix>_<secret>` (Settings → API tokens)."""

    target_class = "crm.api.auth.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "plumb_<prefix>_<secret>",
            "description": "An API token from Settings → API tokens, acting as its owner "
            "narrowed to its scopes.",
        }


ERROR_RESPONSES = {
    "400": "Invalid input: field errors ({field: [messages]}) or a detail message.",
    "401": "Missing, invalid or revoked API token.",
    "403": "The token lacks the scope, or the user's role does not allow it.",
    "404": "Not found, or outside what the caller may see (ids never leak).",
    "405": "Method not allowed.",
    "409": "Conflict: the record changed meanwhile (reload and retry).",
    "413": "The request body is too large.",
    "415": "Unsupported media type.",
    "429": "Too many requests (see Retry-After).",
}
ERROR_SCHEMA = {
    "type": "object",
    "description": "`detail` for one message; otherwise field name → list of messages.",
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": True,
}


def document_error_responses(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: every operation documents the error answers the
    whole API shares, so clients (and schemathesis) know them."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("Error", ERROR_SCHEMA)
    ref = {"$ref": "#/components/schemas/Error"}
    for methods in result.get("paths", {}).values():
        for operation in methods.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for status, description in ERROR_RESPONSES.items():
                operation["responses"].setdefault(
                    status,
                    {"description": description, "content": {"application/json": {"schema": ref}}},
                )
    return result
