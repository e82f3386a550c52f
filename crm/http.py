"""Request types for views: what the middleware stack guarantees, spelled for the type checker.

Annotations only: at run time these are Django's HttpRequest and DRF's Request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails
from rest_framework.request import Request

from crm.models import User


class AuthenticatedHttpRequest(HttpRequest):
    """A page request past LoginRequiredMiddleware (every page but those marked
    `login_not_required`): `user` is a signed-in, active User, and django-htmx has set `htmx`."""

    user: User
    htmx: HtmxDetails


if TYPE_CHECKING:

    class AuthenticatedRequest(Request):
        """An API request past IsAuthenticated (every API view): `user` is a User."""

        @property
        def user(self) -> User: ...

        @user.setter
        def user(self, value: User) -> None: ...

else:
    AuthenticatedRequest = Request
