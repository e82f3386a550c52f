"""The core pages: dashboard, notifications, health (core), users/teams/profile/audit (admin),
API tokens (tokens), error pages (errors)."""
