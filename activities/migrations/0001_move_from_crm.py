# Activity and ReminderDelivery move here from crm, keeping their rows: the state moves with
# every relation pointing at it, the tables are renamed (crm_activity → activities_activity,
# crm_reminderdelivery → activities_reminderdelivery), then the content types and the audit
# labels follow (see crm/migration_ops.py). Nothing in crm's migrations depends on this one.

from django.db import migrations

from crm.migration_ops import MoveModel, RelabelModel


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
        # The last migrations that know Activity as crm's (crm 0003 adds ReminderDelivery,
        # 0004 the audit log whose labels are rewritten).
        ("crm", "0004_audit_log"),
        ("leads", "0001_initial"),
        ("pipeline", "0001_initial"),
    ]

    operations = [
        MoveModel("Activity", from_app="crm"),
        MoveModel("ReminderDelivery", from_app="crm"),
        RelabelModel("Activity", from_app="crm"),
        RelabelModel("ReminderDelivery", from_app="crm"),
    ]
