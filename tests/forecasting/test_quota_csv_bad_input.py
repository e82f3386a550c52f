"""The quota CSV import against malformed files: a clear message on the quotas page, or a correct
import; never a 500, and never some rows written when others fail (all or nothing)."""

from __future__ import annotations

import codecs
import html
import time
import tracemalloc
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from forecasting.models import Quota
from forecasting.services import MAX_QUOTA_ROWS
from tests.factories import TeamFactory

pytestmark = pytest.mark.django_db

HEADER = "period,username,amount\n"


@pytest.fixture
def importer(client, manager, rep):
    """The manager of team A (rep_alice's team), with one quota already set."""
    client.force_login(manager)
    Quota.objects.create(period="2026-Q4", user=rep, amount=Decimal("100"), updated_by=manager)
    return client


def post_file(client, raw: bytes, name: str = "quotas.csv") -> str:
    """Upload; returns the text of the quotas page the user lands on."""
    response = client.post(
        reverse("forecasting:import_quotas"),
        {"file": SimpleUploadedFile(name, raw)},
        follow=True,
    )
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def quotas() -> list[tuple[str, str, Decimal]]:
    return list(Quota.objects.order_by("pk").values_list("period", "user__username", "amount"))


UNCHANGED = [("2026-Q4", "rep_alice", Decimal("100.00"))]


def test_a_utf16_file_is_read(importer):
    text = HEADER + "2026-Q4,rep_alice,5000\n"
    page = post_file(importer, codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    assert "Quotas imported: 0 new, 1 updated." in page
    assert quotas() == [("2026-Q4", "rep_alice", Decimal("5000.00"))]


def test_a_latin1_file_is_read_as_windows_1252(importer, org):
    team = TeamFactory(name="Équipe Nord", parent=org["team_a"])
    raw = "period,team,amount\n2026-Q4,Équipe Nord,7000\n".encode("latin-1")
    page = post_file(importer, raw)
    assert "Quotas imported: 1 new, 0 updated." in page
    assert Quota.objects.get(team=team).amount == Decimal("7000")


@pytest.mark.parametrize(
    "raw",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00",
        (HEADER + "2026-Q4,rep_alice,5000\x00\n").encode(),
    ],
    ids=["png", "nul-byte"],
)
def test_a_binary_file_or_a_nul_byte_is_refused_as_not_text(importer, raw):
    assert "not a text CSV file" in post_file(importer, raw)
    assert quotas() == UNCHANGED


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "The submitted file is empty."),
        (HEADER.encode(), "The file has headers but no rows."),
        (b"2026-Q4,rep_alice,5000\n", "Expected columns: period, username or team, amount."),
        (b"who,how much\nrep_alice,5000\n", "Expected columns: period, username or team, amount."),
    ],
    ids=["empty", "header-only", "no-header", "unknown-header"],
)
def test_a_file_without_usable_headers_or_rows_is_refused(importer, raw, message):
    assert message in post_file(importer, raw)
    assert quotas() == UNCHANGED


def test_a_row_with_more_cells_than_headers_is_a_line_error_and_nothing_is_written(
    importer, other_rep
):
    raw = (HEADER + "2026-Q4,rep_alice,5000\n2026-Q4,rep_alice,1,000\n").encode()
    page = post_file(importer, raw)
    assert "Nothing imported: Line 3: 4 cells but 3 column headers" in page
    assert quotas() == UNCHANGED


def test_a_row_with_fewer_cells_than_headers_is_a_line_error(importer):
    page = post_file(importer, (HEADER + "2026-Q4,rep_alice,5000\n2026-Q4,rep_alice\n").encode())
    assert "Nothing imported: Line 3: '' is not a number." in page
    assert quotas() == UNCHANGED


def test_an_unterminated_quote_is_refused(importer):
    raw = (HEADER + '2026-Q4,"rep_alice,5000\n' + "x" * 200_000 + "\n").encode()
    assert "Could not read the CSV" in post_file(importer, raw)
    assert quotas() == UNCHANGED


def test_a_file_over_2_mb_is_refused(importer):
    raw = (HEADER + "2026-Q4,rep_alice,5000\n").encode() + b" " * (2 * 1024 * 1024)
    assert "The file is larger than 2 MB." in post_file(importer, raw)
    assert quotas() == UNCHANGED


def test_a_million_rows_are_refused_at_the_row_cap_in_bounded_memory(importer, tmp_path):
    # given a million one-character rows: under 2 MB, so the size check lets it through
    path = tmp_path / "million.csv"
    with path.open("wb") as out:
        out.write(HEADER.encode())
        for _ in range(1000):
            out.write(b"x\n" * 1000)
    assert path.stat().st_size < 2 * 1024 * 1024
    started = time.monotonic()
    # when
    tracemalloc.start()
    try:
        with path.open("rb") as handle:
            response = importer.post(
                reverse("forecasting:import_quotas"), {"file": handle}, follow=True
            )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # then refused while streaming, before a million error messages pile up
    assert f"At most {MAX_QUOTA_ROWS:,} rows per file" in html.unescape(response.content.decode())
    assert quotas() == UNCHANGED
    assert peak < 40 * 1024 * 1024
    assert time.monotonic() - started < 20


def test_html_in_a_cell_is_shown_escaped_in_the_error(importer):
    raw = (HEADER + "2026-Q4,<script>alert(1)</script>,5000\n").encode()
    response = importer.post(
        reverse("forecasting:import_quotas"),
        {"file": SimpleUploadedFile("q.csv", raw)},
        follow=True,
    )
    body = response.content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "no person &#x27;&lt;script&gt;alert(1)&lt;/script&gt;&#x27;" in body
    assert quotas() == UNCHANGED
