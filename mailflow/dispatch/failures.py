"""Failed addresses, in one place: bounces that come back by mail, and relays that refuse.

A bounce by mail counts only when it quotes the Message-ID of a mail we sent (the `outbox`
table), and only against that mail's recipients: anyone can write a delivery report naming any
address. A content rejection (a 5.7.x status, a spam verdict) fails that one mail and leaves the
address alone: the address works, the receiver disliked the mail.

Otherwise the contact is marked (a temporary failure `bouncing`, a permanent one `failed`),
history keeps why, and a library left with no working address becomes unreachable (the rules
tell staff).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.clock import Clock
from mailflow.dispatch import attention, letters, lookups
from mailflow.dispatch.apply import apply_event
from mailflow.dispatch.libraries import contacts_for
from mailflow.dispatch.program import Workflow
from mailflow.dispatch.turn import Cause, Outcome, Outcomes, Turn, load_record
from mailflow.engine.events import Event
from mailflow.parse import Facts
from mailflow.parse.clean import NAMES
from mailflow.parse.facts import Bounce
from mailflow.parse.tokens import find_token, parse_ref, verify_token
from mailflow.store.locks import locked
from mailflow.store.schema import History, InboxMessage, Outbox

UNREACHABLE = "contacts-unreachable"


def mark_failed(turn: Turn, addresses: Iterable[str], permanent: bool, why: str) -> list[str]:
    """Mark each known address; libraries left without a working one become unreachable."""
    marked, unreachable = [], []
    for contact in (c for address in addresses for c in contacts_for(turn, address)):
        # The library's row lock covers its contacts: two bounces for it count both.
        locked(turn.session, contact.library)
        locked(turn.session, contact)
        before = contact.status
        contact.bounce_count += 1
        contact.last_bounce_at = turn.now
        if contact.status != "former":
            contact.status = "failed" if permanent else "bouncing"
        lookups.insert_later(
            turn.session, History, record_type="contact", record_id=contact.id,
            from_state=before, to_state=contact.status, cause=turn.cause.kind,
            inbox_id=turn.cause.inbox_id, event="delivery-failed",
            note=f"{why} for contact #{contact.id}", trace=[], created_at=turn.now,
        )  # fmt: skip
        marked.append(f"contact #{contact.id} -> {contact.status}")
        library = contact.library
        dead = all(c.status in ("failed", "former", "unconfirmed") for c in library.contacts)
        if dead and library not in unreachable:
            unreachable.append(library)
    for library in unreachable:
        apply_event(turn, library, Event(UNREACHABLE, turn.now, cause="engine"))
    return marked


def verp_row(turn: Turn, facts: Facts) -> Outbox | None:
    """The outbox row whose return path (VERP, `program+b12.sig@...`) this mail came back to:
    the verified token of its To/Cc, else of the envelope recipient our endpoint stored. Only a
    receiving server of that one mail saw the address, so it names that mail and its readers."""
    ref = facts.token.partition(".")[0] if facts.token else None
    if ref is None or not ref.startswith(letters.VERP_KIND):
        row = turn.session.get(InboxMessage, turn.cause.inbox_id) if turn.cause.inbox_id else None
        program = turn.program
        raw, _ = find_token((row.envelope_to or []) if row else [], program.program_address)
        ref = verify_token(program.verify_keys(turn.now), raw) if raw else None
    parts = parse_ref(ref) if ref else None
    if parts is None or parts.kind != letters.VERP_KIND or parts.id is None:
        return None
    return turn.session.get(Outbox, parts.id)


def verp_bounce(turn: Turn, facts: Facts, row: Outbox) -> Outcome:
    """A report that came back to one mail's return path: it counts against that mail's
    recipients, whatever the report says or fails to say."""
    found = facts.bounce
    ours = [r.lower() for r in row.recipients]
    named = [r for r in (found.recipients if found else ()) if r in ours]
    # Unreadable, or naming nobody it went to: a mail to one reader failed for that reader.
    recipients = named or (ours if len(ours) == 1 else [])
    if found is not None and content_rejected(found):
        return _content_rejection(turn, found, [row], recipients)
    # A report that names none of the mail's readers is no proof the address is gone for good
    # (parse/ calls a failure with no code and no reason permanent): counted as temporary.
    permanent = bool(found and found.permanent and named)
    marked = mark_failed(turn, recipients, permanent, f"bounce (return path of outbox #{row.id})")
    how = "report" if named else "unreadable report: no recipient of ours in it"
    text = (
        f"bounce to the return path of outbox #{row.id} ({row.template}, {how}): "
        + (", ".join(marked) if marked else "no contact changed")
        + "; not answered"
    )
    return Outcome(Outcomes.BOUNCE, text)


def content_rejected(found: Bounce) -> bool:
    """The receiver refused what the mail said (policy, spam), not the address."""
    return found.spam_verdict or any(s.startswith("5.7.") for s in found.statuses)


def sent_by_us(turn: Turn, message_ids: Iterable[str]) -> list[Outbox]:
    """The outbox rows of the quoted Message-IDs (as quoted, or lower-cased by a relay)."""
    ids = {m.strip().strip("<>") for m in message_ids} - {""}
    if not ids:
        return []
    wanted = ids | {m.lower() for m in ids}
    return list(turn.session.scalars(select(Outbox).where(Outbox.message_id.in_(wanted))))


def bounce(turn: Turn, facts: Facts) -> Outcome:
    """A delivery status notification (or a look-alike) came back by mail."""
    found = facts.bounce
    assert found is not None
    sent = sent_by_us(turn, found.message_ids)
    if not sent:
        return Outcome(
            Outcomes.BOUNCE,
            "bounce: refers to no mail we sent (no Message-ID of ours quoted); "
            "no contact changed; not answered",
        )
    # Only the addresses the quoted mail went to: a report cannot fail anyone else.
    ours = {r.lower() for row in sent for r in row.recipients}
    recipients = [r for r in found.recipients if r in ours]
    if content_rejected(found):
        return _content_rejection(turn, found, sent, recipients)
    marked = mark_failed(turn, recipients, bool(found.permanent), "bounce")
    unknown = sum(1 for r in recipients if not contacts_for(turn, r))
    parts = []
    if marked:
        parts.append("flagged " + ", ".join(marked))
    if unknown:
        parts.append(f"{unknown} address(es) that are no contact")
    if others := len(found.recipients) - len(recipients):
        parts.append(f"{others} address(es) the quoted mail did not go to, ignored")
    if not found.recipients:
        parts.append("no readable recipient")
    return Outcome(Outcomes.BOUNCE, "bounce: " + "; ".join(parts) + "; not answered")


def _content_rejection(
    turn: Turn, found: Bounce, sent: list[Outbox], recipients: list[str]
) -> Outcome:
    """That mail failed; the address stays as it is. Staff are told without the mail's content."""
    codes = ", ".join(found.statuses) or "a spam or policy verdict"
    who = ", ".join(recipients) or "its recipient"
    for row in sent:
        row.status = "failed"
        row.last_error = f"content rejected by the receiving server ({codes})"
        reason = f"the receiving server refused the content of {row.template} to {who} ({codes})"
        _tell_staff(turn, row, reason)
    return Outcome(
        Outcomes.BOUNCE,
        f"bounce: content rejected ({codes}) for {who}; that mail failed, "
        "the address stays as it is; staff told; not answered",
    )


def _tell_staff(turn: Turn, row: Outbox, reason: str) -> None:
    if row.template.startswith("staff-"):
        return  # staff mail that fails is logged; telling staff by mail would loop
    record = load_record(turn.session, row.record_type, row.record_id)
    if record is not None:
        attention.escalate(turn, record, "staff-notice", reason)
    else:
        attention.open_item(turn, "delivery-failed", reason)
        letters.to_staff(turn, "staff-notice", reason)


# A relay's refusal that names the content, not the address (554 5.7.1 at DATA, spam words).
_CONTENT_REFUSAL = re.compile(
    r"\b5\.7\.\d{1,3}\b|\bspam\b|policy|blocked|virus|malware|content", re.I
)


def on_permanent_failure(
    wf: Workflow, clock: Clock
) -> Callable[[Session, Outbox, Exception], None]:
    """The drain callback: the relay refused a recipient for good."""

    def handle(session: Session, row: Outbox, exc: Exception) -> None:
        turn = Turn(session, wf, clock.now(), Cause("engine"))
        refused = [r.lower() for r in (getattr(exc, "recipients", None) or row.recipients)]
        # Addresses and host names in the error say nothing about content ("spam@lib.example").
        if _CONTENT_REFUSAL.search(NAMES.sub(" ", str(exc))):
            # The mail failed; the address did not. The relay's words may quote the content.
            reason = f"the relay refused the content of {row.template} to {', '.join(refused)}"
            code = m.group(0) if (m := re.search(r"\b5\.7\.\d{1,3}\b", str(exc))) else None
            _tell_staff(turn, row, reason + (f" ({code})" if code else ""))
            return
        mark_failed(turn, refused, True, f"relay refused {row.template}")
        reason = f"delivery of {row.template} to {', '.join(refused)} failed permanently: {exc}"
        _tell_staff(turn, row, reason)

    return handle


def on_not_rendered(wf: Workflow, clock: Clock) -> Callable[[Session, Outbox, str], None]:
    """The drain callback: a queued mail could not be rendered when it was to be sent (a
    template changed under it, a header it cannot carry). The row is failed; staff get a
    `not-composed` item and a notice (not for a mail to staff: that would loop)."""

    def handle(session: Session, row: Outbox, reason: str) -> None:
        turn = Turn(session, wf, clock.now(), Cause("engine"))
        shown = ", ".join(row.recipients)[:300]
        text = f"could not render {row.template} to {shown}: {reason}"[:2000]
        record = load_record(session, row.record_type, row.record_id)
        attention.open_item(
            turn, "not-composed", text, record,
            {"template": row.template, "recipients": list(row.recipients), "outbox": row.id},
        )  # fmt: skip
        if not row.template.startswith("staff-"):
            letters.to_staff(turn, "staff-notice", text, record)

    return handle
