"""forecasting models: built by its issue."""

from __future__ import annotations
