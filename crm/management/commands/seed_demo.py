"""manage.py seed_demo [--password PW] [--if-empty]: a believable demo org, idempotent."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm import registry
from crm.models import User
from crm.seed import seed_org


class Command(BaseCommand):
    help = "Create the demo organisation (teams, users, and each app's demo data). Safe to re-run."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--password", default="demo", help="Password for every demo user.")
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing when any user exists already."
        )

    def handle(self, *args: Any, password: str, if_empty: bool, **options: Any) -> None:
        if not settings.PLUMB_DEMO:
            # Demo users (admin included) share one known password: never by accident.
            raise CommandError(
                "seed_demo creates users with a shared password: with DEBUG=false it runs only "
                "when PLUMB_DEMO=true."
            )
        if if_empty and User.objects.exists():
            self.stdout.write("Demo data exists already: not reseeding.")
            return
        org = seed_org(password=password)
        # Each app registers its seeder (crm.registry) with an order: routing rules need the
        # org, deals need accounts and leads, scoring needs leads, forecasting needs deals.
        for seeder in registry.demo_seeders():
            counts = seeder.run(org)
            if counts:
                summary = ", ".join(f"{n} {what}" for what, n in counts.items())
                self.stdout.write(f"  {seeder.label}: {summary}")
        self.stdout.write(self.style.SUCCESS("Demo organisation ready."))
        self.stdout.write(
            f"Logins (password: {password}): admin, manager1, manager2, rep1 … rep12, marketing"
        )
