"""Which records reach an account: the features register their foreign keys to Account here.

A rep or manager sees an account they own in scope, or one that holds a lead or a deal they
can see. Leads and deals live in features above this app, so those features register the
link from their `AppConfig.ready()` (`register_reach(model=Lead, field="account")`), and
`Account.objects.visible_to(user)` asks each registered model's own `visible_to`.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models


@dataclass(frozen=True)
class AccountReach:
    """`model.<field>` is a foreign key to Account; `model`'s manager has `visible_to(user)`."""

    model: type[models.Model]
    field: str


_reach: dict[type[models.Model], AccountReach] = {}


def register_reach(*, model: type[models.Model], field: str = "account") -> None:
    if not hasattr(model._default_manager, "visible_to"):
        raise TypeError(f"{model._meta.label} has no visible_to(user)")
    _reach[model] = AccountReach(model=model, field=field)


def reach() -> list[AccountReach]:
    """Every registered link to Account, in registration order."""
    return list(_reach.values())


def reach_for(model: type[models.Model]) -> AccountReach | None:
    return _reach.get(model)
