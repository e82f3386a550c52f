"""manage.py restore_backup FILE --into URL: restore a backup into a new, empty database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm.backup import fingerprint, restore_database


class Command(BaseCommand):
    help = (
        "Restore a `manage.py backup` file into a new database (postgres://… that exists and "
        "is empty, or sqlite:////path that does not exist), then print its table count."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("backup", type=Path)
        parser.add_argument("--into", required=True, help="DATABASE_URL of the new database.")

    def handle(self, *args: Any, backup: Path, into: str, **options: Any) -> None:
        if not backup.is_file():
            raise CommandError(f"{backup} is not a file.")
        try:
            restore_database(backup=backup, into_url=into)
        except ValueError as error:
            raise CommandError(str(error)) from None
        tables = fingerprint(into)
        rows = sum(count for count, _ in tables.values())
        self.stdout.write(f"Restored {len(tables)} tables, {rows} rows.")
