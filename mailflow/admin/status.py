"""`mailflow status`: how the queues stand and which workers are alive, as one JSON-ready dict.

The same snapshot feeds the text, `--json` and the /metrics gauges, so they never disagree.
Queue ages use the program clock (`now`); worker liveness uses the wall clock (`wall_now`),
because heartbeats are about real processes, not the workflow's time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import MetaData, Table, func, inspect, select
from sqlalchemy.orm import Session

from mailflow.store.schema import (
    DEAD,
    DONE,
    NEW,
    QUARANTINED,
    AttentionItem,
    DeadLetter,
    ImapCursor,
    InboxMessage,
    Outbox,
    Timer,
    Worker,
)

INBOX_STATUSES = (NEW, DONE, QUARANTINED, DEAD)
OUTBOX_STATUSES = ("pending", "sent", "failed")
# Lease columns the queue tables may carry (added by the multi-worker claims); found by name so
# this read side needs no change when they arrive: (owner column, expiry column).
LEASE_OWNER = ("claimed_by", "lease_owner", "leased_by", "locked_by", "owner")
LEASE_UNTIL = ("claimed_until", "lease_until", "leased_until", "locked_until", "lease_expires_at")
LEASE_TABLES = ("inbox", "timers", "outbox")
RECENT_FAILURES = 3


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _aware(at: datetime | None) -> datetime | None:
    if at is None:
        return None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _counts(session: Session, column: Any, statuses: tuple[str, ...]) -> dict[str, int]:
    counts = dict.fromkeys(statuses, 0)
    for status, n in session.execute(select(column, func.count()).group_by(column)):
        counts[status] = n
    return counts


def snapshot(
    session: Session,
    now: datetime,
    wall_now: datetime,
    stale_after_seconds: float,
    *,
    with_leases: bool = True,
) -> dict[str, Any]:
    """Every figure `mailflow status` shows; times as ISO strings, ages in seconds."""
    inbox = _counts(session, InboxMessage.status, INBOX_STATUSES)
    oldest_new = session.scalar(
        select(func.min(InboxMessage.received_at)).where(InboxMessage.status == NEW)
    )
    outbox = _counts(session, Outbox.status, OUTBOX_STATUSES)
    pending = Outbox.status == "pending"
    due = session.scalar(
        select(func.count()).where(pending, Outbox.next_attempt_at <= now).select_from(Outbox)
    )
    retrying = session.scalar(
        select(func.count()).where(pending, Outbox.attempts > 0).select_from(Outbox)
    )
    next_attempt = session.scalar(
        select(func.min(Outbox.next_attempt_at)).where(pending, Outbox.next_attempt_at > now)
    )
    oldest_pending = session.scalar(select(func.min(Outbox.created_at)).where(pending))
    failures = [
        {"id": r.id, "template": r.template, "attempts": r.attempts,
         "error": (r.last_error or "").strip().splitlines()[0] if r.last_error else ""}
        for r in session.scalars(
            select(Outbox).where(Outbox.status == "failed").order_by(Outbox.id.desc())
            .limit(RECENT_FAILURES)
        )
    ]  # fmt: skip
    timers_pending = Timer.status == "pending"
    timers_due = session.scalar(
        select(func.count()).where(timers_pending, Timer.due_at <= now).select_from(Timer)
    )
    next_timer = session.scalar(
        select(func.min(Timer.due_at)).where(timers_pending, Timer.due_at > now)
    )
    dead_letters = session.scalar(
        select(func.count()).where(DeadLetter.replayed_at.is_(None)).select_from(DeadLetter)
    )
    attention = session.scalar(
        select(func.count()).where(AttentionItem.resolved_at.is_(None)).select_from(AttentionItem)
    )
    workers = [
        _worker_item(w, wall_now, stale_after_seconds)
        for w in session.scalars(select(Worker).order_by(Worker.name))
    ]
    contacts = [
        (at, w.imap_mailbox)
        for w in session.scalars(select(Worker))
        if (at := _aware(w.imap_contact_at)) is not None
    ]
    last_contact, mailbox = max(contacts, key=lambda c: c[0]) if contacts else (None, None)
    cursor = session.scalar(select(func.max(ImapCursor.updated_at)))
    return {
        "now": now.isoformat(),
        "inbox": inbox,
        "oldest_unprocessed": _iso(oldest_new),
        "oldest_unprocessed_age_seconds": _age(now, oldest_new),
        "outbox": {
            **outbox,
            "due": due or 0,
            "retrying": retrying or 0,
            "waiting": outbox["pending"] - (due or 0),
            "next_attempt_at": _iso(next_attempt),
            "oldest_pending": _iso(oldest_pending),
            "oldest_pending_age_seconds": _age(now, oldest_pending),
            "recent_failures": failures,
        },
        "dead_letters": dead_letters or 0,
        "quarantined": inbox[QUARANTINED],
        "needs_a_person": attention or 0,
        "timers": {"due": timers_due or 0, "next_due_at": _iso(next_timer)},
        "imap": {
            "last_contact": _iso(last_contact),
            "last_contact_age_seconds": _age(wall_now, last_contact),
            "mailbox": mailbox,
            "cursor_updated_at": _iso(cursor),
        },
        "workers": workers,
        "workers_live": sum(1 for w in workers if w["live"]),
        "workers_stale": sum(1 for w in workers if not w["live"]),
        "leases": leases(session, wall_now) if with_leases else [],
    }


def _age(now: datetime, then: datetime | None) -> float | None:
    return None if then is None else max(0.0, (now - then).total_seconds())


def _worker_item(w: Worker, wall_now: datetime, stale_after_seconds: float) -> dict[str, Any]:
    seen = _aware(w.last_seen)
    assert seen is not None
    return {
        "name": w.name,
        "roles": w.roles.split(",") if w.roles else [],
        "started_at": _iso(w.started_at),
        "last_seen": _iso(seen),
        "last_seen_age_seconds": _age(wall_now, seen),
        "live": wall_now - seen <= timedelta(seconds=stale_after_seconds),
        "imap_mailbox": w.imap_mailbox,
        "imap_contact_at": _iso(w.imap_contact_at),
    }


def leases(session: Session, wall_now: datetime) -> list[dict[str, Any]]:
    """Rows each worker holds, per queue table that has lease columns (none: an empty list)."""
    found = []
    inspector = inspect(session.connection())
    for name in LEASE_TABLES:
        columns = {c["name"] for c in inspector.get_columns(name)}
        owner = next((c for c in LEASE_OWNER if c in columns), None)
        until = next((c for c in LEASE_UNTIL if c in columns), None)
        if owner is None or until is None:
            continue
        table = Table(name, MetaData(), autoload_with=session.connection())
        rows = session.execute(
            select(table.c[owner], func.count(), func.max(table.c[until]))
            .where(table.c[owner].is_not(None))
            .group_by(table.c[owner])
        )
        for who, n, latest in rows:
            latest = _aware(latest)
            found.append({
                "table": name, "owner": who, "rows": n, "until": _iso(latest),
                "expired": latest is not None and latest < wall_now,
            })  # fmt: skip
    return found


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    if seconds < 172800:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


def format_status(s: dict[str, Any]) -> str:
    """The snapshot in lines an operator reads top to bottom."""
    inbox, out, imap = s["inbox"], s["outbox"], s["imap"]
    lines = [
        f"inbox: {inbox[NEW]} new, {inbox[DONE]} done, {inbox[QUARANTINED]} quarantined, "
        f"{inbox[DEAD]} dead",
        "oldest unprocessed: "
        + (
            f"{s['oldest_unprocessed']} ({_ago(s['oldest_unprocessed_age_seconds'])})"
            if s["oldest_unprocessed"]
            else "none"
        ),
        f"dead letters: {s['dead_letters']} waiting for replay; quarantined: {s['quarantined']}; "
        f"needs a person: {s['needs_a_person']}",
        f"outbox: {out['pending']} pending ({out['due']} due now, {out['waiting']} waiting, "
        f"{out['retrying']} retrying), {out['sent']} sent, {out['failed']} failed",
    ]
    if out["next_attempt_at"]:
        lines.append(f"  next attempt: {out['next_attempt_at']}")
    if out["oldest_pending"]:
        lines.append(
            f"  oldest pending: {out['oldest_pending']} ({_ago(out['oldest_pending_age_seconds'])})"
        )
    for f in out["recent_failures"]:
        lines.append(f"  failed #{f['id']} {f['template']} after {f['attempts']}: {f['error']}")
    timers = s["timers"]
    lines.append(
        f"timers: {timers['due']} due now"
        + (f"; next at {timers['next_due_at']}" if timers["next_due_at"] else "")
    )
    if imap["last_contact"]:
        lines.append(
            f"IMAP: last contact {imap['last_contact']} ({_ago(imap['last_contact_age_seconds'])})"
            f" with {imap['mailbox']}"
        )
    elif imap["cursor_updated_at"]:
        lines.append(f"IMAP: no worker reports contact; cursor moved {imap['cursor_updated_at']}")
    else:
        lines.append("IMAP: no contact recorded")
    lines.append(f"workers: {s['workers_live']} live, {s['workers_stale']} stale")
    for w in s["workers"]:
        state = "live" if w["live"] else "STALE"
        lines.append(
            f"  {w['name']} {state} ({','.join(w['roles'])}) since {w['started_at']}, "
            f"seen {_ago(w['last_seen_age_seconds'])}"
        )
    for lease in s["leases"]:
        lines.append(
            f"  lease: {lease['owner']} holds {lease['rows']} {lease['table']} row(s) until "
            f"{lease['until']}" + (" (expired)" if lease["expired"] else "")
        )
    return "\n".join(lines)
