"""Forecast writes: quotas (one cell or a CSV), commit adjustments, the weekly snapshot."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from crm.audit import Entry, diff, record, record_entries
from crm.csv_text import decode_csv
from crm.models import OrgSettings, Team, User, users_visible_to
from crm.permissions import is_admin, is_manager_or_admin
from forecasting.models import ForecastAdjustment, ForecastSnapshot, Quota, SnapshotLine
from forecasting.periods import fiscal_start_month, parse_period, week_start
from forecasting.selectors import visible_teams
from pipeline.models import Opportunity, Stage

MAX_AMOUNT = Decimal("999999999999.99")
# Far above people × quarters of any one org; bounds the work and the error list per file.
MAX_QUOTA_ROWS = 20_000


def _amount(raw: object, field: str = "amount") -> Decimal:
    """A money amount from user input (commas allowed), 0 … 999,999,999,999.99, in cents."""
    try:
        value = Decimal(str(raw).strip().replace(",", ""))
    except (InvalidOperation, ValueError):
        raise ValidationError({field: f"'{raw}' is not a number."}) from None
    if not value.is_finite() or value < 0 or value > MAX_AMOUNT:
        raise ValidationError({field: "Enter an amount between 0 and 999,999,999,999.99."})
    return value.quantize(Decimal("0.01"))


def _subject_of(user: User | None, team: Team | None) -> tuple[dict[str, Any], User | Team]:
    """The one subject of a quota or an adjustment (a person or a team) and its lookup."""
    if user is not None and team is None:
        return {"user": user}, user
    if team is not None and user is None:
        return {"team": team}, team
    raise ValidationError({"__all__": "Give a person or a team."})


def _check_subject(*, by: User, user: User | None, team: Team | None, own_ok: bool) -> None:
    """A manager acts on their subtree only (admins everywhere); raises ValidationError."""
    if not is_manager_or_admin(by):
        raise ValidationError({"__all__": "Only managers and admins can do this."})
    if is_admin(by):
        return
    if user is not None:
        if not users_visible_to(by).filter(pk=user.pk).exists() or (
            user.pk == by.pk and not own_ok
        ):
            raise ValidationError({"user": "That person is not in your part of the organisation."})
    elif team is not None:
        subtree = visible_teams(by)
        if not subtree.filter(pk=team.pk).exists():
            raise ValidationError({"team": "That team is not in your part of the organisation."})
        if not own_ok and team.manager_id == by.pk:
            raise ValidationError({"team": "You cannot adjust your own team's commit."})


@transaction.atomic
def set_quota(
    *, by: User, period: str, amount: object, user: User | None = None, team: Team | None = None
) -> Quota | None:
    """Set (or, with an empty amount on a team, clear) one quota cell.

    An upsert on the (subject, period) unique constraint, so two editors saving the same
    cell end with one row holding the last value. A blank team quota falls back to the sum.
    """
    lookup, subject = _subject_of(user, team)
    parse_period(period, fiscal_start_month(), allow_month=False)
    _check_subject(by=by, user=user, team=team, own_ok=True)
    old = Quota.objects.filter(period=period, **lookup).values_list("amount", flat=True).first()
    changes: dict[str, Any] = {
        "period": period,
        "amount": [None if old is None else str(old), None],
    }
    if str(amount).strip() == "":
        Quota.objects.filter(period=period, **lookup).delete()
        record(actor=by, action="quota.clear", target=subject, changes=changes)
        return None
    value = _amount(amount)
    quota, _ = Quota.objects.update_or_create(
        period=period, **lookup, defaults={"amount": value, "updated_by": by}
    )
    changes["amount"][1] = str(value)
    record(actor=by, action="quota.set", target=subject, changes=changes)
    return quota


@dataclass
class ImportResult:
    created: int
    updated: int
    errors: list[str]


@transaction.atomic
def import_quotas(*, by: User, data: bytes | str) -> ImportResult:
    """CSV columns `period,username,team,amount` (username or team name per row).

    All or nothing: any bad row → no row is written and every error is reported with its
    line number. Subjects outside the importer's subtree are errors, not silent skips.
    Set-based: the writes are one INSERT and one UPDATE (per 1,000 rows), and every quota
    created or changed is audited ("quota.import", old → new amount) on its person or team.
    Files that are not text, have no data rows, or more than MAX_QUOTA_ROWS rows are refused
    whole (ValidationError on `file`); rows are read as a stream, so a huge file stops at the
    cap.
    """
    if not is_manager_or_admin(by):
        raise ValidationError({"file": "Only managers and admins can import quotas."})
    text = decode_csv(data) if isinstance(data, bytes) else data
    reader = csv.DictReader(io.StringIO(text))
    try:
        fields = {f.strip().lower() for f in reader.fieldnames or []}
        if not {"period", "amount"} <= fields or not fields & {"username", "team"}:
            raise ValidationError({"file": "Expected columns: period, username or team, amount."})
        people = {u.username.lower(): u for u in users_visible_to(by)}
        teams: dict[str, Team] = {}
        for team in visible_teams(by):
            teams.setdefault(team.name.lower(), team)
        errors, wanted = _read_quota_rows(
            reader=reader, width=len(reader.fieldnames or []), people=people, teams=teams
        )
    except csv.Error as error:  # e.g. an unterminated quote swallowing the rest of the file
        raise ValidationError(
            {"file": f"Could not read the CSV near line {reader.line_num}: {error}."}
        ) from None
    if errors:
        return ImportResult(0, 0, errors)
    existing = {
        ("user" if q.user_id else "team", q.period, q.user_id or q.team_id): q
        for q in Quota.objects.select_for_update().filter(period__in={p for _, p, _ in wanted})
    }
    labels = {
        "user": {u.pk: u.username for u in people.values()},
        "team": {t.pk: t.name for t in teams.values()},
    }
    now = timezone.now()
    new_rows: list[Quota] = []
    changed: list[Quota] = []
    entries: list[Entry] = []
    for (kind, period, pk), amount in wanted.items():
        quota = existing.get((kind, period, pk))
        if quota is not None and quota.amount == amount:
            continue  # unchanged: neither written nor audited
        old = None if quota is None else quota.amount
        if quota is None:
            new_rows.append(
                Quota(period=period, amount=amount, updated_by=by, **{f"{kind}_id": pk})
            )
        else:
            quota.amount, quota.updated_by, quota.updated_at = amount, by, now
            changed.append(quota)
        # Audited on the person or team, like `set_quota`, so it shows in their history.
        entries.append(
            Entry(
                model=User if kind == "user" else Team,
                target_id=pk,
                label=labels[kind][pk],
                changes={"period": period, "amount": [old, amount]},
            )
        )
    Quota.objects.bulk_create(new_rows, batch_size=1000)
    Quota.objects.bulk_update(changed, ["amount", "updated_by", "updated_at"], batch_size=1000)
    record_entries(actor=by, action="quota.import", entries=entries)
    return ImportResult(len(new_rows), len(changed), [])


def _read_quota_rows(
    *, reader: csv.DictReader, width: int, people: dict[str, User], teams: dict[str, Team]
) -> tuple[list[str], dict[tuple[str, str, int], Decimal]]:
    """(line errors, wanted amounts by (kind, period, subject id)) from the data rows."""
    start_month = fiscal_start_month()
    errors: list[str] = []
    wanted: dict[tuple[str, str, int], Decimal] = {}
    line_no = 1
    for line_no, raw in enumerate(reader, start=2):
        if line_no - 1 > MAX_QUOTA_ROWS:
            raise ValidationError(
                {"file": f"At most {MAX_QUOTA_ROWS:,} rows per file; split larger files."}
            )
        # DictReader files cells past the header under the key None. Non-empty ones mean the
        # row's cells are shifted (an unquoted comma in an amount): none can be trusted.
        cells = raw.pop(None, None)
        extra: list[str] = cells if isinstance(cells, list) else []
        if any(cell.strip() for cell in extra):
            errors.append(
                f"Line {line_no}: {width + len(extra)} cells but {width} column headers "
                "(a value holding a comma must be quoted)."
            )
            continue
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        try:
            parse_period(row.get("period", ""), start_month, allow_month=False)
            amount = _amount(row.get("amount", ""))
        except ValidationError as exc:
            errors.extend(f"Line {line_no}: {m}" for m in exc.messages)
            continue
        username, team_name = row.get("username", ""), row.get("team", "")
        if username and team_name:
            errors.append(f"Line {line_no}: give a username or a team, not both.")
        elif username:
            if username.lower() not in people:
                errors.append(f"Line {line_no}: no person '{username}' in your organisation.")
            else:
                wanted[("user", row["period"], people[username.lower()].pk)] = amount
        elif team_name:
            if team_name.lower() not in teams:
                errors.append(f"Line {line_no}: no team '{team_name}' in your organisation.")
            else:
                wanted[("team", row["period"], teams[team_name.lower()].pk)] = amount
        else:
            errors.append(f"Line {line_no}: username or team is required.")
    if line_no == 1:
        raise ValidationError({"file": "The file has headers but no rows."})
    return errors, wanted


@transaction.atomic
def adjust_commit(
    *,
    by: User,
    period: str,
    amount: object,
    note: str,
    user: User | None = None,
    team: Team | None = None,
) -> ForecastAdjustment | None:
    """A manager overrides a subordinate's commit for a quarter, with a reason.

    One row per subject and period (upsert); an empty amount removes the adjustment. The
    deals' own commit is never changed, so the original number stays visible. Audited on the
    person or team as "forecast.adjustment_set" / "forecast.adjustment_clear" (period, amount
    and note, old → new); saving the same call again records nothing.
    """
    lookup, subject = _subject_of(user, team)
    parse_period(period, fiscal_start_month(), allow_month=False)
    _check_subject(by=by, user=user, team=team, own_ok=False)
    old = (
        ForecastAdjustment.objects.filter(period=period, **lookup).values("amount", "note").first()
    )
    before: dict[str, Any] = (
        {"amount": None, "note": ""} if old is None else {**old, "amount": str(old["amount"])}
    )
    if str(amount).strip() == "":
        if old is not None:
            ForecastAdjustment.objects.filter(period=period, **lookup).delete()
            changes = {"period": period, **diff(before, {"amount": None, "note": ""})}
            record(actor=by, action="forecast.adjustment_clear", target=subject, changes=changes)
        return None
    value = _amount(amount)
    note = (note or "").strip()
    if not note:
        raise ValidationError({"note": "Say why you adjust the commit."})
    adjustment, _ = ForecastAdjustment.objects.update_or_create(
        period=period, **lookup, defaults={"amount": value, "note": note[:500], "adjusted_by": by}
    )
    delta = diff(before, {"amount": str(adjustment.amount), "note": adjustment.note})
    if delta:
        changes = {"period": period, **delta}
        record(actor=by, action="forecast.adjustment_set", target=subject, changes=changes)
    return adjustment


def take_weekly_snapshot(*, now: datetime | None = None) -> tuple[ForecastSnapshot, bool]:
    """Snapshot every open opportunity for the week containing `now` (Monday-based).

    Idempotent and safe concurrently: the week's row is unique; the first run to lock it
    writes every line and stamps `completed_at` in the same transaction, so a rerun or a
    concurrent run finds it complete and does nothing. Returns (snapshot, written_now).
    """
    now = now or timezone.now()
    week = week_start(timezone.localtime(now).date())
    try:
        with transaction.atomic():
            ForecastSnapshot.objects.get_or_create(week_start=week, defaults={"taken_at": now})
    except IntegrityError:
        pass  # a concurrent run created the row first; we lock it below
    with transaction.atomic():
        snapshot = ForecastSnapshot.objects.select_for_update().get(week_start=week)
        if snapshot.completed_at is not None:
            return snapshot, False
        snapshot.lines.all().delete()  # a run that died half-way left nothing committed; defensive
        lines = _snapshot_lines(snapshot)
        snapshot.taken_at, snapshot.completed_at = now, timezone.now()
        snapshot.line_count = lines
        snapshot.save(update_fields=["taken_at", "completed_at", "line_count"])
    return snapshot, True


def _snapshot_lines(snapshot: ForecastSnapshot) -> int:
    """Copy every open deal into the snapshot in one INSERT … SELECT (set-based: no rows
    travel through Python, so a million open deals fit well inside the task time limit)."""
    line, opp, stage = SnapshotLine._meta, Opportunity._meta, Stage._meta
    sql = f"""
        INSERT INTO {line.db_table} (snapshot_id, opportunity_id, owner_id, stage_id, amount,
                                     forecast_category, expected_close_date, probability)
        SELECT %s, o.id, o.owner_id, o.stage_id, o.amount, o.forecast_category,
               o.expected_close_date, s.probability
        FROM {opp.db_table} o JOIN {stage.db_table} s ON s.id = o.stage_id
        WHERE s.kind = %s
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [snapshot.pk, Stage.Kind.OPEN])
        return cursor.rowcount


@transaction.atomic
def set_fiscal_year_start(*, by: User, month: object) -> int:
    """Admins choose the month the fiscal year starts in (1–12). Quarter labels follow it;
    stored quotas keep their labels, so change it before entering quotas. A change is
    audited as "org_settings.update"."""
    if not is_admin(by):
        raise ValidationError({"month": "Only admins can change the fiscal year."})
    try:
        value = int(str(month))
    except ValueError:
        raise ValidationError({"month": "Choose a month from 1 to 12."}) from None
    if not 1 <= value <= 12:
        raise ValidationError({"month": "Choose a month from 1 to 12."})
    org = OrgSettings.objects.select_for_update().get(pk=OrgSettings.load().pk)
    if org.fiscal_year_start_month != value:
        OrgSettings.objects.filter(pk=org.pk).update(fiscal_year_start_month=value)
        record(
            actor=by,
            action="org_settings.update",
            target=org,
            changes={"fiscal_year_start_month": [org.fiscal_year_start_month, value]},
        )
    return value
