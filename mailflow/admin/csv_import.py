"""Libraries from the committee's spreadsheet (CSV) into the database, and back out again.

Import is all or nothing: every row is read and checked first (`validate`), and only a file
without a single error is written (`import_rows`), in one transaction. Imported libraries are
created directly in their state, without an acknowledgement mail: the committee knows them.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from mailflow.admin.csv_rows import (
    EXPORT_COLUMNS,
    Importable,
    ImportRow,
    Validation,
    library_key,
    neutralise_cell,
    parse_rows,
)
from mailflow.countries import country_key
from mailflow.dispatch.program import Workflow
from mailflow.parse.forms import (
    APPLICATION_FIELDS,
    REQUIRED_APPLICATION_FIELDS,
    missing,
    normalise_consent,
)
from mailflow.store.schema import Contact, History, Library, Timer

__all__ = ["check_database", "export_csv", "import_rows", "validate"]


def check_database(session: Session, rows: Iterable[ImportRow]) -> list[str]:
    """Rows whose contacts or name+country the database already has."""
    rows = list(rows)
    errors: list[str] = []
    addresses = [address for row in rows for address, _ in row.contacts]
    query = select(Contact).where(Contact.email.in_(addresses))
    known = {c.email: c for c in session.scalars(query.options(selectinload(Contact.library)))}
    countries = {country_key(row.country) for row in rows}
    existing: dict[tuple[str, str], Library] = {}
    for library in session.scalars(select(Library).order_by(Library.id)):
        if country_key(library.country) in countries:
            existing.setdefault(library_key(library.name, library.country or ""), library)
    for row in rows:
        for address, _ in row.contacts:
            if address in known:
                lib = known[address].library
                errors.append(
                    f"row {row.row}: contact_email {address!r} is already a contact of library #{lib.id} ({lib.name})"
                )
        same = existing.get(library_key(row.name, row.country))
        if same is not None:
            errors.append(
                f"row {row.row}: library {row.name!r} ({row.country}) already exists as #{same.id}"
            )
    return errors


def importable(workflow: Workflow) -> Importable:
    states = workflow.states("library", "importable")
    return Importable(states, workflow.states("library", "listed")[0])


def validate(session: Session, workflow: Workflow, data: bytes, now: datetime) -> Validation:
    """Everything `import_rows` needs to know before writing: the file, then the database."""
    result = parse_rows(data, now, importable(workflow))
    result.errors.extend(check_database(session, result.rows))
    # Report in file order, so each row's problems read together.
    result.errors.sort(key=lambda e: int(m[1]) if (m := re.match(r"row (\d+):", e)) else 0)
    return result


def _language(wf: Workflow, fields: dict[str, str]) -> str:
    # The first of their languages we have templates for; else the program's default.
    available = wf.renderer.available_locales() if wf.renderer else []
    for code in fields.get("languages", "").split(","):
        if code.strip() in available:
            return code.strip()
    return wf.program.default_locale


def import_rows(
    session: Session, workflow: Workflow, rows: Sequence[ImportRow], now: datetime, source: str
) -> list[Library]:
    """Create one library (with contacts, history and its state's timers) per validated row.

    The caller's transaction makes it all or nothing. No mail is sent.
    """
    machine = workflow.machines["library"]
    created: list[Library] = []
    for row in rows:
        fields = dict(row.fields)
        library = Library(
            name=fields["library_name"],
            library_type=fields.get("library_type"),
            country=fields.get("country"),
            city=fields.get("city"),
            language=_language(workflow, fields),
            state=row.state,
            fields=fields,
            missing=missing(fields, REQUIRED_APPLICATION_FIELDS),
            timezone=fields.get("timezone"),
            hidden=row.state == "hidden",  # as the rules set it when a library is hidden
            public_listing=_consent(fields.get("public_listing")),
            data={},
            created_at=row.created,
            updated_at=now,
        )
        session.add(library)
        session.flush()
        for address, status in row.contacts:
            name = fields.get("contact_name", "") if address == fields.get("contact_email") else ""
            session.add(
                Contact(library_id=library.id, email=address, name=name[:255], status=status)
            )
        session.add(
            History(record_type="library", record_id=library.id, from_state=machine.initial,
                    to_state=row.state, cause="cli", event="import",
                    note=f"imported from {source} row {row.row}", trace=[], created_at=now)
        )  # fmt: skip
        # Entering a state schedules its timers (seeking: "keep you on the list?"), counted
        # from when the library joined, so imported libraries are asked like everyone else.
        state = machine.states.get(row.state)
        for timer in state.timers if state else ():
            session.add(
                Timer(record_type="library", record_id=library.id, name=timer.name,
                      state=row.state, due_at=row.created + timer.after, status="pending",
                      sequence=1, created_at=now)
            )  # fmt: skip
        created.append(library)
    session.flush()
    return created


def _consent(value: str | None) -> bool | None:
    """A consent column as recorded on paper or elsewhere: yes, no, or not answered (None)."""
    answer = normalise_consent(value) if value else None
    return None if answer is None else answer == "yes"


def export_csv(session: Session) -> tuple[str, int]:
    """Every library as CSV text (EXPORT_COLUMNS), oldest first, and how many; `import` reads it."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    query = select(Library).order_by(Library.id).options(selectinload(Library.contacts))
    count = 0
    for library in session.scalars(query):
        count += 1
        fields = dict(library.fields or {})
        fields["library_name"] = fields.get("library_name") or library.name
        fields["public_listing"] = {True: "yes", False: "no"}.get(library.public_listing, "")
        contacts = sorted(library.contacts, key=lambda c: c.id)
        row = (
            [str(library.id), library.state, library.created_at.isoformat()]
            + [str(fields.get(key) or "") for key in APPLICATION_FIELDS]
            + ["; ".join(f"{c.email}:{c.status}" for c in contacts)]
        )
        writer.writerow([neutralise_cell(cell) for cell in row])
    return out.getvalue(), count
