"""Listings: libraries, partnerships and the outbox as JSON-ready dicts, and as tables.

Also how operators name records (`parse_ref`, `find_library`) and the outbox retry.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailflow.store.schema import Library, Outbox, Partnership

LIBRARY_COLUMNS = (
    "id", "name", "type", "country", "city", "state", "language", "contacts", "missing", "created",
)  # fmt: skip
PARTNERSHIP_COLUMNS = (
    "id", "library_a.name", "library_b.name", "state", "score", "created", "offered", "trial",
    "active", "review",
)  # fmt: skip
OUTBOX_COLUMNS = (
    "id", "created", "template", "to", "status", "attempts", "next_attempt_at", "last_error",
)  # fmt: skip
_REF = re.compile(r"^\s*(?:(l|library|p|partnership)\s*[:#]?\s*)?#?(\d+)\s*$", re.I)


def iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def parse_ref(text: str) -> tuple[str, int]:
    """`l12`, `library:12`, `12` -> ("library", 12); `p3`, `partnership:3` -> ("partnership", 3)."""
    match = _REF.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a record id (l12, library:12, p3, partnership:3, 12)")
    kind = (match.group(1) or "l")[0].lower()
    return ("partnership" if kind == "p" else "library"), int(match.group(2))


def find_library(session: Session, ref: str) -> Library:
    """A library by id (`12`, `#12`, `l12`) or by exact name; LookupError says what went wrong."""
    text = ref.strip()
    if re.fullmatch(r"(?:#|l|library:)?\d+", text, re.I):
        library = session.get(Library, parse_ref(text)[1])
        if library is None:
            raise LookupError(f"no library #{parse_ref(text)[1]}")
        return library
    # Names come from mail: forgive case and surrounding space, nothing more.
    libraries = session.scalars(select(Library).order_by(Library.id))
    found = [lib for lib in libraries if lib.name.strip().casefold() == text.casefold()]
    if not found:
        raise LookupError(f"no library named {text!r}")
    if len(found) > 1:
        ids = ", ".join(f"#{lib.id}" for lib in found)
        raise LookupError(f"{len(found)} libraries are named {text!r} ({ids}); give an id")
    return found[0]


def library_item(lib: Library) -> dict[str, Any]:
    return {
        "id": lib.id,
        "name": lib.name,
        "type": lib.library_type,
        "country": lib.country,
        "city": lib.city,
        "state": lib.state,
        "language": lib.language,
        "contacts": [f"{c.email}:{c.status}" for c in sorted(lib.contacts, key=lambda c: c.id)],
        "missing": list(lib.missing or []),
        "created": iso(lib.created_at),
    }


def libraries(
    session: Session, state: str | None = None, country: str | None = None
) -> list[dict[str, Any]]:
    query = select(Library).order_by(Library.id)
    if state:
        query = query.where(Library.state == state)
    if country:
        query = query.where(func.lower(Library.country) == country.strip().lower())
    return [library_item(lib) for lib in session.scalars(query)]


def partnership_item(p: Partnership) -> dict[str, Any]:
    return {
        "id": p.id,
        "library_a": {"id": p.library_a_id, "name": p.library_a.name},
        "library_b": {"id": p.library_b_id, "name": p.library_b.name},
        "state": p.state,
        "score": p.score,
        "created": iso(p.created_at),
        "offered": iso(p.offered_at),
        "trial": iso(p.trial_at),
        "active": iso(p.active_at),
        "review": iso(p.review_at),
    }


def partnerships(session: Session, state: str | None = None) -> list[dict[str, Any]]:
    query = select(Partnership).order_by(Partnership.id)
    if state:
        query = query.where(Partnership.state == state)
    return [partnership_item(p) for p in session.scalars(query)]


def outbox_item(row: Outbox) -> dict[str, Any]:
    return {
        "id": row.id,
        "template": row.template,
        "locale": row.locale,
        "to": list(row.recipients),
        "subject": row.subject,
        "status": row.status,
        "attempts": row.attempts,
        "next_attempt_at": iso(row.next_attempt_at),
        "last_error": row.last_error,
        "record": f"{row.record_type}:{row.record_id}" if row.record_type else None,
        "inbox_id": row.inbox_id,
        "created": iso(row.created_at),
        "sent_at": iso(row.sent_at),
    }


def outbox(session: Session, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    query = select(Outbox).order_by(Outbox.id.desc()).limit(limit)
    if status:
        query = query.where(Outbox.status == status)
    return [outbox_item(row) for row in session.scalars(query)]


def retry(session: Session, ids: Sequence[int], all_failed: bool, now: datetime) -> list[int]:
    """Put rows back to pending, due now. Attempts and last_error stay: they are the history
    the next try adds to (and a row already at the attempt limit fails again after one try)."""
    query = select(Outbox).order_by(Outbox.id)
    query = (
        query.where(Outbox.status == "failed") if all_failed else query.where(Outbox.id.in_(ids))
    )
    rows = list(session.scalars(query))
    missing_ids = sorted(set(ids) - {row.id for row in rows})
    if missing_ids:
        raise LookupError("no outbox row " + ", ".join(f"#{i}" for i in missing_ids))
    for row in rows:
        if row.status == "sent":  # resending a delivered mail is never what a retry means
            raise LookupError(f"outbox #{row.id} was sent at {iso(row.sent_at)}; not resending")
    for row in rows:
        row.status, row.next_attempt_at = "pending", now
    return [row.id for row in rows]


def retry_outcome(session: Session, ids: Sequence[int]) -> tuple[list[str], bool]:
    """One line per retried row after the drain, and whether any of them failed again."""
    rows = [row for row in (session.get(Outbox, i) for i in ids) if row is not None]
    lines = [
        f"#{row.id} {row.status} after {row.attempts} attempts"
        + (f": {row.last_error}" if row.status != "sent" and row.last_error else "")
        for row in rows
    ]
    return lines, any(row.status == "failed" for row in rows)


def format_proposal(p: Partnership) -> str:
    score = f"{p.score:.2f}" if p.score is not None else "-"
    head = f"partnership #{p.id} {p.state}: {p.library_a.name} + {p.library_b.name} (score {score})"
    return "\n".join([head, *(f"  {reason}" for reason in p.reasons or [])])


# -- text ----------------------------------------------------------------------------------------
def _width(text: str) -> int:
    # CJK names take two columns in a terminal; count them so the columns line up.
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return " ".join(str(v) for v in value) or "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    text = str(value)
    # ISO times shortened to minutes (UTC): enough to read, narrow enough to fit.
    if re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00", text):
        return text[:16].replace("T", " ")
    return text


def render(items: Sequence[dict[str, Any]], as_json: bool, columns: Sequence[str]) -> str:
    """JSON lines, or a table; empty text for no items (a table of only a header says nothing)."""
    if as_json:
        return "\n".join(json.dumps(item, ensure_ascii=False) for item in items)
    return table(items, columns) if items else ""


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """A plain table with a header line; columns are keys (`a.b` reaches into a nested dict)."""

    def get(row: dict[str, Any], key: str) -> Any:
        for part in key.split("."):
            row = row.get(part) if isinstance(row, dict) else None
        return row

    cells = [[cell(get(row, c)) for c in columns] for row in rows]
    header = [c.split(".")[0] if c.endswith(".name") else c for c in columns]
    widths = [max([_width(h)] + [_width(r[i]) for r in cells]) for i, h in enumerate(header)]
    lines = []
    for line in [header, *cells]:
        padded = [v + " " * (w - _width(v)) for v, w in zip(line, widths, strict=True)]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)
