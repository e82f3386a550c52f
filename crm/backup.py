"""Backups of the whole database while Plumb runs, restores into a new database, and a
fingerprint to prove a restored copy holds the same rows.

PostgreSQL: `pg_dump --format=custom` (one consistent snapshot; `pg_restore` reads it).
SQLite: the online backup API (`sqlite3.Connection.backup`), which copies a consistent
snapshot page by page while other processes keep writing; WAL contents included, so never copy
the file itself while Plumb runs.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess  # nosec B404 -- pg_dump/pg_restore with argument lists, never a shell
from datetime import datetime
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.db import connections

Fingerprint = dict[str, tuple[int, str]]


def _database(url: str) -> dict[str, Any]:
    """Django's settings dict for a database URL (postgres://… or sqlite:///path)."""
    try:
        return dict(dj_database_url.parse(url))
    except ValueError as error:
        raise ValueError(
            f"Not a database URL ({error}): use postgres://… or sqlite:///path."
        ) from None


def _is_postgres(db: dict[str, Any]) -> bool:
    return str(db["ENGINE"]).endswith("postgresql")


def _pg_args(db: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    args = []
    if db.get("HOST"):
        args += ["--host", str(db["HOST"])]
    if db.get("PORT"):
        args += ["--port", str(db["PORT"])]
    if db.get("USER"):
        args += ["--username", str(db["USER"])]
    env = {**os.environ}
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = str(db["PASSWORD"])  # not on the command line, where ps shows it
    return args, env


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ImproperlyConfigured(
            f"{name} is not installed: install PostgreSQL's client (Debian: postgresql-client)."
        )
    return path


def backup_database(*, directory: Path, now: datetime, alias: str = "default") -> Path:
    """Write one consistent copy of the database to `directory` and return its path.

    Safe while web, worker and beat run: pg_dump reads one snapshot; SQLite's backup API
    restarts its copy if another connection writes mid-way, so the result is never torn.
    """
    db = connections[alias].settings_dict
    directory.mkdir(parents=True, exist_ok=True)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    if _is_postgres(db):
        target = directory / f"plumb-{stamp}.dump"
        args, env = _pg_args(db)
        subprocess.run(  # nosec B603 -- fixed program, arguments from settings
            [
                _tool("pg_dump"),
                "--format=custom",
                "--no-owner",
                "--file",
                str(target),
                *args,
                str(db["NAME"]),
            ],
            env=env,
            check=True,
        )
        return target
    target = directory / f"plumb-{stamp}.sqlite3"
    connection = connections[alias]
    connection.ensure_connection()
    source = connection.connection
    destination = sqlite3.connect(target)
    try:
        with destination:
            source.backup(destination)
    finally:
        destination.close()
    return target


def restore_database(*, backup: Path, into_url: str) -> None:
    """Restore `backup` into the *empty* database `into_url` (a new PostgreSQL database, or a
    SQLite path that does not exist yet). Refuses a database that holds tables already:
    restore next to the old copy, check it, then switch DATABASE_URL over."""
    db = _database(into_url)
    if _is_postgres(db):
        if not str(backup).endswith(".dump"):
            raise ValueError(f"{backup} is not a pg_dump file (.dump).")
        if fingerprint(into_url):
            raise ValueError(f"{db['NAME']} is not empty: restore into a new database.")
        args, env = _pg_args(db)
        subprocess.run(  # nosec B603 -- fixed program, arguments from settings
            [
                _tool("pg_restore"),
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                *args,
                "--dbname",
                str(db["NAME"]),
                str(backup),
            ],
            env=env,
            check=True,
        )
        return
    target = Path(db["NAME"])
    if target.exists():
        raise ValueError(f"{target} exists: restore into a new file.")
    source = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    destination = sqlite3.connect(target)
    try:
        with destination:
            source.backup(destination)
    finally:
        source.close()
        destination.close()


def fingerprint(url: str) -> Fingerprint:
    """Every table's row count and a digest of all its rows, read with the plain driver: two
    databases with equal fingerprints hold the same data."""
    return fingerprint_database(_database(url))


def fingerprint_database(db: dict[str, Any]) -> Fingerprint:
    """`fingerprint` of a database given as Django's settings dict (DATABASES[alias])."""
    if _is_postgres(db):
        import psycopg2  # only where a PostgreSQL database is fingerprinted; no cycle

        conn: Any = psycopg2.connect(
            dbname=db["NAME"],
            user=db.get("USER") or None,
            password=db.get("PASSWORD") or None,
            host=db.get("HOST") or None,
            port=db.get("PORT") or None,
        )
    else:
        name = str(db["NAME"])
        # Tests use a shared in-memory database, which only a URI names.
        conn = sqlite3.connect(
            name if name.startswith("file:") else f"file:{name}?mode=ro", uri=True
        )
    try:
        return fingerprint_connection(conn, postgres=_is_postgres(db))
    finally:
        conn.close()


def fingerprint_connection(conn: Any, *, postgres: bool) -> Fingerprint:
    """`fingerprint` over an open DB-API connection (psycopg2 or sqlite3)."""
    cursor = conn.cursor()
    if postgres:
        cursor.execute("SET TIME ZONE 'UTC'")  # timestamps read alike on every connection
        cursor.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )
    else:
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    tables = [row[0] for row in cursor.fetchall()]
    result: Fingerprint = {}
    for table in tables:  # one query per table: a backup check, not a page
        quoted = '"' + table.replace('"', '""') + '"'
        cursor.execute(f"SELECT * FROM {quoted}")  # nosec B608 -- names from the catalogue
        # Sorted as text, not by SQL: some column types have no ordering (json).
        lines = sorted(repr(tuple(_normal(value) for value in row)) for row in cursor.fetchall())
        result[table] = (len(lines), hashlib.sha256("\n".join(lines).encode()).hexdigest())
    cursor.close()
    return result


def _normal(value: Any) -> Any:
    # Drivers hand back memoryview for bytea/blob: compare bytes, not object identities.
    return bytes(value) if isinstance(value, memoryview) else value
