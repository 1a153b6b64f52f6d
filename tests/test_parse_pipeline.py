"""parse_message reads staff commands only against the vocabulary it is given."""

from __future__ import annotations

from email.message import EmailMessage

from mailflow.parse import parse_message

PROGRAM = "sisters@program.example"
STAFF = ("coordinator@program.example",)
VERBS = {"approve": ("approve", "批准"), "skip-mou": ("skip-mou", "非正式"), "note": ("note",)}


def _mail(body: str, sender: str = STAFF[0]) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Coordinator <{sender}>"
    msg["To"] = PROGRAM
    msg["Subject"] = "Re: proposal"
    msg["Message-ID"] = "<m1@program.example>"
    msg.set_content(body)
    return bytes(msg)


def _parse(body: str, sender: str = STAFF[0], **kwargs: object):
    return parse_message(
        _mail(body, sender), program_address=PROGRAM, secret=None, staff=STAFF, **kwargs
    )


def test_no_vocabulary_no_command() -> None:
    facts = _parse("approve")
    assert facts.kind != "command" and facts.command is None


def test_command_from_the_given_vocabulary() -> None:
    facts = _parse("renew two years", commands={"renew": ("renew", "续签")})
    assert (facts.kind, facts.command) == ("command", "renew two years")
    assert _parse("approve", commands={"renew": ("renew",)}).kind != "command"


def test_legacy_vocabulary() -> None:
    assert _parse("approve", commands=VERBS).command == "approve"
    assert _parse("非正式", commands=VERBS).command == "skip-mou"


def test_only_staff_give_commands() -> None:
    facts = _parse("approve", sender="anna@lib.example", commands=VERBS)
    assert facts.kind != "command"
