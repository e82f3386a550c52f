# Activities can be logged on a contact: a nullable Activity.contact (indexed where set, newest
# first, for a contact's timeline) and a subject check that accepts a contact. Existing rows
# all have a lead or a deal, so they pass the new check; no row is rewritten.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0002_contacts'),
        ('activities', '0001_move_from_crm'),
        ('leads', '0005_lean_indexes'),
        ('pipeline', '0003_opportunity_forecast_covering_indexes'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='activity',
            name='activity_has_subject',
        ),
        migrations.AddField(
            model_name='activity',
            name='contact',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='activities', to='accounts.contact'),
        ),
        migrations.AddIndex(
            model_name='activity',
            index=models.Index(condition=models.Q(('contact__isnull', False)), fields=['contact', '-created_at'], name='activity_contact_at'),
        ),
        migrations.AddConstraint(
            model_name='activity',
            constraint=models.CheckConstraint(condition=models.Q(('lead__isnull', False), ('opportunity__isnull', False), ('contact__isnull', False), _connector='OR'), name='activity_has_subject'),
        ),
    ]
