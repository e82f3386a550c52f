"""Forms for Settings → Users, Teams, Profile and Audit. They check shape; services decide."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet

from crm.forms import bootstrap
from crm.models import Team, User
from crm.services_users import time_zone_names


class _Bootstrap(forms.Form):
    """Give every widget Bootstrap's classes (templates stay loops over fields)."""

    def _choose_from(self, name: str, queryset: QuerySet[Any]) -> None:
        """Narrow a model choice field to the rows this editor may pick."""
        field = self.fields[name]
        if not isinstance(field, forms.ModelChoiceField):
            raise TypeError(f"{name} is not a model choice field")
        field.queryset = queryset

    def _style(self) -> None:
        bootstrap(self)


class TeamChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Team) -> str:
        return f"{'— ' * obj.depth}{obj.name}"


class UserCreateForm(_Bootstrap):
    username = forms.CharField(max_length=150)
    email = forms.EmailField(required=False)
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    role = forms.ChoiceField(choices=User.Role.choices, initial=User.Role.REP)
    team = TeamChoiceField(queryset=Team.objects.none(), required=False)
    is_available = forms.BooleanField(required=False, initial=True, label="Receives new leads")
    max_open_leads = forms.IntegerField(min_value=0, max_value=100_000, initial=500)
    password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty to e-mail an invitation link instead.",
    )

    def __init__(self, *args: Any, teams: QuerySet[Team], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._choose_from("team", teams)
        self._style()


class UserEditForm(_Bootstrap):
    email = forms.EmailField(required=False)
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    role = forms.ChoiceField(choices=User.Role.choices)
    team = TeamChoiceField(queryset=Team.objects.none(), required=False)
    is_available = forms.BooleanField(required=False, label="Receives new leads")
    max_open_leads = forms.IntegerField(min_value=0, max_value=100_000, label="Lead cap")

    def __init__(self, *args: Any, teams: QuerySet[Team], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._choose_from("team", teams)
        self._style()


class MoveUserForm(_Bootstrap):
    team = TeamChoiceField(queryset=Team.objects.none())

    def __init__(self, *args: Any, teams: QuerySet[Team], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._choose_from("team", teams)
        self._style()


class ReassignForm(_Bootstrap):
    """Either round-robin over the team (no user) or everything to one user."""

    to_user = forms.ModelChoiceField(
        queryset=User.objects.none(), required=False, empty_label="Round-robin over the team"
    )

    def __init__(self, *args: Any, users: QuerySet[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._choose_from("to_user", users)
        self._style()


class TeamForm(_Bootstrap):
    name = forms.CharField(max_length=120)
    parent = TeamChoiceField(queryset=Team.objects.none(), required=False)
    manager = forms.ModelChoiceField(queryset=User.objects.none(), required=False)

    def __init__(
        self, *args: Any, teams: QuerySet[Team], managers: QuerySet[User], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._choose_from("parent", teams)
        self._choose_from("manager", managers)
        self._style()


class ProfileForm(_Bootstrap):
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    email = forms.EmailField(required=False)
    time_zone = forms.ChoiceField(required=False)
    email_delivery = forms.ChoiceField(
        choices=User.EmailDelivery.choices,
        label="E-mail me notifications",
        help_text="Invitations, password resets and sign-in alerts always come.",
    )
    digest_hour = forms.TypedChoiceField(
        choices=[(hour, f"{hour:02d}:00") for hour in range(24)],
        coerce=int,
        label="Digest at (my time zone)",
    )
    remind_before_minutes = forms.IntegerField(
        min_value=0, max_value=7 * 24 * 60, label="Remind me before tasks (minutes)"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        time_zone = self.fields["time_zone"]
        if isinstance(time_zone, forms.ChoiceField):  # declared above
            time_zone.choices = [("", "Server default (UTC)")] + [
                (name, name) for name in time_zone_names()
            ]
        self._style()


class AuditFilterForm(_Bootstrap):
    actor = forms.ModelChoiceField(queryset=User.objects.all(), required=False)
    action = forms.CharField(max_length=64, required=False)
    target_type = forms.CharField(max_length=100, required=False, label="Record type")
    target_id = forms.CharField(max_length=64, required=False, label="Record id")
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    q = forms.CharField(max_length=100, required=False, label="Record name contains")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._style()
