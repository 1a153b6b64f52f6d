"""Issue 11: outgoing mail is rendered by the drainer when it sends it, not at decision time.

A decision stores the mail's spec (template, locales, JSON context, headers) with its
Message-ID; the drainer renders it, sends it over real SMTP (aiosmtpd) and keeps the bytes it
sent. A spec that no longer renders fails its row with the reason and tells staff, once.
Forgetting a library erases the spec of a mail still waiting.
"""

from __future__ import annotations

import email
from email.policy import default

from markupsafe import Markup
from sqlalchemy import select, update

from mailflow.admin.privacy import forget_library
from mailflow.dispatch.letters import enqueue
from mailflow.dispatch.turn import Cause, Turn
from mailflow.outbox.samples import sample_context
from mailflow.outbox.spec import is_plain
from mailflow.store.schema import AttentionItem, Library, Outbox
from tests.helpers import STAFF, application
from tests.program import ProgramUnderTest

MARIA = "maria1@biblioteca.example.es"


def outbox(p: ProgramUnderTest) -> list[Outbox]:
    with p.services.db.unit_of_work() as s:
        return list(s.scalars(select(Outbox).order_by(Outbox.id)))


def test_the_decision_stores_a_spec_and_the_drainer_renders_what_it_sends(
    program: ProgramUnderTest,
) -> None:
    p = program
    p.send(application(1), sender=MARIA)
    p.runtime.process()  # decided, not sent

    (row,) = outbox(p)
    assert (row.status, row.raw, row.subject) == ("pending", b"", "")
    assert row.recipients == [MARIA] and row.spec is not None
    assert row.spec["to"] == [MARIA] and row.spec["locales"] == ["en"]
    assert row.spec["context"]["library"]["name"] == "Biblioteca Municipal de Segovia"

    p.runtime.drain()
    (got,) = p.sink.received
    msg = email.message_from_bytes(got.content, policy=default)
    assert msg["Message-ID"] == f"<{row.message_id}>"  # fixed when decided
    assert got.rcpt_tos == (MARIA,)
    body = msg.get_body(("plain",))
    assert body is not None and "Biblioteca Municipal de Segovia" in body.get_content()

    (sent,) = outbox(p)
    assert (sent.status, sent.attempts) == ("sent", 1)
    assert sent.raw == got.content  # the bytes that went out are kept...
    assert sent.spec is None  # ...and what they were made from is not
    assert sent.subject == msg["Subject"] and sent.subject

    p.runtime.drain()
    assert len(p.sink.received) == 1  # sent once


def test_a_spec_that_no_longer_renders_fails_its_row_and_staff_are_told_once(
    program: ProgramUnderTest,
) -> None:
    p = program
    p.auto_confirm = False  # the one mail is the confirmation request; nobody answers it here
    p.send(application(1), sender=MARIA)
    p.runtime.process()
    (row,) = outbox(p)
    # The template changed under a queued mail: it now wants what the context lacks.
    spec = dict(row.spec or {})
    spec["context"] = {k: v for k, v in spec["context"].items() if k != "library"}
    with p.services.db.unit_of_work() as s:
        s.execute(update(Outbox).where(Outbox.id == row.id).values(spec=spec))

    for _ in range(3):  # no crash, no loop: the row stays failed
        p.step()
    failed, *notices = outbox(p)
    assert failed.status == "failed" and failed.attempts == 1
    assert (failed.last_error or "").startswith("not rendered: ")
    assert "'library' is undefined" in (failed.last_error or "")
    assert failed.spec == spec  # kept, to look at (and `mailflow outbox retry` once fixed)
    assert [(n.template, n.recipients, n.status) for n in notices] == [
        ("staff-notice", [STAFF], "sent")
    ]
    with p.services.db.unit_of_work() as s:
        (item,) = s.scalars(select(AttentionItem).where(AttentionItem.code == "not-composed"))
        assert f"could not render {failed.template} to {MARIA}" in item.reason
        assert item.data["outbox"] == failed.id
    (notice,) = p.new_mail()  # only the notice reached the relay
    assert notice.to == (STAFF,) and f"could not render {failed.template}" in notice.text


def test_forgetting_a_library_erases_the_spec_of_its_waiting_mail(
    program: ProgramUnderTest,
) -> None:
    p = program
    p.send(application(1), sender=MARIA)
    p.runtime.process()
    library_id = p.library("Biblioteca Municipal de Segovia").id
    with p.services.db.unit_of_work() as s:
        library = s.get(Library, library_id)
        forget_library(s, library, p.clock.now(), p.services.workflow.machines)

    (row,) = outbox(p)
    assert (row.status, row.spec, row.raw, row.recipients) == ("failed", None, b"", [])
    p.runtime.drain()
    assert p.sink.received == []  # a forgotten reader's mail never goes out


def test_is_plain_takes_only_what_json_gives_back() -> None:
    assert is_plain({"a": [1, 2.5, "x", None, True], "b": {"c": "王丽"}})
    assert not is_plain({"a": Markup("<b>x</b>")})  # would lose its escaping
    assert not is_plain({"a": (1, 2)})  # would come back a list
    assert not is_plain({1: "x"})  # would come back "1"
    assert not is_plain({"a": float("nan")})
    assert not is_plain({"a": "nul \x00 in text"})  # PostgreSQL's json cannot give it back
    assert not is_plain({"a": "lone \ud800 surrogate"})


def test_a_context_json_cannot_carry_is_rendered_at_decision_time_to_the_same_bytes(
    program: ProgramUnderTest,
) -> None:
    p = program
    wf = p.services.workflow
    context = sample_context("library-acknowledgement", "en")
    with p.services.db.unit_of_work() as s:
        turn = Turn(s, wf, p.clock.now(), Cause("cli"))
        eager = enqueue(
            turn, template="library-acknowledgement", locales=["en"], to=[MARIA],
            context=context | {"unused": ("a", "tuple")}, record=None, token_ref=None,
            thread_key="t1",
        )  # fmt: skip
        deferred = enqueue(
            turn, template="library-acknowledgement", locales=["en"], to=[MARIA],
            context=context | {"unused": ["a", "tuple"]}, record=None, token_ref=None,
            thread_key="t2",
        )  # fmt: skip
        assert eager is not None and deferred is not None
        s.flush()
        assert eager.spec is None and eager.raw and eager.subject
        assert deferred.spec is not None and deferred.raw == b""
        rendered = wf.composer(deferred.spec, deferred.message_id).raw
    # The same mail but for its Message-ID (and what derives from it: the origin mark, the
    # MIME boundary): what a reader sees is identical.
    now, then = (email.message_from_bytes(r, policy=default) for r in (rendered, eager.raw))
    assert now["Subject"] == then["Subject"] == eager.subject
    for kind in ("plain", "html"):
        ours, theirs = now.get_body((kind,)), then.get_body((kind,))
        assert ours is not None and theirs is not None
        assert ours.get_content() == theirs.get_content()
