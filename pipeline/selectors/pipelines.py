"""Reads about pipelines themselves (not their deals)."""

from __future__ import annotations

from pipeline.models import Pipeline


def default_pipeline() -> Pipeline | None:
    """The default pipeline: the live one marked default, else the first live one (a
    database whose pipelines were made outside `create_pipeline` may have none marked).
    None when there is no live pipeline. The board's landing page, new deals from the API,
    lead conversion, the account page and the reports all start from this one rule."""
    return (
        Pipeline.objects.filter(is_archived=False).order_by("-is_default", "order", "name").first()
    )
