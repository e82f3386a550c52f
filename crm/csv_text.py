"""Uploaded CSV files as text: the encodings spreadsheets save, and a clear refusal of anything
that is not text. The lead import page and the quota import both read files through here.
"""

from __future__ import annotations

import codecs

from django.core.exceptions import ValidationError

NOT_TEXT = "This is not a text CSV file (it holds NUL bytes); save it as CSV UTF-8 and upload that."


def decode_csv(raw: bytes) -> str:
    """The file's text: UTF-16 when it starts with its byte-order mark (Excel's "Unicode
    text"), else UTF-8 (BOM or not), else Windows-1252 (older Excel on Windows, Latin-1).

    NUL never occurs in a text CSV, and PostgreSQL refuses it in text columns: a file holding
    one (binary, UTF-32, a mislabelled UTF-16) is refused here, before anything is stored.
    """
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encodings: tuple[str, ...] = ("utf-16",)
    else:
        encodings = ("utf-8-sig", "cp1252")
    for encoding in encodings:
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" in text:
            raise ValidationError({"file": NOT_TEXT})
        return text
    if b"\x00" in raw:
        raise ValidationError({"file": NOT_TEXT})
    raise ValidationError({"file": "Could not read the file as text (save it as CSV UTF-8)."})
