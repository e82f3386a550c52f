# Leaner lead indexes, so bulk imports and scoring write less (PostgreSQL figures from the
# import and scoring benchmarks):
# - e-mail and external_id are unique through named constraints instead of unique=True, which
#   dropped the two LIKE-pattern (varchar_pattern_ops) indexes nothing queries;
# - no separate owner index: lead_owner_stage (owner, stage) serves lookups by owner;
# - no score index, and a table fillfactor of 85: score writes change no indexed column and
#   find room on their page, so PostgreSQL updates them in place (HOT) instead of inserting
#   into all ten remaining indexes, the trigram GIN index among them. PostgreSQL only.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def set_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE leads_lead SET (fillfactor = 85)")


def reset_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE leads_lead RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0004_audit_log"),
        ("leads", "0004_assignment_rules"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="lead",
            name="email",
            field=models.EmailField(max_length=254),
        ),
        migrations.AlterField(
            model_name="lead",
            name="external_id",
            field=models.CharField(blank=True, max_length=100, null=True),
        ),
        migrations.AlterField(
            model_name="lead",
            name="owner",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="leads",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="lead",
            name="score",
            field=models.IntegerField(default=0),
        ),
        migrations.AddConstraint(
            model_name="lead",
            constraint=models.UniqueConstraint(fields=("email",), name="lead_unique_email"),
        ),
        migrations.AddConstraint(
            model_name="lead",
            constraint=models.UniqueConstraint(
                fields=("external_id",), name="lead_unique_external_id"
            ),
        ),
        migrations.RunPython(set_fillfactor, reset_fillfactor, elidable=False),
    ]
