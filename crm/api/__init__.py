"""The core API: token auth and scopes, errors, strict filters, cursor pages, safe parsers, the
schema hooks, and the core endpoints (me, users, teams, audit)."""
