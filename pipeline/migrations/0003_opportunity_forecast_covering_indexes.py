"""The forecast rollup's covering indexes move into Opportunity.Meta, replacing the plain
indexes on the same keys (every deal write paid for both on PostgreSQL).

On PostgreSQL forecasting 0002 created them already (raw SQL, before the model could say
so): this migration adopts them into the model state and builds them only where missing.
Elsewhere (SQLite) they are created here, as plain indexes on their key columns.
"""

from django.db import migrations, models

COVERING = [
    models.Index(
        fields=["expected_close_date"],
        include=["owner", "stage", "forecast_category", "amount"],
        name="forecast_opp_close_cover",
    ),
    models.Index(
        fields=["closed_at"],
        include=["owner", "stage", "amount"],
        name="forecast_opp_closed_cover",
    ),
]


def _existing(schema_editor):
    with schema_editor.connection.cursor() as cursor:
        constraints = schema_editor.connection.introspection.get_constraints(
            cursor, "pipeline_opportunity"
        )
    return set(constraints)


def create_missing(apps, schema_editor):
    model = apps.get_model("pipeline", "Opportunity")
    existing = _existing(schema_editor)
    for index in COVERING:
        if index.name not in existing:
            schema_editor.add_index(model, index)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        return  # forecasting 0002 made them there, and its own reverse drops them
    model = apps.get_model("pipeline", "Opportunity")
    existing = _existing(schema_editor)
    for index in COVERING:
        if index.name in existing:
            schema_editor.remove_index(model, index)


class Migration(migrations.Migration):
    dependencies = [
        ("pipeline", "0002_stage_one_won_per_pipeline"),
        # On PostgreSQL the indexes come from there first; this adopts them.
        ("forecasting", "0002_forecast_covering_indexes"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="opportunity", name="opp_close_date"),
        migrations.RemoveIndex(model_name="opportunity", name="opp_closed_at"),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(model_name="opportunity", index=index) for index in COVERING
            ],
            database_operations=[migrations.RunPython(create_missing, drop, elidable=False)],
        ),
    ]
