"""Issue 8, privacy: `mailflow forget`, raw-mail retention, consent to the public list.

Real mail in over IMAP and the SMTP endpoint, real mail out through the sink, SQLite and
PostgreSQL. "Erased" is checked the hard way: every table dumped, bytes decoded, and the
library's address, names and own words searched for.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from sqlalchemy import func, select

from mailflow.cli import main
from mailflow.report import write_report
from mailflow.store.schema import (
    Base,
    Contact,
    History,
    InboxMessage,
    Library,
    MessageFacts,
    Outbox,
    Partnership,
)
from tests.helpers import APPLICATION_EN, APPLICATION_ZH, SECRET, STAFF, application, mail
from tests.program import ProgramUnderTest, Sent, for_address, reply

SEGOVIA, HANGZHOU = "maria1@biblioteca.example.es", "wangli2@library.example.cn"
SEGOVIA_NAME, HANGZHOU_NAME = "Biblioteca Municipal de Segovia", "杭州市西湖区图书馆"
# What only Segovia wrote or is called: none of it may survive `forget`.
SEGOVIA_WORDS = (SEGOVIA, "Maria Lopez", SEGOVIA_NAME, "Segovia", "biblioteca.example.es",
                 "storytellers in Segovia", "Lopez")  # fmt: skip


def one(mails: list[Sent], address: str) -> Sent:
    (found,) = for_address(mails, address)
    return found


def dump(p: ProgramUnderTest) -> str:
    """Every value of every table as text (bytes decoded), one line per row."""
    lines = []
    with p.services.db.unit_of_work() as s:
        for table in Base.metadata.sorted_tables:
            for row in s.execute(select(table)):
                lines.append(table.name + " " + " | ".join(_text(v) for v in row))
    return "\n".join(lines)


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def counts(p: ProgramUnderTest) -> dict[str, int]:
    with p.services.db.unit_of_work() as s:
        return {
            model.__tablename__: s.scalar(select(func.count()).select_from(model)) or 0
            for model in (Library, Partnership, InboxMessage, MessageFacts, Outbox)
        }


def cli(p: ProgramUnderTest, *args: str, input: str | None = None):  # noqa: ANN201, A002
    """The `mailflow` command on the program's database, as an operator runs it."""
    env = {
        "MAILFLOW_DATABASE_URL": p.services.settings["database.url"],
        "MAILFLOW_PROGRAM_SECRET": SECRET,
        "MAILFLOW_PROGRAM_ADDRESS": p.services.settings["program.address"],
        "MAILFLOW_OUTBOUND_MAILDIR": str(p.services.settings.path("outbound.maildir")),
        "MAILFLOW_INBOUND_LISTEN": "off",
    }
    return CliRunner(env=env).invoke(main, list(args), input=input)


def partners(p: ProgramUnderTest) -> tuple[Sent, Sent]:
    """Segovia and Hangzhou apply, are paired by staff and get their offers; Segovia says yes."""
    p.deliver(application(1))
    p.deliver(application(2, lang="zh"))
    p.step()
    p.new_mail()
    p.deliver(
        mail(sender=f"Coordinator <{STAFF}>", subject="pair",
             body=f"pair {SEGOVIA_NAME} with {HANGZHOU_NAME}")
    )  # fmt: skip
    p.step()
    proposal = one(p.new_mail(), STAFF)
    p.deliver(reply(proposal, f"Coordinator <{STAFF}>", "approve"))
    p.step()
    mails = p.new_mail()
    offer_en, offer_zh = one(mails, SEGOVIA), one(mails, HANGZHOU)
    p.deliver(
        reply(offer_en, f"Maria Lopez <{SEGOVIA}>",
              "Yes! Our storytellers in Segovia would love to meet you.")
    )  # fmt: skip
    p.step()
    return offer_en, offer_zh


def test_forget_erases_every_copy_and_keeps_the_counts(program: ProgramUnderTest) -> None:
    p = program
    offer_en, _ = partners(p)
    p.deliver(mail(sender=f"Coordinator <{STAFF}>", subject="note",
                   body=f"status {SEGOVIA_NAME}"))  # fmt: skip
    p.step()
    p.new_mail()
    before = dump(p)
    assert all(word in before for word in SEGOVIA_WORDS)
    library_id = p.library(SEGOVIA_NAME).id
    before_counts = counts(p)

    refused = cli(p, "forget", f"l{library_id}", input="n\n")
    assert refused.exit_code != 0 and "cannot be undone" in refused.output
    assert p.library(SEGOVIA_NAME).contacts  # nothing happened without a yes
    done = cli(p, "forget", f"l{library_id}", input="y\n")
    assert done.exit_code == 0, done.output
    assert f"forgot l{library_id}: 1 contact(s) removed" in done.output
    assert "still open: p1" in done.output

    after = dump(p).lower()
    assert [w for w in SEGOVIA_WORDS if w.lower() in after] == []
    assert counts(p) == before_counts
    with p.services.db.unit_of_work() as s:
        lib = s.get(Library, library_id)
        assert (lib.name, lib.country, lib.state) == (f"forgotten library l{library_id}", "Spain",
                                                      "seeking")  # fmt: skip
        assert lib.hidden and lib.forgotten_at is not None and not lib.public_listing
        assert s.scalars(select(Contact).where(Contact.library_id == library_id)).all() == []
        notes = s.scalars(
            select(History.note).where(
                History.record_type == "library", History.record_id == library_id
            )
        ).all()
        assert notes[-1].startswith("forgotten by operator at 2026-")
        # The partner keeps its own data.
        hangzhou = s.scalar(select(Library).where(Library.name == HANGZHOU_NAME))
        assert [c.email for c in hangzhou.contacts] == [HANGZHOU]
    assert HANGZHOU_NAME in after and "王丽" in after
    assert cli(p, "forget", f"l{library_id}", "--yes").output.startswith(
        f"l{library_id} was forgotten on"
    )

    # Later mail from the forgotten address is a stranger's: nothing moves, no contact appears.
    pair_before = (p.partnership(1).state, p.partnership(1).data)
    p.deliver(reply(offer_en, f"Maria Lopez <{SEGOVIA}>", "Yes, we accept."))
    p.step()
    with p.services.db.unit_of_work() as s:
        last = s.scalar(select(MessageFacts).order_by(MessageFacts.id.desc()))
        assert last.outcome_code in ("needs-person", "not-understood", "rate-limited")
        assert s.scalar(select(Contact).where(Contact.email == SEGOVIA)) is None
        assert (s.get(Partnership, 1).state, s.get(Partnership, 1).data) == pair_before


def withdraw(p: ProgramUnderTest, ack: Sent, address: str) -> None:
    p.send(reply(ack, f"Librarian <{address}>", "Please withdraw our library."), address)
    p.step()
    p.new_mail()


def raw_of(p: ProgramUnderTest, address: str) -> list[bytes]:
    with p.services.db.unit_of_work() as s:
        return list(
            s.scalars(
                select(InboxMessage.raw)
                .join(MessageFacts, MessageFacts.inbox_id == InboxMessage.id)
                .where(MessageFacts.from_address == address)
            )
        )


def test_retention_blanks_old_mail_of_final_records_only(program: ProgramUnderTest) -> None:
    p = program
    old, recent, open_ = (f"maria{n}@biblioteca.example.es" for n in (1, 2, 3))
    for n in (1, 2, 3):
        p.send(application(n))
    p.step()
    sent = p.new_mail()
    ack_old, ack_recent = one(sent, old), one(sent, recent)
    withdraw(p, ack_old, old)
    p.advance(days=25)
    withdraw(p, ack_recent, recent)
    p.clock.advance(timedelta(days=10))  # old: withdrawn 35 days ago; recent: 10 days ago

    p.runtime.retention()  # privacy.raw_mail_days = 0: keeps everything
    assert all(raw_of(p, a) and all(raw_of(p, a)) for a in (old, recent, open_))
    p.services.settings.values["privacy.raw_mail_days"] = 30
    p.runtime.retention()
    assert raw_of(p, old) and all(raw == b"" for raw in raw_of(p, old))
    assert all(raw_of(p, recent)) and all(raw_of(p, open_))
    with p.services.db.unit_of_work() as s:
        facts = s.scalars(select(MessageFacts).where(MessageFacts.from_address == old)).all()
        assert facts and all(f.reply_text == "" and f.data == {} for f in facts)
        kept = s.scalars(select(MessageFacts).where(MessageFacts.from_address == recent)).all()
        assert all(f.reply_text for f in kept)
        old_id = s.scalar(select(Library.id).join(Contact).where(Contact.email == old))
        sent_old = s.scalars(
            select(Outbox.raw).where(Outbox.record_type == "library", Outbox.record_id == old_id)
        ).all()
        assert sent_old and all(raw == b"" for raw in sent_old)
        assert s.get(Library, old_id).state == "withdrawn"  # the record itself stays


def test_consent_decides_the_public_list_in_both_languages(
    program: ProgramUnderTest, tmp_path: Path
) -> None:
    p = program
    cases = [
        ("yes-en@lib.example.org", "Yes Library", APPLICATION_EN, "Public listing (yes/no): yes"),
        ("no-en@lib.example.org", "No Library", APPLICATION_EN, "Public listing: no"),
        ("silent@lib.example.org", "Silent Library", APPLICATION_EN, ""),
        ("copied@lib.example.org", "Copied Library", APPLICATION_EN, "Public listing: yes/no"),
        ("shi@lib.example.cn", "同意公开图书馆", APPLICATION_ZH, "公开列出（是/否）：是"),
        ("fou@lib.example.cn", "不公开图书馆", APPLICATION_ZH, "公开列出：否"),
    ]
    for n, (address, name, form, line) in enumerate(cases):
        body = (
            form.replace(SEGOVIA_NAME, name)
            .replace(HANGZHOU_NAME, name)
            .replace("City: Segovia", f"City: Town {n}")
            .replace("城市：杭州", f"城市：城{n}")
            .replace("maria@biblioteca.example.es", address)
            .replace("wangli@library.example.cn", address)
        )
        body = body.replace("Best regards,", f"{line}\n\nBest regards,").replace(
            "谢谢！", f"{line}\n\n谢谢！"
        )
        p.send(mail(sender=f"Librarian <{address}>", body=body), address)
    p.step()
    acks = p.new_mail()
    with p.services.db.unit_of_work() as s:
        consent = {lib.name: lib.public_listing for lib in s.scalars(select(Library))}
    assert consent == {"Yes Library": True, "No Library": False, "Silent Library": None,
                       "Copied Library": None, "同意公开图书馆": True, "不公开图书馆": False}  # fmt: skip
    # The acknowledgement shows the answer recorded, in the library's language.
    assert "Public listing (yes/no): yes" in one(acks, "yes-en@lib.example.org").text
    assert "公开列出（是/否）：否" in one(acks, "fou@lib.example.cn").text

    write_report(p.services.db, p.services.workflow.machines, tmp_path, p.clock.now(), "Program")
    for page in (tmp_path / "public" / "index.html", tmp_path / "public" / "zh" / "index.html"):
        html = page.read_text(encoding="utf-8")
        assert "Yes Library" in html and "同意公开图书馆" in html
        for absent in ("No Library", "Silent Library", "Copied Library", "不公开图书馆"):
            assert absent not in html, (page, absent)
    staff = (tmp_path / "staff" / "dashboard.html").read_text(encoding="utf-8")
    assert "6" in staff  # the staff dashboard counts every library

    # A later "Public listing: no" from the library takes it off the list.
    p.send(reply(one(acks, "yes-en@lib.example.org"), "Librarian <yes-en@lib.example.org>",
                 "Public listing: no"), "yes-en@lib.example.org")  # fmt: skip
    p.step()
    with p.services.db.unit_of_work() as s:
        assert (
            s.scalar(select(Library).where(Library.name == "Yes Library")).public_listing is False
        )
