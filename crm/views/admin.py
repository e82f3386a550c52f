"""Settings → Users, Teams, Profile, Password, Audit log and record history.

Admins manage every user and team; managers manage their subtree (sub-teams, moving reps);
everyone edits their own profile. Objects outside the editor's scope answer 404.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import PasswordChangeForm
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.forms import Form
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse_lazy
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from crm import audit, registry, selectors
from crm import services_users as services
from crm.csv_export import csv_response
from crm.forms import add_validation_error
from crm.forms_admin import (
    AuditFilterForm,
    MoveUserForm,
    ProfileForm,
    ReassignForm,
    TeamForm,
    UserCreateForm,
    UserEditForm,
)
from crm.http import AuthenticatedHttpRequest
from crm.models import Team, User
from crm.permissions import is_admin, is_manager_or_admin, require


def _require_admin(request: AuthenticatedHttpRequest) -> None:
    require(is_admin(request.user), "Only admins can do that.")


def _require_user_admin(request: AuthenticatedHttpRequest) -> None:
    """Admins and managers (for their subtree) reach the users and teams pages."""
    require(is_manager_or_admin(request.user), "Only admins and managers manage users and teams.")


def _status(request: AuthenticatedHttpRequest, form: Form) -> int:
    """Invalid POSTs re-render with 422 (htmx swaps it, see base.html's htmx-config)."""
    return 422 if request.method == "POST" and form.errors else 200


# --- users -------------------------------------------------------------------------------------


@require_GET
def user_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    _require_user_admin(request)
    q = request.GET.get("q", "").strip()[:100]
    users = services.users_for_admin(by=request.user, q=q)
    page = Paginator(users, 100).get_page(request.GET.get("page"))
    return render(request, "crm/admin/users.html", {"page": page, "q": q})


@require_http_methods(["GET", "POST"])
def user_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    _require_admin(request)
    teams = services.teams_manageable_by(request.user)
    form = UserCreateForm(request.POST or None, teams=teams)
    if request.method == "POST" and form.is_valid():
        try:
            created = services.create_user(by=request.user, **form.cleaned_data)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            if created.invite_url:
                messages.success(
                    request,
                    f"{created.user.username} is invited: an e-mail with this link went to "
                    f"{created.user.email}: {created.invite_url}",
                )
            else:
                messages.success(request, f"User {created.user.username} created.")
            return redirect("settings:user_edit", pk=created.user.pk)
    return render(request, "crm/admin/user_new.html", {"form": form}, status=_status(request, form))


def _managed_user(request: AuthenticatedHttpRequest, pk: int) -> User:
    _require_user_admin(request)
    return get_object_or_404(
        services.users_manageable_by(request.user).select_related("team"), pk=pk
    )


def _user_page(request: AuthenticatedHttpRequest, subject: User, **forms: Form) -> dict[str, Any]:
    teams = services.teams_manageable_by(request.user)
    targets = (
        services.users_manageable_by(request.user).filter(is_active=True).exclude(pk=subject.pk)
    )
    context: dict[str, Any] = {
        "subject": subject,
        "open_work": selectors.open_work(user=subject),
        "round_robin": services.round_robin_targets(user=subject),
        "history": audit.history_for(subject, limit=20),
        "move_form": MoveUserForm(initial={"team": subject.team_id}, teams=teams),
        "reassign_form": ReassignForm(users=targets),
    }
    if request.user.is_admin:
        context["edit_form"] = UserEditForm(
            initial={f: getattr(subject, f) for f in services.USER_ADMIN_FIELDS if f != "team"}
            | {"team": subject.team_id},
            teams=teams,
        )
    context.update(forms)
    return context


@require_http_methods(["GET", "POST"])
def user_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    subject = _managed_user(request, pk)
    if request.method == "GET":
        return render(request, "crm/admin/user_edit.html", _user_page(request, subject))
    _require_admin(request)
    form = UserEditForm(request.POST, teams=services.teams_manageable_by(request.user))
    if form.is_valid():
        try:
            services.update_user(by=request.user, user=subject, **form.cleaned_data)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, f"{subject.username} saved.")
            return redirect("settings:user_edit", pk=subject.pk)
    context = _user_page(request, subject, edit_form=form)
    return render(request, "crm/admin/user_edit.html", context, status=422)


@require_POST
def user_move(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    subject = _managed_user(request, pk)
    form = MoveUserForm(request.POST, teams=services.teams_manageable_by(request.user))
    if form.is_valid():
        try:
            services.move_user(by=request.user, user=subject, team=form.cleaned_data["team"])
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, f"{subject.username} moved to {form.cleaned_data['team']}.")
            return redirect("settings:user_edit", pk=subject.pk)
    context = _user_page(request, subject, move_form=form)
    return render(request, "crm/admin/user_edit.html", context, status=422)


@require_POST
def user_deactivate(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    subject = _managed_user(request, pk)
    _require_admin(request)
    try:
        services.deactivate_user(by=request.user, user=subject)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request,
            f"{subject.username} is deactivated: they cannot log in and their API tokens are "
            "revoked. Reassign their open work below.",
        )
    return redirect("settings:user_edit", pk=subject.pk)


@require_POST
def user_reactivate(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    subject = _managed_user(request, pk)
    _require_admin(request)
    services.reactivate_user(by=request.user, user=subject)
    messages.success(request, f"{subject.username} can log in again.")
    return redirect("settings:user_edit", pk=subject.pk)


@require_POST
def user_unlock(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    subject = _managed_user(request, pk)
    _require_admin(request)
    services.unlock_login(by=request.user, user=subject)
    messages.success(request, f"{subject.username} can try to log in again from anywhere.")
    return redirect("settings:user_edit", pk=subject.pk)


@require_POST
def user_reassign(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    subject = _managed_user(request, pk)
    targets = services.users_manageable_by(request.user).filter(is_active=True)
    if not request.user.is_admin:
        targets = targets | User.objects.filter(pk=request.user.pk)
    form = ReassignForm(request.POST, users=targets.exclude(pk=subject.pk))
    if form.is_valid():
        try:
            result = services.reassign_open_work(
                by=request.user, from_user=subject, to_user=form.cleaned_data["to_user"]
            )
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(
                request,
                f"Reassigned {result.summary} of {subject.username} "
                f"to {len(result.to_users)} user(s).",
            )
            return redirect("settings:user_edit", pk=subject.pk)
    context = _user_page(request, subject, reassign_form=form)
    return render(request, "crm/admin/user_edit.html", context, status=422)


# --- teams -------------------------------------------------------------------------------------


def _team_form(request: AuthenticatedHttpRequest, data: Any = None, **kwargs: Any) -> TeamForm:
    managers = User.objects.filter(is_active=True, role__in=[User.Role.MANAGER, User.Role.ADMIN])
    if not request.user.is_admin:
        managers = managers.filter(pk=request.user.pk) | services.users_manageable_by(
            request.user
        ).filter(is_active=True)
    return TeamForm(
        data, teams=services.teams_manageable_by(request.user), managers=managers, **kwargs
    )


@require_http_methods(["GET", "POST"])
def team_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The team tree (what the user manages) and a form for a new (sub-)team."""
    _require_user_admin(request)
    form = _team_form(request, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            team = services.create_team(by=request.user, **form.cleaned_data)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, f"Team {team.name} created.")
            return redirect("settings:teams")
    teams = services.teams_manageable_by(request.user).select_related("manager", "parent")
    members = _members_by_team(teams)
    rows = [(team, "— " * team.depth, members.get(team.pk, [])) for team in teams.order_by("path")]
    context = {"form": form, "rows": rows}
    return render(request, "crm/admin/teams.html", context, status=_status(request, form))


def _members_by_team(teams: QuerySet[Team]) -> dict[int, list[User]]:
    """Active members of the given teams grouped by team (one query)."""
    grouped: dict[int, list[User]] = {}
    members = User.objects.filter(team__in=teams.values("pk"), is_active=True).order_by("username")
    for user in members:
        if user.team_id is not None:  # the filter above: always
            grouped.setdefault(user.team_id, []).append(user)
    return grouped


@require_http_methods(["GET", "POST"])
def team_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    _require_user_admin(request)
    team = get_object_or_404(services.teams_manageable_by(request.user), pk=pk)
    initial = {"name": team.name, "parent": team.parent_id, "manager": team.manager_id}
    form = _team_form(request, request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.update_team(
                by=request.user, team=team, name=data["name"], manager=data["manager"]
            )
            new_parent = data["parent"]
            if (new_parent.pk if new_parent else None) != team.parent_id:
                services.move_team_within(by=request.user, team=team, new_parent=new_parent)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, f"Team {data['name']} saved.")
            return redirect("settings:teams")
    context = {"team": team, "form": form, "history": audit.history_for(team, limit=20)}
    return render(request, "crm/admin/team_edit.html", context, status=_status(request, form))


# --- own profile and password ------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def profile(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    initial = {field: getattr(user, field) for field in services.PROFILE_FIELDS}
    form = ProfileForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_profile(user=user, **form.cleaned_data)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, "Profile saved.")
            return redirect("settings:profile")
    return render(request, "crm/admin/profile.html", {"form": form}, status=_status(request, form))


@require_http_methods(["GET", "POST"])
def password_change(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = PasswordChangeForm(request.user, request.POST or None)
    for field in form.fields.values():
        field.widget.attrs["class"] = "form-control form-control-sm"
    if request.method == "POST" and form.is_valid():
        user = form.save()
        update_session_auth_hash(request, user)  # stay logged in here, log out elsewhere
        services.record_password_change(user=user, by=user)
        for follow in registry.credentials_followers():  # e.g. end the other sessions
            follow(request, user)
        messages.success(request, "Password changed.")
        return redirect("settings:profile")
    return render(request, "crm/admin/password.html", {"form": form}, status=_status(request, form))


@method_decorator(login_not_required, name="dispatch")
class AcceptInviteView(auth_views.PasswordResetConfirmView):
    """An invited user chooses their password through the one-time link from their e-mail."""

    template_name = "crm/admin/accept_invite.html"
    success_url = reverse_lazy("login")
    post_reset_login = False

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        services.record_password_change(user=form.user, by=form.user)
        for follow in registry.credentials_followers():
            follow(self.request, form.user)
        messages.success(self.request, "Your password is set: log in.")
        return response


# --- audit -------------------------------------------------------------------------------------


def _audit_filters(request: AuthenticatedHttpRequest) -> tuple[AuditFilterForm, audit.AuditFilters]:
    form = AuditFilterForm(request.GET or None)
    if not form.is_bound:
        return form, audit.AuditFilters()  # no filter: everything, newest first
    if not form.is_valid():
        return form, audit.AuditFilters(actor_id=-1)  # invalid filters match nothing
    data = form.cleaned_data
    return form, audit.AuditFilters(
        actor_id=data["actor"].pk if data["actor"] else None,
        action=data["action"],
        target_type=data["target_type"],
        target_id=data["target_id"],
        since=data["since"],
        until=data["until"],
        q=data["q"],
    )


@require_GET
@vary_on_headers("HX-Request")
def audit_log(request: AuthenticatedHttpRequest) -> HttpResponse:
    _require_admin(request)
    form, filters = _audit_filters(request)
    entries = audit.audit_entries(user=request.user, filters=filters)
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "query": query.urlencode()}
    if request.htmx and not request.htmx.boosted:
        return render(request, "crm/admin/_audit_rows.html", context)
    context["actions"] = audit.known_actions()
    return render(request, "crm/admin/audit.html", context)


AUDIT_EXPORT_HEADER = [
    "at",
    "actor",
    "action",
    "record_type",
    "record_id",
    "record",
    "changes",
    "bulk_count",
    "request_id",
    "ip_address",
]


@require_GET
def audit_export(request: AuthenticatedHttpRequest) -> StreamingHttpResponse:
    """The filtered audit log as CSV, streamed in chunks (memory stays flat)."""
    _require_admin(request)
    _, filters = _audit_filters(request)
    entries = audit.audit_entries(user=request.user, filters=filters)
    rows = (
        [
            entry.at.isoformat(),
            entry.actor.username if entry.actor else "",
            entry.action,
            entry.target_type,
            entry.target_id,
            entry.target_label,
            json.dumps(entry.changes, sort_keys=True),
            entry.bulk_count,
            entry.request_id,
            entry.ip_address or "",
        ]
        for entry in entries.iterator(chunk_size=2000)
    )
    return csv_response("audit-log.csv", AUDIT_EXPORT_HEADER, rows)


# --- a record's history tab -----------------------------------------------------------------------


def history_kinds() -> list[str]:
    """Which records have a History tab: users and teams here, the rest registered by their
    features (crm.registry.register_record)."""
    return list(registry.history_scopes())


@require_GET
def history(request: AuthenticatedHttpRequest, kind: str, pk: int) -> HttpResponse:
    """The History tab of a record (an htmx fragment): 404 unless the user may see the record."""
    scope = registry.history_scopes().get(kind)
    if scope is None:
        raise Http404
    obj = get_object_or_404(scope(request.user), pk=pk)
    return render(request, "crm/_history.html", {"entries": audit.history_for(obj), "obj": obj})
