# The contact a converted lead became or was linked to: a nullable Lead.contact, indexed only
# where set (the leads table is large; imports should not pay for it). No row is rewritten.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0002_contacts'),
        ('leads', '0005_lean_indexes'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='lead',
            name='contact',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='leads', to='accounts.contact'),
        ),
        migrations.AddIndex(
            model_name='lead',
            index=models.Index(condition=models.Q(('contact__isnull', False)), fields=['contact'], name='lead_contact'),
        ),
    ]
