"""Backup → restore into a new database → the copy holds the same rows (PostgreSQL: pg_dump and
pg_restore; SQLite: the online backup API)."""

from __future__ import annotations

import shutil
import uuid

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from crm.backup import fingerprint, fingerprint_database
from leads.models import Lead
from tests.factories import LeadFactory, OpportunityFactory

pytestmark = pytest.mark.django_db(transaction=True)  # pg_dump sees committed rows only


def _source_fingerprint():
    return fingerprint_database(connection.settings_dict)


@pytest.fixture
def some_data(rep):
    LeadFactory.create_batch(3, owner=rep)
    OpportunityFactory(owner=rep, name="Acme – renewal ✓")  # not only ASCII
    return Lead.objects.count()


@pytest.fixture
def new_database(settings):
    """A URL for a database that does not exist yet (PostgreSQL: created empty, dropped after)."""
    db = connection.settings_dict
    if connection.vendor != "postgresql":
        yield lambda tmp_path: f"sqlite:///{tmp_path / 'restored.sqlite3'}"
        return
    name = f"plumb_restore_{uuid.uuid4().hex[:10]}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    url = f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{name}"
    yield lambda tmp_path: url
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')


def test_backup_then_restore_into_a_new_database_holds_the_same_rows(
    some_data, new_database, tmp_path, capsys
):
    if connection.vendor == "postgresql" and not shutil.which("pg_dump"):
        pytest.skip("pg_dump is not installed")
    # given a database with leads, a deal and everything the migrations made
    before = _source_fingerprint()
    assert before["leads_lead"][0] == some_data
    # when it is backed up and the backup restored into a new database
    call_command("backup", directory=tmp_path)
    (backup,) = tmp_path.iterdir()
    into = new_database(tmp_path)
    call_command("restore_backup", str(backup), into=into)
    # then every table holds the same rows
    after = fingerprint(into)
    assert after == before
    assert f"Restored {len(before)} tables" in capsys.readouterr().out


def test_restore_refuses_a_database_that_is_not_empty(some_data, tmp_path, new_database):
    if connection.vendor == "postgresql" and not shutil.which("pg_dump"):
        pytest.skip("pg_dump is not installed")
    call_command("backup", directory=tmp_path / "backups")
    (backup,) = (tmp_path / "backups").iterdir()
    into = new_database(tmp_path)
    call_command("restore_backup", str(backup), into=into)
    before = fingerprint(into)
    with pytest.raises(CommandError, match="restore into a new"):
        call_command("restore_backup", str(backup), into=into)
    assert fingerprint(into) == before
