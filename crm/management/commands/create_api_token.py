"""manage.py create_api_token --user USERNAME --scopes leads:write,events:write [--name N]."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm.models import User
from crm.services import create_api_token


class Command(BaseCommand):
    help = "Create an API token. The token is printed once, alone on the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", required=True)
        parser.add_argument("--scopes", required=True, help="Comma-separated, e.g. leads:write")
        parser.add_argument("--name", default="")

    def handle(self, *args: Any, user: str, scopes: str, name: str, **options: Any) -> None:
        owner = User.objects.filter(username=user, is_active=True).first()
        if owner is None:
            raise CommandError(f"No active user named {user!r}.")
        scope_list = [s.strip() for s in scopes.split(",") if s.strip()]
        try:
            token, text = create_api_token(
                user=owner, name=name or f"{user} (command line)", scopes=scope_list
            )
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None
        self.stderr.write(
            f"Token {token.name!r} for {owner.username}, scopes: {', '.join(token.scopes)}"
        )
        self.stdout.write(text)
