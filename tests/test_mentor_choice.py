"""Who on staff hears about what: a mentor is chosen by language whatever way its languages are
written ("Spanish", "西班牙语", `es`), and what is about a library alone goes to coordinators.

Real parts: Dovecot in, aiosmtpd out, both databases, a Postfix-shaped bounce.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from mailflow.parse.forms import language_codes
from mailflow.store.schema import AttentionItem, Outbox, Partnership
from tests.helpers import STAFF, application, bounce_for, mail
from tests.program import ProgramUnderTest, for_address
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.smtp_sink import SmtpSink

DIRECTOR = "director@program.example"
ANA, BEN = "ana@program.example", "ben@program.example"
SEGOVIA, HANGZHOU = "maria1@biblioteca.example.es", "wangli2@library.example.cn"
# Ben (French) comes first: compared as strings, nobody's "Spanish" or "中文" met the libraries'
# `es` and `zh`, every mentor fitted equally and the first in the settings won.
MEMBERS = (
    f"Coordinator <{STAFF}> coordinator; Dora <{DIRECTOR}> coordinator;"
    f" Ben Mentor <{BEN}> mentor French; Ana Mentor <{ANA}> mentor Spanish 中文"
)


@pytest.fixture
def p(
    db_url: str, dovecot: Dovecot, dovecot_user: MailUser, tmp_path: Path
) -> Iterator[ProgramUnderTest]:
    sink = SmtpSink().start()
    program = ProgramUnderTest(
        db_url, dovecot, dovecot_user, sink, tmp_path, MAILFLOW_STAFF_MEMBERS=MEMBERS
    )
    yield program
    program.close()
    sink.stop()


def test_language_names_and_codes_are_one_code() -> None:
    assert language_codes(["Spanish", "中文", "es"]) == {"es", "zh"}
    assert language_codes("西班牙语、英语") == {"es", "en"}
    assert language_codes(["FR", "français"]) == {"fr"}


def test_the_mentor_speaks_the_libraries_languages_and_library_notices_go_to_coordinators(
    p: ProgramUnderTest,
) -> None:
    p.deliver(application(1))  # "Working languages: Spanish, English"
    p.deliver(application(2, lang="zh"))  # "工作语言：中文，英语"
    p.step()
    p.new_mail()
    p.deliver(mail(sender=STAFF, subject="pair", body=f"pair {SEGOVIA} with {HANGZHOU}"))
    p.step()
    p.new_mail()
    with p.services.db.unit_of_work() as s:
        (partnership,) = s.scalars(select(Partnership)).all()
        assert partnership.mentor == ANA  # Spanish and 中文 are es and zh

    # Segovia's address stops existing: its acknowledgement bounces. That is about the library
    # (not the partnership Ana mentors): both coordinators hear, no mentor does.
    with p.services.db.unit_of_work() as s:
        rows = s.scalars(select(Outbox).where(Outbox.template == "library-acknowledgement"))
        ack = next((r.message_id for r in rows if SEGOVIA in r.recipients), None)
    assert ack is not None
    p.deliver(bounce_for(SEGOVIA, ack))
    p.step()
    mails = p.new_mail()
    why = "every contact address of this library bounces"
    notices = [m for m in mails if why in " ".join(m.subject.split())]
    assert sorted(m.to for m in notices) == sorted([(DIRECTOR,), (STAFF,)])
    assert not for_address(mails, ANA) and not for_address(mails, BEN)
    with p.services.db.unit_of_work() as s:
        item = s.scalars(select(AttentionItem).where(AttentionItem.code == "notice")).one()
        assert item.record_type == "library"
