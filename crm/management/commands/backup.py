"""manage.py backup [--directory DIR]: one consistent copy of the database (see crm.backup)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from crm.backup import backup_database


class Command(BaseCommand):
    help = "Back up the database while Plumb runs (pg_dump -Fc, or SQLite's online backup)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--directory",
            type=Path,
            default=None,
            help="Where to write the backup (default: BACKUP_DIR, else var/backups).",
        )

    def handle(self, *args: Any, directory: Path | None, **options: Any) -> None:
        target = backup_database(directory=directory or settings.BACKUP_DIR, now=timezone.now())
        self.stdout.write(f"{target}")
