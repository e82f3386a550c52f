"""Migration operations that move a model from one app to another, keeping every row.

Django's own `RenameModel` works inside one app. Moving a model between apps (Account from
`crm` to `accounts`) the usual way needs a state-only `DeleteModel` in the old app that
depends on every app whose foreign keys point at the model — which would make the core's
migrations depend on the features again. These operations run in the *new* app instead:

- `MoveModel("Account", from_app="crm")` moves the model's state (fields, indexes,
  constraints) to the migration's app, repoints every relation in the project state at it,
  and renames its table to the new app's default name (`crm_account` → `accounts_account`).
  Foreign keys in other tables follow a table rename by themselves: PostgreSQL keeps them by
  the table's OID, SQLite (≥ 3.26, `legacy_alter_table` off, as Django sets it) rewrites them.
  Indexes, constraints and sequences keep their names; Django finds them by introspection.
- `RelabelModel("Account", from_app="crm")` renames the content type (so generic foreign keys
  such as `Notification.target`, admin log entries and permissions keep pointing at the same
  rows) and rewrites the model label stored in audit rows (`crm.account` → `accounts.account`,
  see `crm.audit.target_type_of`). Run it after the `MoveModel`s of a migration, so every
  table is renamed before any row is written.

Both are reversible. The migration must depend on every migration that created a relation
to the model in its old app (they name it `crm.account`), and on contenttypes for the labels.
"""

from __future__ import annotations

from typing import Any

from django.db import router
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.operations.base import Operation
from django.db.migrations.state import ProjectState
from django.db.migrations.utils import get_references  # type: ignore[attr-defined]  # not in django-stubs


class MoveModel(Operation):
    """Move model `name` from `from_app` to this migration's app (state and table)."""

    reversible = True
    reduces_to_sql = True

    def __init__(self, name: str, *, from_app: str) -> None:
        self.name = name
        self.from_app = from_app

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return (self.__class__.__qualname__, [self.name], {"from_app": self.from_app})

    def state_forwards(self, app_label: str, state: ProjectState) -> None:
        _move_state(state, self.name, from_app=self.from_app, to_app=app_label)

    def database_forwards(
        self,
        app_label: str,
        schema_editor: BaseDatabaseSchemaEditor,
        from_state: ProjectState,
        to_state: ProjectState,
    ) -> None:
        old = from_state.apps.get_model(self.from_app, self.name)
        new = to_state.apps.get_model(app_label, self.name)
        if self.allow_migrate_model(schema_editor.connection.alias, new):
            schema_editor.alter_db_table(new, old._meta.db_table, new._meta.db_table)

    def database_backwards(
        self,
        app_label: str,
        schema_editor: BaseDatabaseSchemaEditor,
        from_state: ProjectState,
        to_state: ProjectState,
    ) -> None:
        # Unapplying: `from_state` has the model in this app, `to_state` back in `from_app`.
        moved = from_state.apps.get_model(app_label, self.name)
        back = to_state.apps.get_model(self.from_app, self.name)
        if self.allow_migrate_model(schema_editor.connection.alias, back):
            schema_editor.alter_db_table(back, moved._meta.db_table, back._meta.db_table)

    def references_model(self, name: str, app_label: str) -> bool:
        return name.lower() == self.name.lower()

    def describe(self) -> str:
        return f"Move model {self.name} from {self.from_app}"

    @property
    def migration_name_fragment(self) -> str:
        return f"move_{self.name.lower()}"


def _move_state(state: ProjectState, name: str, *, from_app: str, to_app: str) -> None:
    """`ProjectState.rename_model`, across apps: the model state changes app, every field
    pointing at it is repointed, the relation cache and the rendered apps follow."""
    lower = name.lower()
    old_key, new_key = (from_app, lower), (to_app, lower)
    moved = state.models[old_key].clone()
    moved.app_label = to_app
    state.models[new_key] = moved
    to_reload = set()
    for model_state, field_name, field, reference in get_references(state, old_key):
        changed = field.clone()
        if reference.to:
            changed.remote_field.model = f"{to_app}.{name}"
        if reference.through:
            changed.remote_field.through = f"{to_app}.{name}"
        model_state.fields[field_name] = changed
        to_reload.add((model_state.app_label, model_state.name_lower))
    relations = state._relations  # type: ignore[attr-defined]  # None until first asked for
    if relations is not None:
        if old_key in relations:
            relations[new_key] = relations.pop(old_key)
        for model_relations in relations.values():
            if old_key in model_relations:
                model_relations[new_key] = model_relations.pop(old_key)
    to_reload.discard(old_key)
    state.reload_models(list(to_reload), delay=True)
    state.remove_model(*old_key)
    state.reload_model(*new_key, delay=True)


class RelabelModel(Operation):
    """Rename the content type and the audit label of a model moved by `MoveModel`."""

    reversible = True
    reduces_to_sql = False

    def __init__(self, name: str, *, from_app: str) -> None:
        self.name = name
        self.from_app = from_app

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return (self.__class__.__qualname__, [self.name], {"from_app": self.from_app})

    def state_forwards(self, app_label: str, state: ProjectState) -> None:
        pass  # rows only

    def database_forwards(
        self,
        app_label: str,
        schema_editor: BaseDatabaseSchemaEditor,
        from_state: ProjectState,
        to_state: ProjectState,
    ) -> None:
        if router.allow_migrate(schema_editor.connection.alias, app_label):
            _relabel(to_state, schema_editor.connection.alias, self.name, self.from_app, app_label)

    def database_backwards(
        self,
        app_label: str,
        schema_editor: BaseDatabaseSchemaEditor,
        from_state: ProjectState,
        to_state: ProjectState,
    ) -> None:
        if router.allow_migrate(schema_editor.connection.alias, app_label):
            _relabel(to_state, schema_editor.connection.alias, self.name, app_label, self.from_app)

    def describe(self) -> str:
        return f"Relabel content type and audit rows of {self.name} (was {self.from_app})"

    @property
    def migration_name_fragment(self) -> str:
        return f"relabel_{self.name.lower()}"


def _relabel(state: ProjectState, alias: str, name: str, old_app: str, new_app: str) -> None:
    model = name.lower()
    content_types = state.apps.get_model("contenttypes", "ContentType")._default_manager
    old = content_types.using(alias).filter(app_label=old_app, model=model).first()
    if old is not None:
        stale = content_types.using(alias).filter(app_label=new_app, model=model).first()
        if stale is not None:
            _merge_content_type(state, alias, keep=old, drop=stale)
        old.app_label = new_app
        old.save(update_fields=["app_label"])
    audit = state.apps.get_model("crm", "AuditLog")._default_manager
    audit.using(alias).filter(target_type=f"{old_app}.{model}").update(
        target_type=f"{new_app}.{model}"
    )


def _merge_content_type(state: ProjectState, alias: str, *, keep: Any, drop: Any) -> None:
    """A content type for the new label exists already (a `migrate` of some other app ran
    post_migrate before this migration and created it with its default permissions): move
    what points at it to the one being renamed, drop its duplicate permissions, delete it."""
    permission = state.apps.get_model("auth", "Permission")._default_manager.using(alias)
    kept = set(permission.filter(content_type=keep).values_list("codename", flat=True))
    permission.filter(content_type=drop, codename__in=kept).delete()
    for relation in drop._meta.related_objects:
        if relation.many_to_many:
            continue
        related = relation.related_model._default_manager.using(alias)
        related.filter(**{relation.field.name: drop}).update(**{relation.field.name: keep})
    drop.delete()
