"""OpenAPI description of Plumb's token authentication (drf-spectacular extension)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """`Authorization: Bearer plumb_<prefix>_<secret>` (Settings → API tokens)."""

    target_class = "crm.api_auth.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "plumb_<prefix>_<secret>",
            "description": "An API token from Settings → API tokens, acting as its owner "
            "narrowed to its scopes.",
        }
