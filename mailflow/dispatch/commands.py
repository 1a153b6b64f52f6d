"""Staff commands, as rules/commands.yaml declares them: an event to a record, or a handler here.

The record comes from the reply token of the mail staff answer (a proposal, an escalation, a
needs-a-person item). Answers to staff (a `status`, "not possible in this state") are staff
answers, not items needing a person.
"""

from __future__ import annotations

from collections.abc import Callable

from mailflow.dispatch import attention, letters, libraries
from mailflow.dispatch.apply import apply_event
from mailflow.dispatch.correlate import referenced
from mailflow.dispatch.turn import Cause, Outcome, Outcomes, Record, Turn, load_record, machine_of
from mailflow.engine.definition import Command
from mailflow.engine.events import Event
from mailflow.parse import Facts
from mailflow.parse.intents import split_pair
from mailflow.store.schema import AttentionItem, Contact, Library, Partnership

Handler = Callable[[Turn, Facts, Command, str, "Record | AttentionItem | None"], Outcome]


def answer(turn: Turn, facts: Facts, text: str, lines: list[str] | None = None) -> Outcome:
    """Tell the staff member what came of their command (never an item needing a person)."""
    extra = {"lines": lines or [text], "message": attention.message_view(turn, facts, text)}
    letters.to_staff(turn, "staff-status", text, None, extra)
    return Outcome(Outcomes.STAFF_ANSWER, f"staff answered: {text}")


def run_command(turn: Turn, facts: Facts) -> Outcome:
    verb, _, argument = (facts.command or "").partition(" ")
    command = turn.wf.commands.get(verb)
    if command is None:
        return answer(turn, facts, f"{verb}: not a command ({', '.join(turn.wf.commands)})")
    if not _may(turn, command, facts.from_.address):
        return answer(turn, facts, f"{verb}: only {' or '.join(command.by)} may use it")
    turn = turn.because(
        Cause("staff", inbox_id=turn.cause.inbox_id, message_id=facts.message_id,
              by=facts.from_.address)
    )  # fmt: skip
    target = referenced(turn, facts)
    if not _fits(command.needs, target):
        return answer(
            turn, facts,
            f"{verb}: reply to a mail about a {command.needs} so I know which one you mean",
        )  # fmt: skip
    if command.run is not None:
        return HANDLERS[command.run](turn, facts, command, argument, target)
    return _event_command(turn, facts, command, argument, target)


def _may(turn: Turn, command: Command, sender: str) -> bool:
    """Who may use a command, as the rules say (`by`): staff addresses, or the mentor."""
    is_mentor = sender == (turn.program.mentor_address or "").lower()
    return ("staff" in command.by and turn.program.is_staff(sender)) or (
        "mentor" in command.by and is_mentor
    )


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


HANDLERS: dict[str, Handler] = {"pair": pair, "status": status, "merge": merge, "contact": contact}
