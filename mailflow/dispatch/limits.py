"""Limits on automatic mail, so a correspondent that answers everything cannot start a loop.

Our `X-Mailflow-Origin` header and the other side's `Auto-Submitted` stop loops only when they
survive; a vacation script without RFC 3834 headers or a mailing list that strips headers keeps
them going. These limits hold without any header: answers to an address's own mail are counted
per day, an identical answer is never sent twice, an address that floods us is held (read, not
answered), and mail that is our own text coming back is not a new application.
"""

from __future__ import annotations

import email
import hashlib
import re
from collections.abc import Iterable, Sequence
from datetime import timedelta
from email.policy import default
from typing import Any

from sqlalchemy import bindparam, func, select

from mailflow.dispatch import lookups
from mailflow.dispatch.turn import Turn
from mailflow.outbox.spec import NotRendered
from mailflow.parse import Facts
from mailflow.parse.tokens import verify_token
from mailflow.store.schema import (
    AttentionItem,
    InboxMessage,
    MessageFacts,
    Outbox,
    OutboxRecipient,
)

WINDOW = timedelta(days=1)
# Staff mail caused by a staff member's own mail that is not a command: what a vacation script
# answering our notices causes. Command answers (status, refusals) to staff are never limited.
LOOP_PRONE_STAFF = frozenset({"staff-needs-person"})
BATCHED = "batched into the digest"
HELD_CODE = "sender-held"
# Our own mail coming back: this share of its longer lines appear in what the sender "wrote".
OWN_TEXT_SHARE = 0.6
OWN_TEXT_MIN_LINES = 3
OWN_LINE_MIN_CHARS = 20
OWN_LOOKBACK = timedelta(days=7)
OWN_LOOKBACK_ROWS = 20

# The queries every message runs, built once: building a select costs about twice what
# running it on an index does (values are bound per call).
_TEMPLATES_TO = (
    select(Outbox.template)
    .join(OutboxRecipient, OutboxRecipient.outbox_id == Outbox.id)
    .where(
        OutboxRecipient.address == bindparam("address"),
        Outbox.inbox_id.is_not(None),
        Outbox.created_at > bindparam("since"),
    )
)
_SAME_TEMPLATE_TO = (
    select(Outbox.raw, Outbox.spec, Outbox.message_id)
    .where(
        Outbox.id.in_(
            select(OutboxRecipient.outbox_id).where(
                OutboxRecipient.address.in_(bindparam("addresses", expanding=True))
            )
        ),
        Outbox.template == bindparam("template"),
        Outbox.created_at > bindparam("since"),
    )
    .order_by(Outbox.id)
)
_MESSAGES_FROM = (
    select(func.count())
    .select_from(InboxMessage)
    .join(MessageFacts, MessageFacts.inbox_id == InboxMessage.id)
    .where(
        MessageFacts.from_address == bindparam("sender"),
        InboxMessage.received_at > bindparam("since"),
    )
)
_STAFF_NOTICES = (
    select(func.count())
    .select_from(Outbox)
    .where(Outbox.template == "staff-needs-person", Outbox.created_at > bindparam("since"))
)
_RECENT_TO = (
    select(Outbox.raw)
    .join(OutboxRecipient, OutboxRecipient.outbox_id == Outbox.id)
    .where(
        OutboxRecipient.address == bindparam("address"),
        Outbox.created_at > bindparam("since"),
        Outbox.raw != b"",  # rendered: only mail that went out can come back
    )
    .order_by(Outbox.id.desc())
    .limit(OWN_LOOKBACK_ROWS)
)


def text_hash(raw: bytes) -> str:
    """The hash of what a reader sees of a composed mail: its subject and plain text."""
    msg = email.message_from_bytes(raw, policy=default)
    body = msg.get_body(("plain",))
    text = body.get_content() if body is not None else ""
    return hashlib.sha256(f"{msg['Subject']}\n{text.strip()}".encode()).hexdigest()


def counted(turn: Turn, template: str, address: str) -> bool:
    """Whether a mail to `address` counts against the limits (staff commands' answers do not)."""
    return not turn.program.is_staff(address) or template in LOOP_PRONE_STAFF


def _hash_of(turn: Turn, raw: bytes, spec: dict[str, Any] | None, message_id: str) -> str | None:
    """text_hash of a stored mail, rendering its spec when it is not rendered yet (None: it
    cannot be; the drainer will fail it and tell staff, so it answers nothing)."""
    if not raw and spec is not None:
        try:
            raw = turn.wf.composer(spec, message_id).raw
        except NotRendered:
            return None
    return text_hash(raw)


def why_not(
    turn: Turn, template: str, recipients: Sequence[str], mail: bytes | tuple[dict[str, Any], str]
) -> str | None:
    """Why an automatic mail must not go out (a Suppressed row's reason), or None: send it.

    `mail`: its bytes, or (spec, Message-ID) when the drainer renders it; it is rendered here
    only when an answer of the same template went to one of these addresses today."""
    if turn.silenced:
        return turn.silenced
    addresses = [a.lower() for a in recipients if counted(turn, template, a)]
    if not addresses:
        return None
    since = turn.now - WINDOW
    sender = (turn.cause.sender or "").lower()
    if turn.cause.kind == "message" and sender in addresses and not turn.progressed:
        # Only answers to the address's own mail are stopped: a loop is us answering its
        # answers; mail a timer or a staff decision causes is the workflow, not a loop. What
        # it already got today because of any incoming mail counts, so a loop's first mail does.
        known = _mail_to(turn, sender)
        if known is not None:
            templates: Iterable[str] = [
                m.template for m in known if m.answer and m.created_at > since
            ]
        else:
            templates = turn.session.scalars(_TEMPLATES_TO, {"address": sender, "since": since})
        got = sum(1 for t in templates if counted(turn, t, sender))
        if got >= turn.program.limits.mails_per_address_per_day:
            return (
                f"{sender} got {got} automatic mails in 24 hours (limits.mails_per_address_per_day)"
            )
    if turn.cause.kind != "message":
        return None  # a timer's or a command's mail is the workflow, not an answer
    mine = None
    sent = [_mail_to(turn, a) for a in addresses]
    if all(s is not None for s in sent) and not any(
        m.template == template and m.created_at > since for s in sent for m in s or ()
    ):
        return None  # none of this template to them today: nothing to compare
    # Only the mails of this template to these addresses are loaded and read.
    params = {"addresses": addresses, "template": template, "since": since}
    for raw, spec, message_id in turn.session.execute(_SAME_TEMPLATE_TO, params):
        if mine is None:
            mine = _hash_of(turn, mail, None, "") if isinstance(mail, bytes) else (
                _hash_of(turn, b"", *mail)
            )  # fmt: skip
            if mine is None:
                return None
        if _hash_of(turn, raw, spec, message_id) == mine:
            return "the same answer went to this address in the last 24 hours"
    return None


def _mail_to(turn: Turn, address: str) -> list[lookups.Sent] | None:
    """In a batch's dispatch, the mail queued to one of its senders in the last OWN_LOOKBACK
    (lookups.py); None: ask the database."""
    cached = lookups.of(turn.session)
    if cached is None:
        return None
    return cached.mail_to(turn.session, address, turn.now - OWN_LOOKBACK)


def held(turn: Turn, facts: Facts) -> str | None:
    """Why the sender is held for flooding us, or None. The current message counts too."""
    sender = facts.from_.address
    if not sender:
        return None
    limits = turn.program.limits
    since = turn.now - timedelta(minutes=limits.hold_window_minutes)
    cached = lookups.of(turn.session)
    recent = cached.messages(sender, since) if cached is not None else None
    if recent is None:
        recent = turn.session.scalar(_MESSAGES_FROM, {"sender": sender, "since": since}) or 0
    if recent + 1 <= limits.hold_after_messages:
        return None
    return (
        f"{sender} sent more than {limits.hold_after_messages} mails in "
        f"{limits.hold_window_minutes} minutes: held, read but not answered"
    )


def told_today(turn: Turn, sender: str) -> bool:
    """Whether coordinators were told in the last 24 hours that this address is held."""
    items = turn.session.scalars(
        select(AttentionItem).where(
            AttentionItem.code == HELD_CODE, AttentionItem.created_at > turn.now - WINDOW
        )
    )
    return any((i.data or {}).get("address") == sender for i in items)


def staff_rate_exceeded(turn: Turn) -> bool:
    """Needs-a-person notices come faster than staff_notices_per_hour: batch them in the digest."""
    since = turn.now - timedelta(hours=1)
    cached = lookups.of(turn.session)
    if cached is not None:  # a batch's dispatch: read once, then counted (lookups.py)
        sent = cached.staff_notices(turn.session, since)
    else:
        sent = turn.session.scalar(_STAFF_NOTICES, {"since": since}) or 0
    # Each coordinator gets their own copy of a notice: count notices, not copies.
    copies = max(1, len(turn.program.coordinators))
    return sent >= turn.program.limits.staff_notices_per_hour * copies


def _lines(text: str) -> set[str]:
    out = set()
    for line in text.splitlines():
        line = " ".join(line.lstrip("> ").split())
        if len(line) >= OWN_LINE_MIN_CHARS:
            out.add(line)
    return out


def looks_like_ours(turn: Turn, facts: Facts) -> str | None:
    """Why a message is our own mail coming back (our token or our text in its body), or None."""
    program = turn.program
    local, _, domain = program.program_address.partition("@")
    pattern = rf"{re.escape(local)}\+([a-z0-9.]{{3,60}})@{re.escape(domain)}"
    for found in re.finditer(pattern, facts.text[:200_000], re.I):
        if verify_token(program.verify_keys(turn.now), found.group(1)):
            return "it carries mailflow's reply token in its text"
    sender = facts.from_.address
    if sender == program.program_address:
        return "it comes from mailflow's own address"  # a list re-posting us under our From
    wrote = _lines(facts.reply_text)
    if not wrote or not sender:
        return None
    since = turn.now - OWN_LOOKBACK
    known = _mail_to(turn, sender.lower())
    if known is not None and not any(m.rendered for m in known):
        return None  # no mail with its text stored went to it: none can come back
    rows = turn.session.scalars(_RECENT_TO, {"address": sender.lower(), "since": since})
    for raw in rows:
        msg = email.message_from_bytes(raw, policy=default)
        body = msg.get_body(("plain",))
        ours = _lines(body.get_content() if body is not None else "")
        if len(ours) >= OWN_TEXT_MIN_LINES and len(ours & wrote) >= OWN_TEXT_SHARE * len(ours):
            return "its text is a mail mailflow sent to this address"
    return None
