"""The needs-a-person queue: every item is open until staff resolve it, and the digest lists them.

An item is opened with a mail to staff. Its mail carries a reply token naming the item (`n12`),
so a `note ...` in reply resolves it; a staff command that acts on the item's record resolves
the record's open items too.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from mailflow.dispatch import letters, limits, lookups
from mailflow.dispatch.turn import Outcome, Outcomes, Record, Turn, machine_of
from mailflow.parse import Facts
from mailflow.store.schema import AttentionItem


def open_item(
    turn: Turn,
    code: str,
    reason: str,
    record: Record | None = None,
    data: dict[str, Any] | None = None,
) -> AttentionItem:
    values: dict[str, Any] = {
        # In a batch's dispatch, its id now (lookups.new_id): no flush of its own for the
        # reply token that names it, and the row is written at once (lookups.insert_rows).
        "id": lookups.new_id(turn.session, AttentionItem),
        "code": code, "reason": reason, "record_type": machine_of(record) if record else None,
        "record_id": record.id if record else None, "inbox_id": turn.cause.inbox_id,
        "data": data or {}, "created_at": turn.now, "resolved_at": None, "resolved_by": None,
        "resolution": None,
    }  # fmt: skip
    item = AttentionItem(**values)
    if values["id"] is not None and lookups.insert_rows(turn.session, AttentionItem, [values]):
        return item  # not in the session: read it back to change it
    turn.session.add(item)
    if item.id is None:
        turn.session.flush()
    return item


def escalate(turn: Turn, record: Record, template: str, reason: str) -> None:
    """A `notify-staff` effect: an open item about the record, and the mail that says so."""
    if template in ("staff-escalation", "staff-notice"):
        open_item(turn, template.removeprefix("staff-"), reason, record)
    letters.to_staff(turn, template, reason, record)


def message_view(turn: Turn, facts: Facts, reason: str) -> dict[str, Any]:
    return {
        "id": turn.cause.inbox_id, "from": facts.from_.address, "subject": facts.subject,
        "received": turn.now.isoformat(), "reason": reason, "text": facts.reply_text,
    }  # fmt: skip


def needs_person(
    turn: Turn,
    facts: Facts,
    reason: str,
    record: Record | None = None,
    code: Outcomes = Outcomes.NEEDS_PERSON,
) -> Outcome:
    """Open an item for a message nobody could act on, and mail staff (a `note` resolves it)."""
    item = open_item(turn, str(code), reason, record)
    if limits.staff_rate_exceeded(turn):
        # The item is open and the digest lists it; only the mail of its own is left out.
        letters.suppress(turn, "(staff)", "staff-needs-person", limits.BATCHED)
        return Outcome(code, f"needs a person: {reason}; {limits.BATCHED}")
    extra = {"message": message_view(turn, facts, reason)}
    letters.to_staff(turn, "staff-needs-person", reason, record, extra, token_ref=f"n{item.id}")
    return Outcome(code, f"needs a person: {reason}")


def tell_held(turn: Turn, sender: str, reason: str) -> None:
    """Coordinators hear once a day that an address is held: one item, one mail."""
    if limits.told_today(turn, sender):
        return
    open_item(turn, limits.HELD_CODE, reason, data={"address": sender})
    letters.to_staff(turn, "staff-notice", reason)


def open_items(turn: Turn, record: Record) -> list[AttentionItem]:
    return list(
        turn.session.scalars(
            select(AttentionItem).where(
                AttentionItem.record_type == machine_of(record),
                AttentionItem.record_id == record.id,
                AttentionItem.resolved_at.is_(None),
            )
        )
    )


def resolve(turn: Turn, item: AttentionItem, how: str) -> None:
    if item.resolved_at is None:
        item.resolved_at, item.resolved_by, item.resolution = turn.now, turn.cause.by, how[:2000]


def resolve_record(turn: Turn, record: Record, how: str) -> int:
    items = open_items(turn, record)
    for item in items:
        resolve(turn, item, how)
    return len(items)
