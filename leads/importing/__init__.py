"""The lead import, one package (import from its modules):

- `fields`: the table of field parsers — each checks a sent value and describes it, so the
  validation (import records, PATCH, the edit form) and the API schema of a lead record come
  from one place;
- `batch`: one batch, set-based — validate every record, read and lock the matches, decide
  record by record, write (new leads through leads.services.create_leads);
- `service`: `import_leads`, the one entry point (API, CSV page): its transaction, the retry
  after a lost key race, scoring and MQL, audit, and the Idempotency-Key replay.

Nothing is re-exported here: leads.services uses `fields`, and `batch`/`service` use
leads.services, so importing them all with the package would make the two import each other.
"""

from __future__ import annotations
