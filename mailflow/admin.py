"""Operator queries behind the CLI: libraries, partnerships, one record's story, the outbox.

Every query returns plain dicts (JSON-ready: times are ISO strings) so `--json` and the tables
print the same facts; the formatting helpers turn them into text and touch no database.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from mailflow.engine.definition import Machine
from mailflow.store.schema import (
    History,
    Library,
    Outbox,
    Partnership,
    Suppressed,
    Timer,
)

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


def _iso(at: datetime | None) -> str | None:
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


# -- listings ------------------------------------------------------------------------------------
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
        "created": _iso(lib.created_at),
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
        "created": _iso(p.created_at),
        "offered": _iso(p.offered_at),
        "trial": _iso(p.trial_at),
        "active": _iso(p.active_at),
        "review": _iso(p.review_at),
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
        "next_attempt_at": _iso(row.next_attempt_at),
        "last_error": row.last_error,
        "record": f"{row.record_type}:{row.record_id}" if row.record_type else None,
        "inbox_id": row.inbox_id,
        "created": _iso(row.created_at),
        "sent_at": _iso(row.sent_at),
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
            raise LookupError(f"outbox #{row.id} was sent at {_iso(row.sent_at)}; not resending")
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


# -- one record ----------------------------------------------------------------------------------
def trace_text(trace: Iterable[dict[str, Any]]) -> str:
    """`rules line 52: auto-approve failed; rules line 57: no guard -> proposed`."""
    steps = []
    for step in trace or ():
        guards = ", ".join(
            f"{g['guard']} {'held' if g['held'] else 'failed'}" for g in step.get("guards", [])
        )
        text = f"rules line {step.get('line')}: {guards or 'no guard'}"
        if step.get("matched"):
            text += f" -> {step.get('to') or 'stays'}"
        steps.append(text)
    return "; ".join(steps)


def _cause(h: History) -> str:
    if h.cause == "message" and h.inbox_id is not None:
        return f"message #{h.inbox_id}"
    if h.cause == "timer" and h.timer_id is not None:
        return f"timer #{h.timer_id}"
    return h.cause


def _history(session: Session, record_type: str, ids: Sequence[int]) -> list[dict[str, Any]]:
    query = (
        select(History)
        .where(History.record_type == record_type, History.record_id.in_(ids))
        .order_by(History.id)
    )
    return [
        {
            "time": _iso(h.created_at),
            "record": f"{h.record_type}:{h.record_id}",
            "from": h.from_state,
            "to": h.to_state,
            "event": h.event,
            "cause": _cause(h),
            "inbox_id": h.inbox_id,
            "timer_id": h.timer_id,
            "note": h.note,
            "trace": list(h.trace or []),
            "trace_text": trace_text(h.trace or []),
        }
        for h in session.scalars(query)
    ]


def _side(p: Partnership, lib: Library) -> dict[str, Any]:
    data, key = p.data or {}, str(lib.id)
    return {
        "id": lib.id,
        "name": lib.name,
        "state": lib.state,
        "accepted": bool(data.get("accepted", {}).get(key)),
        "declined": bool(data.get("declined", {}).get(key)),
        "answered": data.get("answered", {}).get(key),
        "signed": bool(data.get("signed", {}).get(key)),
        "mou": data.get("mou", {}).get(key, {}),
    }


def show(session: Session, kind: str, record_id: int) -> dict[str, Any]:
    """Everything about one record: why it is where it is, and what mail it caused or did not."""
    record = session.get(Library if kind == "library" else Partnership, record_id)
    if record is None:
        raise LookupError(f"no {kind} #{record_id}")
    if isinstance(record, Library):
        doc = library_item(record) | {
            "kind": "library",
            "timezone": record.timezone,
            "hidden": record.hidden,
            "fields": record.fields,
            "data": record.data,
            "updated": _iso(record.updated_at),
            "contacts": [
                {"id": c.id, "email": c.email, "name": c.name, "status": c.status,
                 "bounce_count": c.bounce_count, "paused_until": _iso(c.paused_until)}
                for c in sorted(record.contacts, key=lambda c: c.id)
            ],
            "partnerships": [
                partnership_item(p)
                for p in session.scalars(
                    select(Partnership)
                    .where(or_(Partnership.library_a_id == record_id, Partnership.library_b_id == record_id))
                    .order_by(Partnership.id)
                )
            ],
        }  # fmt: skip
        # A contact's bounces explain why a library's mail stopped; show them in its story.
        history = _history(session, "library", [record_id])
        history += _history(session, "contact", [c.id for c in record.contacts])
        history.sort(key=lambda h: h["time"])
    else:
        doc = partnership_item(record) | {
            "kind": "partnership",
            "reasons": list(record.reasons or []),
            "informal": record.informal,
            "mentor": record.mentor,
            "updated": _iso(record.updated_at),
            "sides": [_side(record, record.library_a), _side(record, record.library_b)],
        }
        history = _history(session, "partnership", [record_id])
    doc["history"] = history
    doc["timers"] = [
        {"id": t.id, "name": t.name, "due": _iso(t.due_at), "state": t.state, "sequence": t.sequence}
        for t in session.scalars(
            select(Timer)
            .where(Timer.record_type == kind, Timer.record_id == record_id, Timer.status == "pending")
            .order_by(Timer.due_at)
        )
    ]  # fmt: skip
    doc["outbox"] = [
        outbox_item(row)
        for row in session.scalars(
            select(Outbox)
            .where(Outbox.record_type == kind, Outbox.record_id == record_id)
            .order_by(Outbox.id)
        )
    ]
    inbox_ids = {h["inbox_id"] for h in history if h["inbox_id"] is not None}
    if isinstance(record, Library) and record.source_inbox_id is not None:
        inbox_ids.add(record.source_inbox_id)
    doc["suppressed"] = [
        {"id": s.id, "inbox_id": s.inbox_id, "to": s.recipient, "template": s.template,
         "reason": s.reason, "time": _iso(s.created_at)}
        for s in session.scalars(
            select(Suppressed).where(Suppressed.inbox_id.in_(sorted(inbox_ids))).order_by(Suppressed.id)
        )
    ]  # fmt: skip
    return doc


# -- text ----------------------------------------------------------------------------------------
def _width(text: str) -> int:
    # CJK names take two columns in a terminal; count them so the columns line up.
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _cell(value: Any) -> str:
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

    cells = [[_cell(get(row, c)) for c in columns] for row in rows]
    header = [c.split(".")[0] if c.endswith(".name") else c for c in columns]
    widths = [max([_width(h)] + [_width(r[i]) for r in cells]) for i, h in enumerate(header)]
    lines = []
    for line in [header, *cells]:
        padded = [v + " " * (w - _width(v)) for v, w in zip(line, widths, strict=True)]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


def format_show(doc: dict[str, Any]) -> str:
    out: list[str] = []
    if doc["kind"] == "library":
        out.append(f"library #{doc['id']} {doc['name']} [{doc['state']}]")
        for key in ("type", "country", "city", "language", "timezone", "hidden", "created"):
            out.append(f"  {key}: {_cell(doc[key])}")
        out.append(f"  missing: {_cell(doc['missing'])}")
        for key, value in (doc["fields"] or {}).items():
            out.append(f"  field {key}: {value}")
        out.append("contacts:")
        for c in doc["contacts"]:
            out.append(f"  {c['email']} {c['name']!r} {c['status']} bounces {c['bounce_count']}")
        if doc["partnerships"]:
            out.append("partnerships:")
            for p in doc["partnerships"]:
                names = f"{p['library_a']['name']} + {p['library_b']['name']}"
                out.append(f"  p{p['id']} {p['state']}: {names}")
    else:
        out.append(f"partnership #{doc['id']} [{doc['state']}] score {_cell(doc['score'])}")
        for key in ("created", "offered", "trial", "active", "review", "mentor", "informal"):
            out.append(f"  {key}: {_cell(doc[key])}")
        for reason in doc["reasons"]:
            out.append(f"  reason: {reason}")
        for side in doc["sides"]:
            answer = "accepted" if side["accepted"] else "declined" if side["declined"] else "-"
            signed = "signed" if side["signed"] else "not signed"
            out.append(f"  l{side['id']} {side['name']} [{side['state']}]: {answer}, {signed}")
            for key, value in side["mou"].items():
                out.append(f"    mou {key}: {value}")
    out.append("history:")
    for h in doc["history"]:
        out.append(
            f"  {_cell(h['time'])}  {h['record']} {h['from'] or '-'} -> {h['to'] or '-'}"
            f"  on {h['event'] or '-'}  by {h['cause']}"
        )
        if h["note"]:
            out.append(f"      note: {h['note']}")
        if h["trace_text"]:
            out.append(f"      trace: {h['trace_text']}")
    out.append("pending timers:" if doc["timers"] else "pending timers: none")
    out.extend(f"  {t['name']} due {_cell(t['due'])}" for t in doc["timers"])
    out.append("outbox:" if doc["outbox"] else "outbox: none")
    for row in doc["outbox"]:
        error = f"  last error: {row['last_error']}" if row["last_error"] else ""
        out.append(
            f"  #{row['id']} {row['template']} to {', '.join(row['to'])} {row['status']}"
            f" (attempts {row['attempts']}){error}"
        )
    out.append("suppressed:" if doc["suppressed"] else "suppressed: none")
    out.extend(
        f"  message #{s['inbox_id']}: {s['template'] or '-'} to {s['to']} not sent: {s['reason']}"
        for s in doc["suppressed"]
    )
    return "\n".join(out)


# -- rules ---------------------------------------------------------------------------------------
def _q(name: str) -> str:
    return json.dumps(name, ensure_ascii=False)  # DOT's quoted IDs escape like JSON strings


def dot(machine: Machine) -> str:
    """The machine as Graphviz DOT; the same edges as `loader.mermaid` (wildcards fanned out)."""
    live = [s for s, d in machine.states.items() if not d.final]
    edges: dict[tuple[str, str], list[str]] = {}
    for t in machine.transitions:
        if not t.target:
            continue
        for source in live if "*" in t.sources else t.sources:
            if source != t.target:
                edges.setdefault((source, t.target), []).append(t.event)
    lines = [f"digraph {_q(machine.name)} {{", "    rankdir=LR;", '    "__start" [shape=point];']
    for state, definition in machine.states.items():
        lines.append(
            f"    {_q(state)} [shape={'doublecircle' if definition.final else 'ellipse'}];"
        )
    lines.append(f'    "__start" -> {_q(machine.initial)};')
    for (source, target), events in edges.items():
        label = ", ".join(dict.fromkeys(events))
        lines.append(f"    {_q(source)} -> {_q(target)} [label={_q(label)}];")
    return "\n".join(lines) + "\n}\n"


def rules_summary(machines: dict[str, Machine], locales: Sequence[str]) -> str:
    counts = ", ".join(
        f"{name} ({len(machines[name].transitions)} transitions)" for name in sorted(machines)
    )
    return f"rules OK: {counts}; templates OK (locales {', '.join(locales)})"
