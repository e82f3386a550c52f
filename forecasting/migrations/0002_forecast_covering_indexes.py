"""Covering indexes for the forecast rollup on pipeline_opportunity (PostgreSQL only).

They belong to the pipeline app's table but are added here, clearly named `forecast_*`,
so the rollup's two range scans (open deals by expected close date, won deals by closed
date) are index-only: no visit to the table at 1M deals.

Since pipeline 0003 the model declares them (Opportunity.Meta.indexes); that migration adopts
the ones made here and creates them wherever this one did not (SQLite).
"""

from django.db import migrations

INDEXES = {
    "forecast_opp_close_cover": "(expected_close_date) INCLUDE (owner_id, stage_id, forecast_category, amount)",
    "forecast_opp_closed_cover": "(closed_at) INCLUDE (owner_id, stage_id, amount)",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, columns in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON pipeline_opportunity {columns}")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("forecasting", "0001_quotas_adjustments_snapshots"),
        ("pipeline", "0001_initial"),
    ]

    operations = [migrations.RunPython(create, drop)]
