"""The lead CSV import page against malformed files: every one gets a clear message on the page
or a safe, correct import; never a 500, never a half-stored upload or half-written import."""

from __future__ import annotations

import codecs
import csv
import html
import io
import time
import tracemalloc

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from leads.csv_import import MAX_CSV_BYTES, MAX_CSV_ROWS
from leads.models import Lead, LeadCsvUpload
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def importer(client, marketing):
    client.force_login(marketing)
    return client


def upload(client, raw: bytes, name: str = "leads.csv"):
    return client.post(
        reverse("leads:import"), {"file": SimpleUploadedFile(name, raw), "match_on": "email"}
    )


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def assert_refused(response, message: str) -> None:
    """What the user sees: the upload form again (422) with the reason; nothing stored."""
    assert response.status_code == 422
    assert message in page_text(response)
    assert LeadCsvUpload.objects.exists() is False
    assert Lead.objects.exists() is False


def import_all(client, response, columns: list[str]):
    """Map the columns in order, preview, import; returns the stored upload."""
    assert response.status_code == 302, page_text(response)
    the_upload = LeadCsvUpload.objects.get()
    mapping = {f"col_{i}": field for i, field in enumerate(columns)}
    before = list(Lead.objects.order_by("pk").values())
    preview = client.post(reverse("leads:import_map", args=[the_upload.pk]), mapping)
    assert preview.status_code == 200
    assert list(Lead.objects.order_by("pk").values()) == before  # the preview writes nothing
    client.post(reverse("leads:import_run", args=[the_upload.pk]))
    the_upload.refresh_from_db()
    return the_upload


# --- encodings and binary ---------------------------------------------------------------------------


def test_a_utf16_file_as_excel_saves_unicode_text_is_read(importer):
    text = "email\tfirst_name\nzoe@x.example\tZoë\n"
    response = upload(importer, codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    the_upload = import_all(importer, response, ["email", "first_name"])
    assert the_upload.summary["created"] == 1
    assert Lead.objects.get().first_name == "Zoë"


def test_a_latin1_file_is_read_as_windows_1252(importer):
    raw = "email,first_name,company\nzoe@x.example,Zoë,Café Müller\n".encode("latin-1")
    the_upload = import_all(importer, upload(importer, raw), ["email", "first_name", "company"])
    assert the_upload.summary["created"] == 1
    assert (Lead.objects.get().first_name, Lead.objects.get().company) == ("Zoë", "Café Müller")


def test_a_binary_file_is_refused_as_not_text(importer):
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    assert_refused(upload(importer, png, name="photo.csv"), "not a text CSV file")


def test_a_nul_byte_in_a_csv_is_refused_not_a_server_error(importer):
    raw = b"email,first_name\nada@x.example,Ad\x00a\n"
    assert_refused(upload(importer, raw), "not a text CSV file")


# --- shape ----------------------------------------------------------------------------------------------


def test_an_empty_file_is_refused(importer):
    assert_refused(upload(importer, b""), "The submitted file is empty.")


def test_a_blank_file_is_refused(importer):
    assert_refused(upload(importer, b"\n\n  \n"), "The first row must hold the column headers.")


def test_a_header_only_file_is_refused(importer):
    assert_refused(upload(importer, b"email,first_name\r\n"), "The file has headers but no rows.")


def test_a_file_whose_first_row_is_data_is_refused(importer):
    raw = b"ada@x.example,Ada,Lovelace\nbob@x.example,Bob,Smith\n"
    assert_refused(upload(importer, raw), "The first row looks like data")


def test_headers_nobody_recognises_must_be_mapped_by_hand_before_anything_happens(importer):
    response = upload(importer, b"Col A,Col B\nada@x.example,Ada\n")
    the_upload = LeadCsvUpload.objects.get()
    assert response.status_code == 302
    assert set(the_upload.columns.values()) == {""}
    unmapped = importer.post(
        reverse("leads:import_map", args=[the_upload.pk]), {"col_0": "", "col_1": ""}
    )
    assert unmapped.status_code == 422
    assert "Map a column to E-mail" in page_text(unmapped)
    assert Lead.objects.exists() is False


@pytest.mark.parametrize("match_on", ["email", "external_id"])
def test_a_mapping_post_without_any_field_says_what_to_map(client, marketing, match_on):
    """A script (or a stripped-down form) posting nothing at all gets the same clear message
    as a person who skipped every column, for whichever field the import matches on."""
    client.force_login(marketing)
    client.post(
        reverse("leads:import"),
        {
            "file": SimpleUploadedFile("leads.csv", b"email,ext\nada@x.example,A-1\n"),
            "match_on": match_on,
        },
    )
    the_upload = LeadCsvUpload.objects.get()
    response = client.post(reverse("leads:import_map", args=[the_upload.pk]), {})
    assert response.status_code == 422
    label = {"email": "E-mail", "external_id": "External id"}[match_on]
    assert f"Map a column to {label}: this import matches on it." in page_text(response)
    assert Lead.objects.exists() is False


def test_rows_with_more_cells_than_headers_fail_alone_and_short_rows_import(importer):
    raw = (
        b"email,first_name,company\n"
        b"ada@x.example,Ada,Engines\n"
        b"bob@x.example,Bob,Acme, Inc.\n"  # an unquoted comma: the cells are shifted
        b"cy@x.example,Cy\n"  # a short row: the missing cells are blank
        b"dee@x.example,Dee,Dunder,,\n"  # trailing empty cells are harmless
    )
    the_upload = import_all(importer, upload(importer, raw), ["email", "first_name", "company"])
    assert (the_upload.summary["created"], the_upload.summary["failed"]) == (3, 1)
    assert sorted(Lead.objects.values_list("email", flat=True)) == [
        "ada@x.example",
        "cy@x.example",
        "dee@x.example",
    ]
    (failed,) = the_upload.failed_rows
    assert failed["row"] == 3
    assert "4 cells but 3 column headers" in failed["errors"]
    report = page_text(importer.get(reverse("leads:import_report", args=[the_upload.pk])))
    assert "4 cells but 3 column headers" in report


def test_an_unterminated_quote_swallowing_the_file_is_refused(importer):
    raw = b'email,first_name\nada@x.example,"Ada\n' + b"x" * 200_000 + b"\n"
    assert_refused(upload(importer, raw), "Could not read the CSV")


# --- size ---------------------------------------------------------------------------------------------


def test_a_file_over_the_size_limit_is_refused_with_the_limit(importer):
    raw = b"email\n" + b"a" * MAX_CSV_BYTES
    assert_refused(upload(importer, raw), "At most 5 MB per file")


def test_a_million_rows_over_the_size_limit_are_refused_without_writing(importer, tmp_path):
    # given a million realistic rows (~36 MB), written to disk in chunks
    path = tmp_path / "million.csv"
    with path.open("w", newline="") as out:
        out.write("email,first_name,last_name\n")
        for block in range(1000):
            out.write("".join(f"lead{block}x{i}@x.example,Ann,Lee\n" for i in range(1000)))
    started = time.monotonic()
    # when
    with path.open("rb") as handle:
        response = importer.post(reverse("leads:import"), {"file": handle, "match_on": "email"})
    # then
    assert_refused(response, "At most 5 MB per file")
    assert time.monotonic() - started < 20


def test_a_million_short_rows_under_the_size_limit_are_refused_in_bounded_memory(
    importer, tmp_path
):
    # given a million one-character rows: only ~2 MB, so the size check lets it through
    path = tmp_path / "million-short.csv"
    with path.open("wb") as out:
        out.write(b"email\n")
        for _ in range(1000):
            out.write(b"x\n" * 1000)
    assert path.stat().st_size < MAX_CSV_BYTES
    started = time.monotonic()
    # when
    tracemalloc.start()
    try:
        with path.open("rb") as handle:
            response = importer.post(reverse("leads:import"), {"file": handle, "match_on": "email"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # then the rows are counted as they stream by and refused at the cap
    assert_refused(response, f"At most {MAX_CSV_ROWS:,} rows per file")
    assert peak < 60 * 1024 * 1024  # a million parsed rows alone would take several times this
    assert time.monotonic() - started < 20


def test_a_file_at_the_row_cap_is_accepted(importer):
    rows = "".join(f"lead{i}@x.example\n" for i in range(MAX_CSV_ROWS))
    response = upload(importer, ("email\n" + rows).encode())
    assert response.status_code == 302
    assert LeadCsvUpload.objects.count() == 1


# --- hostile text in the failed-rows report ---------------------------------------------------------


def test_the_failed_rows_report_neutralises_formulas_in_headers_and_cells(importer):
    raw = b'email,=HYPERLINK("http://evil.example"),first_name\nnot-an-email,@SUM(A1),-1+2\n'
    the_upload = import_all(importer, upload(importer, raw), ["email", "", "first_name"])
    assert the_upload.summary["failed"] == 1
    response = importer.get(reverse("leads:import_failed_csv", args=[the_upload.pk]))
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == [
        "row",
        "email",
        '\'=HYPERLINK("http://evil.example")',
        "first_name",
        "errors",
    ]
    assert rows[1][:4] == ["2", "not-an-email", "'@SUM(A1)", "'-1+2"]
    assert response["X-Content-Type-Options"] == "nosniff"


def test_a_failed_import_of_known_leads_changes_none_of_them(importer):
    LeadFactory(email="known@x.example", first_name="Kept")
    raw = b"email,first_name,company\nknown@x.example,Changed,Acme,extra\n"
    the_upload = import_all(importer, upload(importer, raw), ["email", "first_name", "company"])
    assert the_upload.summary["failed"] == 1
    assert Lead.objects.get().first_name == "Kept"
