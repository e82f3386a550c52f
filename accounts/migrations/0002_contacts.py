# Contacts: the people at accounts, and their e-mail addresses (one row each, stored
# normalised, unique across all contacts). New tables only: existing rows are untouched.

import django.db.models.deletion
import django.db.models.functions.text
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0001_move_from_crm'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Contact',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('created_at', models.DateTimeField(auto_now_add=True, db_index=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('first_name', models.CharField(blank=True, max_length=100)),
                ('last_name', models.CharField(blank=True, max_length=100)),
                ('phone', models.CharField(blank=True, max_length=50)),
                ('title', models.CharField(blank=True, max_length=150)),
                ('unsubscribed', models.BooleanField(default=False)),
                ('do_not_contact', models.BooleanField(default=False)),
                ('notes', models.TextField(blank=True)),
                ('account', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='contacts', to='accounts.account')),
                ('owner', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='contacts', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['last_name', 'first_name', 'pk'],
            },
        ),
        migrations.CreateModel(
            name='ContactEmail',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('email', models.EmailField(max_length=254)),
                ('is_primary', models.BooleanField(default=False)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('contact', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='emails', to='accounts.contact')),
            ],
            options={
                'ordering': ['-is_primary', 'email'],
            },
        ),
        migrations.AddIndex(
            model_name='contact',
            index=models.Index(fields=['last_name', 'first_name'], name='contact_name'),
        ),
        migrations.AddConstraint(
            model_name='contactemail',
            constraint=models.UniqueConstraint(fields=('email',), name='contact_email_unique'),
        ),
        migrations.AddConstraint(
            model_name='contactemail',
            constraint=models.UniqueConstraint(condition=models.Q(('is_primary', True)), fields=('contact',), name='contact_one_primary_email'),
        ),
        migrations.AddConstraint(
            model_name='contactemail',
            constraint=models.CheckConstraint(condition=models.Q(('email', ''), _negated=True), name='contact_email_not_blank'),
        ),
        migrations.AddConstraint(
            model_name='contactemail',
            constraint=models.CheckConstraint(condition=models.Q(('email', django.db.models.functions.text.Lower('email'))), name='contact_email_lower_case'),
        ),
    ]
