# Account moves here from crm, keeping its rows: the state moves (Lead.account and
# Opportunity.account now point at accounts.Account), the table is renamed
# (crm_account → accounts_account), then the content type and the audit labels follow (see
# crm/migration_ops.py). It runs after the leads and pipeline migrations that created those
# foreign keys to crm.Account; nothing in crm's migrations depends on this one.

from django.db import migrations

from crm.migration_ops import MoveModel, RelabelModel


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("crm", "0004_audit_log"),
        ("leads", "0001_initial"),
        ("pipeline", "0001_initial"),
    ]

    operations = [
        MoveModel("Account", from_app="crm"),
        RelabelModel("Account", from_app="crm"),
    ]
