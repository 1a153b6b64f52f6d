"""Staff commands, as rules/commands.yaml declares them: an event to a record, or a handler here.

The record comes from the reply token of the mail staff answer (a proposal, an escalation, a
needs-a-person item). Answers to staff (a `status`, "not possible in this state") are staff
answers, not items needing a person.

A From header proves nothing: a command acts only when the mail is authenticated for the staff
address (parse/authn.py: DKIM verified here, or a trusted receiving host's Authentication-Results).
Otherwise nothing happens and the staff address, as the settings write it, is asked to reply
`confirm` to a mail carrying a one-time token (`c12`); that reply runs the stored command once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select

from mailflow.dispatch import attention, letters, libraries
from mailflow.dispatch.apply import apply_event
from mailflow.dispatch.correlate import referenced, reply_ref, subject_record
from mailflow.dispatch.letters import EPOCH
from mailflow.dispatch.program import COORDINATOR, MENTOR
from mailflow.dispatch.reading import authenticated, read_facts
from mailflow.dispatch.turn import Cause, Outcome, Outcomes, Record, Turn, load_record, machine_of
from mailflow.engine.definition import Command
from mailflow.engine.events import Event
from mailflow.parse import Facts
from mailflow.parse.clean import reusable_id
from mailflow.parse.intents import split_pair
from mailflow.parse.tokens import member_tag, parse_ref
from mailflow.store.schema import (
    AttentionItem,
    Contact,
    InboxMessage,
    Library,
    Outbox,
    Partnership,
    StaffConfirmation,
)

CONFIRM_TEMPLATE = "staff-confirm"
UNAUTHENTICATED = "unauthenticated"  # the attention item: one per sender per day
_NAMED = re.compile(r"\s*([pl])(\d{1,9})\b", re.IGNORECASE)  # `reopen l12`, `mentor p12 Ana`

Handler = Callable[[Turn, Facts, Command, str, "Record | AttentionItem | None"], Outcome]


def answer(turn: Turn, facts: Facts, text: str, lines: list[str] | None = None) -> Outcome:
    """Tell the staff member what came of their command (never an item needing a person).

    Only ever called for an authenticated (or confirmed) command: the answer goes to the staff
    member as the settings write them, never to anyone an unauthenticated mail names."""
    extra = {"lines": lines or [text], "message": attention.message_view(turn, facts, text)}
    member = turn.program.member(facts.from_.address)
    readers = [member] if member is not None else None
    letters.to_staff(turn, "staff-status", text, None, extra, readers=readers)
    return Outcome(Outcomes.STAFF_ANSWER, f"staff answered: {text}")


def run_command(turn: Turn, facts: Facts, *, confirmed: bool = False) -> Outcome:
    """Act on a staff command; confirmed: its staff address has confirmed it by mail."""
    verb, _, argument = (facts.command or "").partition(" ")
    command = turn.wf.commands.get(verb)
    # `confirm` needs no authentication: the round trip to the configured address proves it.
    is_confirm = command is not None and command.run == "confirm"
    if not confirmed and not is_confirm and authenticated(turn, facts) is None:
        return ask_to_confirm(turn, facts)
    if command is None:
        return answer(turn, facts, f"{verb}: not a command ({', '.join(turn.wf.commands)})")
    if not _may_role(turn, command, facts.from_.address):
        return answer(turn, facts, f"{verb}: only a {' or '.join(command.by)} may use it")
    turn = turn.because(
        Cause("staff", inbox_id=turn.cause.inbox_id, message_id=facts.message_id,
              by=facts.from_.address)
    )  # fmt: skip
    argument, target, why = staff_target(turn, facts, command, argument)
    if why is not None:
        return answer(turn, facts, f"{verb}: {why}")
    if isinstance(target, AttentionItem) and command.needs in ("library", "partnership", "record"):
        # A needs-a-person mail about a library ("I am the new contact") names that library; the
        # command resolves the record's open items, this one among them.
        target = _item_record(turn, target) or target
    if not _may(turn, command, facts.from_.address, target):
        return answer(turn, facts, f"{verb}: a mentor may use it only for their own partnerships")
    if not _fits(command.needs, target):
        return answer(
            turn, facts,
            f"{verb}: reply to a mail about a {command.needs} so I know which one you mean",
        )  # fmt: skip
    if command.run is not None:
        return HANDLERS[command.run](turn, facts, command, argument, target)
    return _event_command(turn, facts, command, argument, target)


def staff_target(
    turn: Turn, facts: Facts, command: Command, argument: str
) -> tuple[str, Record | AttentionItem | None, str | None]:
    """(the argument left, the record or item the command is about, why not).

    The record comes from a staff token sent to this staff member and not expired, or from a
    record named first in the argument (`reopen l12`, `mentor p12 Ana`). A library's token never
    names a record for a staff verb: libraries hold those. Without a token, a reply to a mail we
    sent to this very staff member (In-Reply-To) names its record."""
    if command.needs == "nothing":
        return argument, None, None  # pair, status, confirm: their handler reads what it needs
    named = _NAMED.match(argument)
    if named is not None:
        kind, number = named.group(1).lower(), int(named.group(2))
        record = load_record(turn.session, {"p": "partnership", "l": "library"}[kind], number)
        if record is None:
            return argument, None, f"there is no {named.group(0)}"
        return argument[named.end() :].strip(), record, None
    ref = parse_ref((facts.token or "").partition(".")[0]) if facts.token else None
    if ref is not None and not ref.staff:
        return argument, None, "the mail you answered was a library's, not yours; nothing done"
    if ref is not None:
        if ref.member != member_tag(facts.from_.address):
            return argument, None, "the mail you answered was sent to another staff member"
        if ref.expires_day is not None and ref.expires_day < (turn.now.date() - EPOCH).days:
            return argument, None, "the mail you answered is too old; answer a newer one"
        target = referenced(turn, facts) if ref.kind in ("p", "l", "n") else None
        return argument, target, None
    sent = _answered_staff_mail(turn, facts)
    if sent is None or not sent.record_type or not sent.record_id:
        # Mail systems without sub-addressing: a client that drops In-Reply-To still keeps the
        # subject tag; a hint only, as the command itself needs authentication.
        return argument, subject_record(turn, facts), None
    return argument, load_record(turn.session, sent.record_type, sent.record_id), None


def _answered_staff_mail(turn: Turn, facts: Facts) -> Outbox | None:
    """The mail we sent to this staff member that their command answers (In-Reply-To)."""
    wanted = reusable_id(facts.in_reply_to)
    if not wanted:
        return None
    sent = turn.session.scalar(select(Outbox).where(Outbox.message_id == wanted))
    address = facts.from_.address.lower()
    return sent if sent is not None and address in (sent.recipients or []) else None


def ask_to_confirm(turn: Turn, facts: Facts) -> Outcome:
    """Do nothing yet: ask the staff address itself (never the sender as written, never a
    Reply-To) whether it sent this command, and tell coordinators once per sender per day."""
    address = turn.program.configured_address(facts.from_.address)
    if address is None:  # parse reads commands only from staff addresses; defensive
        return Outcome(
            Outcomes.STAFF_UNCONFIRMED, "unauthenticated command from a non-staff address"
        )
    command = (facts.command or "").strip()
    pending = StaffConfirmation(
        inbox_id=turn.cause.inbox_id, address=address, command=command, created_at=turn.now,
        expires_at=turn.now + timedelta(days=turn.program.confirm_days),
    )  # fmt: skip
    turn.session.add(pending)
    turn.session.flush()
    letters.enqueue(
        turn, template=CONFIRM_TEMPLATE, locales=[turn.program.default_locale], to=[address],
        context={"recipient": {"name": "", "email": address}, "command": command,
                 "expires": pending.expires_at.date().isoformat(),
                 "message": attention.message_view(turn, facts, "not authenticated")},
        record=None, token_ref=f"c{pending.id}", thread_key=f"confirm:{pending.id}",
        staff_reader=address,
    )  # fmt: skip
    reason = f"a staff command from {address} was not authenticated; it acts only if confirmed"
    recent = turn.session.scalar(
        select(AttentionItem.id).where(
            AttentionItem.code == UNAUTHENTICATED, AttentionItem.reason == reason,
            AttentionItem.created_at > turn.now - timedelta(days=1),
        )
    )  # fmt: skip
    if recent is None:
        attention.open_item(turn, UNAUTHENTICATED, reason, data={"sender": address})
        # The other coordinators hear of it once a day; the address itself was just asked.
        others = [m for m in turn.program.coordinators if m.address.lower() != address.lower()]
        if others:
            letters.to_staff(turn, "staff-notice", reason, readers=others)
    text = f"not authenticated: {command!r} waits for confirmation #{pending.id} by {address}"
    return Outcome(Outcomes.STAFF_UNCONFIRMED, text)


def confirm(turn: Turn, facts: Facts, command: Command, argument: str, target: object) -> Outcome:
    """`confirm` in reply to a confirmation mail: run the command it asked about, once."""
    # The staff token, or our confirmation mail's Message-ID it answers; never the subject tag.
    ref = parse_ref(reply_ref(turn, facts) or "")
    if ref is not None and facts.token and not ref.staff:
        ref = None  # a library's token never confirms a staff command
    pending = (
        turn.session.get(StaffConfirmation, ref.id)
        if ref is not None and ref.kind == "c" and ref.id is not None
        else None
    )
    sender = facts.from_.address.lower()
    if pending is None or pending.address.lower() != sender:
        return Outcome(Outcomes.STAFF_REFUSED, "confirm: no confirmation of this address named")
    if pending.used_at is not None:
        return Outcome(Outcomes.STAFF_REFUSED, f"confirm: #{pending.id} was used already")
    if pending.expires_at <= turn.now:
        return Outcome(Outcomes.STAFF_REFUSED, f"confirm: #{pending.id} expired")
    pending.used_at, pending.used_inbox_id = turn.now, turn.cause.inbox_id
    for item in turn.session.scalars(
        select(AttentionItem).where(
            AttentionItem.code == UNAUTHENTICATED, AttentionItem.resolved_at.is_(None)
        )
    ):
        if item.data.get("sender") == pending.address:
            attention.resolve(turn, item, f"confirmed by {pending.address}")
    original = turn.session.get(InboxMessage, pending.inbox_id)
    assert original is not None
    facts_then = read_facts(turn, original.raw)
    then = turn.because(Cause("message", inbox_id=original.id, message_id=facts_then.message_id))
    outcome = run_command(then, facts_then, confirmed=True)
    return Outcome(outcome.code, f"confirmed #{pending.id}: {outcome.text}")


def _may_role(turn: Turn, command: Command, sender: str) -> bool:
    """Whether the sender's role may use the command at all, as the rules say (`by`);
    a coordinator may do whatever a mentor may."""
    member = turn.program.member(sender)
    if member is None:
        return False
    return MENTOR in command.by or (member.role == COORDINATOR and COORDINATOR in command.by)


def _may(turn: Turn, command: Command, sender: str, target: object) -> bool:
    """A mentor acts only on a partnership (or an item about one) that is theirs."""
    member = turn.program.member(sender)
    if member is None:
        return False
    if member.role == COORDINATOR:
        return True
    if isinstance(target, AttentionItem):
        target = _item_record(turn, target)
    if target is None:
        return command.needs == "nothing"  # e.g. status, confirm: nothing of anyone's
    return isinstance(target, Partnership) and (target.mentor or "").lower() == sender.lower()


def _fits(needs: str, target: Record | AttentionItem | None) -> bool:
    if needs == "nothing":
        return True
    if needs == "any":
        return target is not None
    if needs == "record":
        return isinstance(target, Library | Partnership)
    if isinstance(target, AttentionItem):
        return False
    return target is not None and machine_of(target) == needs


def _event_command(
    turn: Turn, facts: Facts, command: Command, argument: str, target: Record | AttentionItem | None
) -> Outcome:
    assert command.event is not None and target is not None
    item = target if isinstance(target, AttentionItem) else None
    record = _item_record(turn, item) if item is not None else target
    if record is None or isinstance(record, AttentionItem):
        assert item is not None
        attention.resolve(turn, item, f"{command.verb} by {turn.cause.by}: {argument}")
        return Outcome(Outcomes.STAFF_COMMAND, f"staff {command.verb}: item #{item.id} resolved")
    event = Event(command.event, turn.now, cause="staff", sender=turn.cause.by, text=argument)
    decision = apply_event(turn, record, event)
    kind = machine_of(record)
    if not decision.matched:
        return answer(
            turn,
            facts,
            f"{command.verb}: not possible for {kind} #{record.id} in state {decision.old_state}",
        )
    how = f"{command.verb} by {turn.cause.by}" + (f": {argument}" if argument else "")
    if item is not None:
        attention.resolve(turn, item, how)
    attention.resolve_record(turn, record, how)
    arrow = f"{decision.old_state} -> {decision.new_state}"
    return Outcome(Outcomes.STAFF_COMMAND, f"staff {command.verb}: {kind} #{record.id} {arrow}")


def _item_record(turn: Turn, item: AttentionItem) -> Record | None:
    return load_record(turn.session, item.record_type, item.record_id)


def pair(turn: Turn, facts: Facts, command: Command, argument: str, target: object) -> Outcome:
    from mailflow.dispatch.proposals import propose

    names = split_pair(argument)
    found = [libraries.find_library(turn, name) for name in names] if names else []
    if len(found) != 2 or found[0] is None or found[1] is None:
        return answer(turn, facts, f"pair: could not find both libraries in {argument!r}")
    partnership, why = propose(turn, found[0], found[1], [f"proposed by {turn.cause.by}"])
    if partnership is None:
        return answer(turn, facts, f"pair: {why}")
    text = f"staff pair: partnership #{partnership.id} {partnership.state}"
    return Outcome(Outcomes.STAFF_COMMAND, text)


def status(turn: Turn, facts: Facts, command: Command, argument: str, target: object) -> Outcome:
    library = libraries.find_library(turn, argument)
    if library is None:
        return answer(turn, facts, f"status: no library matches {argument!r}")
    lines = libraries.status_lines(turn, library)
    return answer(turn, facts, lines[0], lines)


def merge(turn: Turn, facts: Facts, command: Command, argument: str, target: object) -> Outcome:
    """Accept a proposed merge: the new address joins the existing library; the form is merged."""
    item = target if isinstance(target, AttentionItem) else None
    if item is None or item.code != str(Outcomes.MERGE_PROPOSED) or item.resolved_at is not None:
        return answer(turn, facts, "merge: reply to an open merge proposal")
    library = _item_record(turn, item)
    assert isinstance(library, Library)
    candidate = item.data.get("candidate", {})
    address, name = candidate.get("contact_email", ""), candidate.get("contact_name", "")
    if libraries.contact_for(turn, address) is None:
        contact_row = Contact(library_id=library.id, email=address, name=name[:255])
        turn.session.add(contact_row)
        library.contacts.append(contact_row)
    libraries.merge_application(turn, library, dict(item.data.get("fields", {})))
    attention.resolve(turn, item, f"merged by {turn.cause.by}")
    text = f"staff merge: {address} is now a contact of library #{library.id}"
    return Outcome(Outcomes.STAFF_COMMAND, text)


def contact(turn: Turn, facts: Facts, command: Command, argument: str, target: object) -> Outcome:
    """`contact new@lib.org New Name`: change a library's contact (history keeps the old one)."""
    assert isinstance(target, Library)
    words = argument.split()
    email = next((w.strip("<>,;") for w in words if "@" in w), None)
    name = " ".join(w for w in words if "@" not in w).strip() or None
    if email is None and name is None:
        return answer(turn, facts, "contact: give the new address and/or name")
    changes = libraries.update_contact(turn, target, None, email, name)
    attention.resolve_record(turn, target, f"contact changed by {turn.cause.by}")
    text = "; ".join(changes) or "nothing changed"
    return Outcome(Outcomes.STAFF_COMMAND, f"staff contact: library #{target.id}: {text}")


def mentor(turn: Turn, facts: Facts, command: Command, argument: str, target: object) -> Outcome:
    """`mentor p12 Ana`: the partnership's mentor is now this staff member (name or address)."""
    assert isinstance(target, Partnership)
    wanted = argument.strip().strip("<>").lower()
    found = [
        m for m in turn.program.team
        if wanted and wanted in (m.address.lower(), m.name.lower(), m.name.lower().split(" ")[0])
    ]  # fmt: skip
    if len(found) != 1:
        names = ", ".join(m.shown for m in turn.program.mentors)
        return answer(turn, facts, f"mentor: name one staff member ({names})")
    before, target.mentor = target.mentor, found[0].address
    event = Event("staff-note", turn.now, cause="staff", sender=turn.cause.by,
                  text=f"mentor: {found[0].shown} <{found[0].address}> (was {before or 'none'})")  # fmt: skip
    apply_event(turn, target, event)
    return Outcome(
        Outcomes.STAFF_COMMAND, f"staff mentor: partnership #{target.id} -> {found[0].address}"
    )


HANDLERS: dict[str, Handler] = {
    "pair": pair, "status": status, "merge": merge, "contact": contact, "confirm": confirm,
    "mentor": mentor,
}  # fmt: skip
