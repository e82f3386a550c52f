"""The password-reset link's token: Django's (single-use: it signs the password hash and the
last login, so it stops working once either changes), valid PASSWORD_RESET_LINK_MINUTES."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.utils.http import base36_to_int


class ResetTokenGenerator(PasswordResetTokenGenerator):
    key_salt = "signin.tokens.ResetTokenGenerator"  # an invitation token is no reset token

    def check_token(self, user: object, token: str | None) -> bool:
        if not super().check_token(user, token) or not token:  # type: ignore[arg-type]
            return False
        try:
            ts = base36_to_int(token.split("-")[0])
        except ValueError:
            return False
        age = self._num_seconds(self._now()) - ts
        return age <= settings.PASSWORD_RESET_LINK_MINUTES * 60


reset_token_generator = ResetTokenGenerator()
