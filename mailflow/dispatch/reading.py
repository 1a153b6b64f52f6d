"""How the program reads a stored message: its facts, and for whom it is authenticated.

Shared by the inbox stage, staff commands (a confirmed command is read again) and libraries'
decisive mail (speaks.py), so none of them imports another for it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mailflow.dispatch.program import Workflow
from mailflow.dispatch.turn import Turn
from mailflow.parse import Facts
from mailflow.parse.authn import authenticated_by
from mailflow.store.schema import InboxMessage


def parse_options(wf: Workflow, now: datetime) -> dict[str, Any]:
    """parse_message's arguments for this program (plain values: they go to another process)."""
    program = wf.program
    return {
        "program_address": program.program_address,
        "secret": program.verify_keys(now),
        "staff": tuple(m.address for m in program.team),
        "commands": {verb: tuple(words) for verb, words in wf.rules.command_words().items()},
        "text_verbs": tuple(wf.rules.text_verbs()),
    }


def read_facts(turn: Turn, raw: bytes) -> Facts:
    """One stored message read as the program reads it, in this process."""
    # Imported here: only a confirmed staff command re-reads a mail in the `mailflow run`
    # process, which otherwise never loads the parse pipeline (its parse worker does).
    from mailflow.parse import parse_message

    return parse_message(raw, **parse_options(turn.wf, turn.now))


def authenticated(turn: Turn, facts: Facts) -> str | None:
    """How the turn's mail is authenticated for its sender (see parse/authn.py), or None."""
    row = turn.session.get(InboxMessage, turn.cause.inbox_id) if turn.cause.inbox_id else None
    if row is None:
        return None
    program = turn.program
    return authenticated_by(
        row.raw, facts.from_.address, dnsfunc=program.dnsfunc,
        trusted_authserv_ids=program.trusted_authserv_ids,
    )  # fmt: skip
