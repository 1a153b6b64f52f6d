"""One record's story (`mailflow show`): fields, history with causes and rule traces, what the
libraries did (activities, with their attachments), staff notes, pending timers, mail sent and
mail suppressed; and an activity's attachment given back (`mailflow attachment`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from mailflow.admin.listings import cell, iso, library_item, outbox_item, partnership_item
from mailflow.store.schema import (
    Activity,
    History,
    InboxMessage,
    Library,
    MessageFacts,
    Outbox,
    Partnership,
    Suppressed,
    Timer,
)

# An activity's text is shown to this many lines; `show --json` keeps all of it.
TEXT_LINES = 4


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
            "time": iso(h.created_at),
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


def _activities(session: Session, record: Library | Partnership) -> list[dict[str, Any]]:
    """What the libraries told us (and staff notes), with who sent it and what came with it."""
    query = select(Activity).order_by(Activity.created_at, Activity.id)
    if isinstance(record, Library):
        query = query.where(Activity.library_id == record.id)
    else:
        query = query.where(Activity.partnership_id == record.id)
    rows = list(session.scalars(query))
    inbox_ids = [a.inbox_id for a in rows if a.inbox_id is not None]
    facts = select(MessageFacts.inbox_id, MessageFacts.from_address).where(
        MessageFacts.inbox_id.in_(inbox_ids)
    )
    senders = {inbox_id: sender for inbox_id, sender in session.execute(facts)}
    docs = []
    for a in rows:
        library = session.get(Library, a.library_id) if a.library_id is not None else None
        docs.append(
            {"id": a.id, "time": iso(a.created_at), "partnership_id": a.partnership_id,
             "library_id": a.library_id, "library_name": library.name if library else None,
             "kind": a.kind, "text": a.text, "inbox_id": a.inbox_id,
             "from": senders.get(a.inbox_id or 0), "attachments": list(a.attachments or [])}
        )  # fmt: skip
    return docs


def _notes(history: list[dict[str, Any]], activities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Staff notes: on a library they are history entries, on a partnership note activities."""
    notes = [
        {"time": h["time"], "record": h["record"], "text": h["note"]}
        for h in history
        if h["event"] == "note"
    ]
    notes += [
        {"time": a["time"], "record": f"partnership:{a['partnership_id']}",
         "text": f"note by {a['from'] or 'staff'}: {a['text']}"}
        for a in activities
        if a["kind"] == "note"
    ]  # fmt: skip
    return sorted(notes, key=lambda n: n["time"] or "")


def attachment(session: Session, activity_id: int, n: int) -> tuple[dict[str, Any], bytes]:
    """Attachment n of an activity, read back from the stored mail it came with."""
    activity = session.get(Activity, activity_id)
    if activity is None:
        raise LookupError(f"no activity #{activity_id}")
    listed = list(activity.attachments or [])
    if not 0 <= n < len(listed):
        raise LookupError(f"no attachment {n} on activity #{activity_id} ({len(listed)} kept)")
    message = session.get(InboxMessage, activity.inbox_id) if activity.inbox_id else None
    # Imported here: the MIME reader (and charset detection) stays out of `mailflow run`,
    # which loads this module for the dashboard but never serves attachments.
    from mailflow.parse.message import attachment as attachment_part

    found = attachment_part(message.raw, int(listed[n]["part"])) if message else None
    if found is None:
        raise LookupError(f"attachment {n} of activity #{activity_id}: the stored mail is gone")
    return listed[n], found[1]


def show(session: Session, kind: str, record_id: int) -> dict[str, Any]:
    """Everything about one record: why it is where it is, and what mail it caused or did not."""
    record: Library | Partnership | None = (
        session.get(Library, record_id)
        if kind == "library"
        else session.get(Partnership, record_id)
    )
    if record is None:
        raise LookupError(f"no {kind} #{record_id}")
    if isinstance(record, Library):
        doc = library_item(record) | {
            "kind": "library",
            "timezone": record.timezone,
            "hidden": record.hidden,
            "fields": record.fields,
            "data": record.data,
            "updated": iso(record.updated_at),
            "contacts": [
                {"id": c.id, "email": c.email, "name": c.name, "status": c.status,
                 "bounce_count": c.bounce_count, "paused_until": iso(c.paused_until)}
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
            "updated": iso(record.updated_at),
            "sides": [_side(record, record.library_a), _side(record, record.library_b)],
        }
        history = _history(session, "partnership", [record_id])
    doc["history"] = history
    doc["activities"] = _activities(session, record)
    doc["notes"] = _notes(history, doc["activities"])
    doc["timers"] = [
        {"id": t.id, "name": t.name, "due": iso(t.due_at), "state": t.state, "sequence": t.sequence}
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
         "reason": s.reason, "time": iso(s.created_at)}
        for s in session.scalars(
            select(Suppressed).where(Suppressed.inbox_id.in_(sorted(inbox_ids))).order_by(Suppressed.id)
        )
    ]  # fmt: skip
    return doc


def format_show(doc: dict[str, Any]) -> str:
    out: list[str] = []
    if doc["kind"] == "library":
        out.append(f"library #{doc['id']} {doc['name']} [{doc['state']}]")
        for key in ("type", "country", "city", "language", "timezone", "hidden", "created"):
            out.append(f"  {key}: {cell(doc[key])}")
        out.append(f"  missing: {cell(doc['missing'])}")
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
        out.append(f"partnership #{doc['id']} [{doc['state']}] score {cell(doc['score'])}")
        for key in ("created", "offered", "trial", "active", "review", "mentor", "informal"):
            out.append(f"  {key}: {cell(doc[key])}")
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
            f"  {cell(h['time'])}  {h['record']} {h['from'] or '-'} -> {h['to'] or '-'}"
            f"  on {h['event'] or '-'}  by {h['cause']}"
        )
        if h["note"]:
            out.append(f"      note: {h['note']}")
        if h["trace_text"]:
            out.append(f"      trace: {h['trace_text']}")
    reports = [a for a in doc["activities"] if a["kind"] != "note"]
    out.append("activities:" if reports else "activities: none")
    for a in reports:
        who = f"l{a['library_id']} {a['library_name']}" if a["library_id"] else "-"
        source = f" (message #{a['inbox_id']})" if a["inbox_id"] else ""
        out.append(
            f"  #{a['id']} {cell(a['time'])}  p{a['partnership_id']} {who}: {a['kind']}{source}"
        )
        lines = [ln for ln in a["text"].splitlines() if ln.strip()]
        out.extend(f"      {ln}" for ln in lines[:TEXT_LINES])
        if len(lines) > TEXT_LINES:
            out.append(f"      ... ({len(lines) - TEXT_LINES} more lines)")
        for n, f in enumerate(a["attachments"]):
            out.append(
                f"      attachment {n}: {f['filename'] or '(no name)'}"
                f" ({f['content_type']}, {f['size']} bytes)"
            )
    out.append("notes:" if doc["notes"] else "notes: none")
    for note in doc["notes"]:
        out.append(f"  {cell(note['time'])}  {note['record']}  {note['text']}")
    out.append("pending timers:" if doc["timers"] else "pending timers: none")
    out.extend(f"  {t['name']} due {cell(t['due'])}" for t in doc["timers"])
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
