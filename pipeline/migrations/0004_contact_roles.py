# Deal contact roles (the buying committee): a new table with one contact per deal once and at
# most one primary per deal. Existing rows are untouched.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0002_contacts'),
        ('pipeline', '0003_opportunity_forecast_covering_indexes'),
    ]

    operations = [
        migrations.CreateModel(
            name='ContactRole',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('created_at', models.DateTimeField(auto_now_add=True, db_index=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('role', models.CharField(choices=[('decision_maker', 'Decision maker'), ('economic_buyer', 'Economic buyer'), ('champion', 'Champion'), ('influencer', 'Influencer'), ('user', 'User'), ('technical_evaluator', 'Technical evaluator'), ('other', 'Other')], default='other', max_length=24)),
                ('is_primary', models.BooleanField(default=False)),
                ('contact', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='deal_roles', to='accounts.contact')),
                ('opportunity', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='contact_roles', to='pipeline.opportunity')),
            ],
            options={
                'ordering': ['-is_primary', 'pk'],
                'constraints': [models.UniqueConstraint(fields=('opportunity', 'contact'), name='contactrole_once_per_deal', violation_error_message='This contact is already on the deal.'), models.UniqueConstraint(condition=models.Q(('is_primary', True)), fields=('opportunity',), name='contactrole_one_primary', violation_error_message='A deal has one primary contact.')],
            },
        ),
    ]
