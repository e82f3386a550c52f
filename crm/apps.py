from __future__ import annotations

from django.apps import AppConfig
from django.db.models import Field, ForeignObject


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "Plumb core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # AppConfig modules load before the models: what imports them is imported here.
        from crm import registry
        from crm.api import schema  # noqa: F401  (registers the OpenAPI auth extension)
        from crm.bulk import AnyOf
        from crm.services_users import teams_manageable_by, users_manageable_by

        Field.register_lookup(AnyOf)
        ForeignObject.register_lookup(AnyOf)  # relations keep their own lookup table
        # Users and teams have a History tab too; who may read it is who may manage them.
        registry.register_history("users", users_manageable_by)
        registry.register_history("teams", teams_manageable_by)
