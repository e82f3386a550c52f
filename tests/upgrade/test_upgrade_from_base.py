"""The upgrade proof (issue 14, Safety): a database migrated and seeded by the code before the
structural moves, then migrated by this code, holds the same rows in every model, its
content types, notification targets, audit labels and permissions resolve, and every page
answers; and the moves unapply to the very same rows.

The base commit (env PLUMB_UPGRADE_BASE, default 98b14cc: main before Activity, Account and
ReminderDelivery left crm) is checked out with `git worktree add` into a temporary
directory and run with this interpreter (the same virtualenv). It migrates and seeds a
throw-away PostgreSQL database on the server of DATABASE_URL; the test records every
table's rows, runs this code's `migrate`, and compares.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from django.db import connection

pytestmark = [pytest.mark.postgres, pytest.mark.upgrade]

ROOT = Path(__file__).resolve().parents[2]
BASE = os.environ.get("PLUMB_UPGRADE_BASE", "98b14cc")
# Tables the move renamed: old name → new name. Every other table keeps its name.
RENAMED = {
    "crm_account": "accounts_account",
    "crm_activity": "activities_activity",
    "crm_reminderdelivery": "activities_reminderdelivery",
}
# Model labels that moved (content types, audit rows): old → new.
RELABELLED = {
    ("crm", "account"): ("accounts", "account"),
    ("crm", "activity"): ("activities", "activity"),
    ("crm", "reminderdelivery"): ("activities", "reminderdelivery"),
}
# Rows the upgrade is meant to change, compared through RELABELLED instead of as stored.
REWRITTEN = {"django_content_type", "crm_auditlog"}
# Apps installed since the base (issue 21, sign-in; issue 17, webhooks) and the outbox's and
# e-mail's models (issue 15): their tables are new, and their models add permissions and
# content types; nothing else may appear or change but the reshaped tables below.
ADDED_TABLE_PREFIXES = (
    "account_",
    "mfa_",
    "socialaccount_",
    "usersessions_",
    "signin_",
    "webhooks_",
    "crm_outboxmessage",
    "activities_emailmessage",
    "activities_emailtemplate",
)
GROWN = {"auth_permission"}
# Tables given new columns since the base (issue 15): their rows must keep every old column's
# value (but those dropped), and the new ones must say what the data migration promised.
RESHAPED = {"crm_user": {"email_notifications"}, "crm_orgsettings": set()}
# The old code adds what the seed does not: a notification targeting an account and one
# targeting an activity, an audit entry for each, and a permission on accounts for rep1.
MARKERS = """
from django.contrib.auth.models import Permission
from crm import audit
from crm.models import Account, Activity, Notification, User
admin, rep = User.objects.get(username="admin"), User.objects.get(username="rep1")
account, activity = Account.objects.order_by("pk").first(), Activity.objects.order_by("pk").first()
for label, target in (("account", account), ("activity", activity)):
    Notification.objects.create(recipient=admin, verb="upgrade-probe", message=label, target=target)
    audit.record(actor=admin, action="upgrade.probe", target=target, label=label)
rep.user_permissions.add(Permission.objects.get(content_type__app_label="crm", codename="view_account"))
"""
# Issue 16 (contacts): new tables, their models' content types, and nullable columns added to
# existing tables (NULL in every upgraded row). A table's rows are compared without its added
# columns, before and after alike (`to_jsonb(row) - columns`).
ADDED_TABLES = {"accounts_contact", "accounts_contactemail", "pipeline_contactrole"}
ADDED_MODELS = {("accounts", "contact"), ("accounts", "contactemail"), ("pipeline", "contactrole")}
ADDED_COLUMNS = {
    "leads_lead": ["contact_id"],
    "crm_activity": ["contact_id"],  # the base's name of activities_activity
    "activities_activity": ["contact_id"],
}
# The old code adds what the seed does not: a notification targeting an account and one
# targeting an activity, an audit entry for each, and a permission on accounts for rep1.
MARKERS = """
from django.contrib.auth.models import Permission
from crm import audit
from crm.models import Account, Activity, Notification, User
admin, rep = User.objects.get(username="admin"), User.objects.get(username="rep1")
account, activity = Account.objects.order_by("pk").first(), Activity.objects.order_by("pk").first()
for label, target in (("account", account), ("activity", activity)):
    Notification.objects.create(recipient=admin, verb="upgrade-probe", message=label, target=target)
    audit.record(actor=admin, action="upgrade.probe", target=target, label=label)
rep.user_permissions.add(Permission.objects.get(content_type__app_label="crm", codename="view_account"))
"""


def _server() -> dict[str, Any]:
    db = connection.settings_dict
    return {
        "host": db["HOST"] or "127.0.0.1",
        "port": int(db["PORT"] or 5432),
        "user": db["USER"],
        "password": db["PASSWORD"] or None,
    }


def _url(name: str) -> str:
    s = _server()
    auth = s["user"] + (f":{s['password']}" if s["password"] else "")
    return f"postgres://{auth}@{s['host']}:{s['port']}/{name}"


def _admin(sql: str) -> None:
    conn = psycopg2.connect(dbname="postgres", **_server())
    conn.autocommit = True
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql)
    finally:
        conn.close()


@pytest.fixture
def database() -> Iterator[str]:
    name = f"plumb_upgrade_{uuid.uuid4().hex[:10]}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def base_checkout(tmp_path: Path) -> Iterator[Path]:
    found = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--verify", "--quiet", f"{BASE}^{{commit}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if found.returncode != 0:
        pytest.fail(f"base commit {BASE} is not in this clone (a shallow CI clone? fetch history)")
    path = tmp_path / "base"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), BASE],
        capture_output=True,
        check=True,
    )
    try:
        yield path
    finally:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)],
            capture_output=True,
            check=False,
        )


def _manage(cwd: Path, database: str, var: Path, *args: str) -> str:
    """`python manage.py …` of the checkout in `cwd` against `database`: embedded broker and
    cache under `var`, tasks run in-process, mail to files (nothing reaches shared Redis)."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "PYTHONPATH")}
    env.update(
        DATABASE_URL=_url(database),
        DEBUG="true",
        PLUMB_VAR_DIR=str(var),
        CELERY_TASK_ALWAYS_EAGER="true",
        EMAIL_URL=f"file://{var / 'mail'}",
    )
    done = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"{args} in {cwd}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _tables(database: str) -> dict[str, tuple[int, str]]:
    """{table: (row count, md5 of its rows in a stable order)} for every table."""
    conn = psycopg2.connect(dbname=database, **_server())
    try:
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            )
            names = [row[0] for row in cursor.fetchall()]
            result = {}
            for name in names:
                row = "t::text"
                if name in ADDED_COLUMNS:
                    dropped = ", ".join(f"'{column}'" for column in ADDED_COLUMNS[name])
                    row = f"(to_jsonb(t) - ARRAY[{dropped}])::text"
                cursor.execute(
                    f"SELECT count(*), md5(coalesce(string_agg({row}, E'\\n' ORDER BY {row}), '')) FROM \"{name}\" t"
                )
                count, digest = cursor.fetchone()
                result[name] = (count, digest)
            return result
    finally:
        conn.close()


def _rows(database: str, table: str) -> list[dict[str, Any]]:
    """Every row of `table` as a dict, in primary-key order."""
    conn = psycopg2.connect(dbname=database, **_server())
    try:
        with conn.cursor() as cursor:
            cursor.execute(f'SELECT * FROM "{table}" ORDER BY id')  # test-only, fixed names
            names = [column.name for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        conn.close()


def _reshaped_rows(database: str) -> dict[str, list[dict[str, Any]]]:
    return {table: _rows(database, table) for table in RESHAPED}


def _check_reshaped(before: dict[str, list[dict[str, Any]]], database: str) -> None:
    """Old columns kept (dropped ones aside); e-mail on → each at once, off → none; every
    settings row has an install id of its own."""
    after = _reshaped_rows(database)
    for table, dropped in RESHAPED.items():
        kept = [{k: v for k, v in row.items() if k not in dropped} for row in before[table]]
        assert [{k: row[k] for k in kept[0]} for row in after[table]] == kept, table
    users = zip(before["crm_user"], after["crm_user"], strict=True)
    assert all(
        new["email_delivery"] == ("immediate" if old["email_notifications"] else "none")
        for old, new in users
    )
    assert all(len(row["install_id"]) == 16 for row in after["crm_orgsettings"])
    assert after["crm_orgsettings"]  # made by the migration when the base had none


def _is_added_type(row: tuple[Any, ...]) -> bool:
    """A content type of a model installed since the base (sign-in apps, contacts)."""
    return f"{row[1]}_{row[2]}".startswith(ADDED_TABLE_PREFIXES) or (row[1], row[2]) in ADDED_MODELS


def _labelled_rows(database: str) -> dict[str, set[tuple[Any, ...]]]:
    """The rows the upgrade rewrites, old labels mapped to new ones."""
    relabel = {f"{a}.{m}": f"{b}.{n}" for (a, m), (b, n) in RELABELLED.items()}
    conn = psycopg2.connect(dbname=database, **_server())
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT id, app_label, model FROM django_content_type")
            types = {(pk, *RELABELLED.get((app, model), (app, model))) for pk, app, model in cursor}
            cursor.execute(
                "SELECT id, target_type, target_id, action, changes::text FROM crm_auditlog"
            )
            audit = {(pk, relabel.get(kind, kind), *rest) for pk, kind, *rest in cursor}
            return {"django_content_type": types, "crm_auditlog": audit}
    finally:
        conn.close()


def test_a_database_from_before_the_moves_upgrades_with_every_row_and_page(
    database, base_checkout, tmp_path
):
    # given: the base code's schema, demo data and a few rows naming the moved models
    var = tmp_path / "var"
    var.mkdir()
    _manage(base_checkout, database, var, "manage.py", "migrate", "--no-input", "-v0")
    _manage(base_checkout, database, var, "manage.py", "seed_demo")
    _manage(base_checkout, database, var, "manage.py", "shell", "-c", MARKERS)
    before, before_labelled = _tables(database), _labelled_rows(database)
    before_reshaped = _reshaped_rows(database)

    # when: this code migrates it
    _manage(ROOT, database, var, "manage.py", "migrate", "--no-input", "-v0")
    after, after_labelled = _tables(database), _labelled_rows(database)

    # then: every table is there (renamed ones under their new name) with the same rows
    assert before["crm_account"][0] >= 100
    assert before["crm_activity"][0] >= 100
    missing = sorted(RENAMED.get(t, t) for t in before if RENAMED.get(t, t) not in after)
    assert missing == []
    new_tables = set(after) - {RENAMED.get(t, t) for t in before}
    assert (
        sorted(
            t
            for t in new_tables
            if not t.startswith(ADDED_TABLE_PREFIXES) and t not in ADDED_TABLES
        )
        == []
    )
    changed = [
        table
        for table, state in before.items()
        if table not in REWRITTEN | GROWN | RESHAPED.keys() | {"django_migrations"}
        and after[RENAMED.get(table, table)] != state
    ]
    assert changed == []
    _check_reshaped(before_reshaped, database)
    added = {row for row in after_labelled["django_content_type"] if _is_added_type(row)}
    after_labelled["django_content_type"] -= added  # the sign-in apps' and contacts' models
    assert after_labelled == before_labelled  # labels rewritten, nothing else
    assert after["django_migrations"][0] > before["django_migrations"][0]

    # … and the labels resolve, the tables take new rows, every page answers
    out = _manage(ROOT, database, var, str(ROOT / "tests" / "upgrade" / "probe.py"))
    report = json.loads(out.split("PROBE ", 1)[1])
    labels = report["labels"]
    assert labels["stale_content_types"] == []
    assert labels["dangling_notification_targets"] == []
    assert labels["marked_notifications"] == {
        "account": "accounts.models.Account",
        "activity": "activities.models.Activity",
    }
    assert labels["unknown_audit_types"] == []
    assert labels["marked_audit"] == {
        "account": "accounts.account",
        "activity": "activities.activity",
    }
    assert labels["rep1_can_view_accounts"] is True
    assert report["inserts"] == {"account": True, "activity": True, "reminder_delivery": True}
    assert report["pages"]["errors"] == []
    assert report["pages"]["checked"] > 100

    # and the moves unapply: the old tables hold the same rows (the probe's log-in aside),
    # content types and audit labels are the base's again
    probed = _tables(database)
    for app in ("accounts", "activities"):
        _manage(ROOT, database, var, "manage.py", "migrate", app, "zero", "--no-input", "-v0")
    reverted = {
        table: state
        for table, state in _tables(database).items()
        if not table.startswith(ADDED_TABLE_PREFIXES)  # the sign-in apps stay migrated
    }
    assert ADDED_TABLES.isdisjoint(reverted)  # unapplied with the accounts app
    assert sorted(reverted) == sorted(before)
    assert [
        table
        for table in before
        if table not in REWRITTEN | GROWN | {"django_migrations"}
        and reverted[table] != probed[RENAMED.get(table, table)]
    ] == []
    assert reverted["crm_auditlog"] == before["crm_auditlog"]
    reverted_labelled = _labelled_rows(database)
    reverted_labelled["django_content_type"] = {
        row for row in reverted_labelled["django_content_type"] if not _is_added_type(row)
    }
    assert reverted_labelled == before_labelled
