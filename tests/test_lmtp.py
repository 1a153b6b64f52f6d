"""The LMTP/SMTP endpoint on aiosmtpd, spoken to with the standard library's clients."""

from __future__ import annotations

import smtplib
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select

from mailflow.app import Services
from mailflow.inbound.lmtp import Endpoint, is_program_address
from mailflow.runtime import Runtime
from mailflow.store.schema import InboxMessage, Library
from tests.helpers import PROGRAM, application, confirmation_replies, mail
from tests.servers.dovecot import free_port


@pytest.fixture
def endpoint(make_services: Callable[..., Services]) -> Iterator[tuple[Services, Endpoint]]:
    services = make_services()
    ep = Endpoint(
        services.db,
        services.clock,
        PROGRAM,
        protocol="lmtp",
        port=free_port(),
        max_message_bytes=200_000,
    )
    ep.start()
    yield services, ep
    ep.stop()


def rows(services: Services) -> list[InboxMessage]:
    with services.db.unit_of_work() as s:
        return list(s.scalars(select(InboxMessage).order_by(InboxMessage.id)))


def test_program_address_matching() -> None:
    assert is_program_address("Sisters@Program.Example", PROGRAM)
    assert is_program_address("<sisters+p7.abcd@program.example>", PROGRAM)
    assert not is_program_address("sisters@other.example", PROGRAM)
    assert not is_program_address("sisterhood@program.example", PROGRAM)
    assert not is_program_address("staff@program.example", PROGRAM)


def test_lmtp_answers_per_recipient_and_stores_once(endpoint: tuple[Services, Endpoint]) -> None:
    services, ep = endpoint
    raw = application(1)
    with smtplib.LMTP(ep.host, ep.port, local_hostname="localhost") as lmtp:
        lmtp.ehlo_or_helo_if_needed()
        code, _ = lmtp.mail("maria1@biblioteca.example.es")
        assert code == 250
        assert lmtp.rcpt(PROGRAM)[0] == 250
        assert lmtp.rcpt("sisters+p7.abcdefghij@program.example")[0] == 250
        code, text = lmtp.rcpt("someone@program.example")
        assert (code, b"No such mailbox" in text) == (550, True)
        # RFC 2033: one reply per accepted recipient after the data.
        lmtp.putcmd("data")
        assert lmtp.getreply()[0] == 354
        lmtp.send(raw)
        lmtp.send(b"\r\n.\r\n")
        first, second = lmtp.getreply(), lmtp.getreply()
        assert first[0] == 250 and second[0] == 250 and b"Stored as #" in first[1]
    stored = rows(services)
    assert len(stored) == 1 and stored[0].source == "lmtp"
    assert stored[0].envelope_to == [PROGRAM, "sisters+p7.abcdefghij@program.example"]

    # A retry of the same delivery (the sender never saw our 250) is not stored again.
    with smtplib.LMTP(ep.host, ep.port, local_hostname="localhost") as lmtp:
        assert lmtp.sendmail("maria1@biblioteca.example.es", [PROGRAM], raw) == {}
    assert len(rows(services)) == 1


def test_lmtp_refuses_unknown_recipients_and_oversize_mail(
    endpoint: tuple[Services, Endpoint],
) -> None:
    services, ep = endpoint
    with smtplib.LMTP(ep.host, ep.port, local_hostname="localhost") as lmtp:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            lmtp.sendmail("a@x.example", ["nobody@elsewhere.example"], mail())
        assert refused.value.recipients["nobody@elsewhere.example"][0] == 550
    big = mail(body="All work and no play makes a long letter.\n" * 8000)
    # A client that declares SIZE is refused at MAIL FROM ...
    with smtplib.LMTP(ep.host, ep.port, local_hostname="localhost") as lmtp:
        with pytest.raises(smtplib.SMTPSenderRefused) as declared:
            lmtp.sendmail("a@x.example", [PROGRAM], big)
        assert declared.value.smtp_code == 552
    # ... and one that does not, after the data.
    with smtplib.LMTP(ep.host, ep.port, local_hostname="localhost") as lmtp:
        lmtp.ehlo_or_helo_if_needed()
        assert lmtp.mail("a@x.example")[0] == 250
        assert lmtp.rcpt(PROGRAM)[0] == 250
        assert lmtp.data(big)[0] == 552
    assert rows(services) == []


def test_smtp_mode_stores_and_processing_creates_the_library(
    make_services: Callable[..., Services],
) -> None:
    services = make_services(MAILFLOW_INBOUND_LISTEN="smtp", MAILFLOW_INBOUND_PORT=str(free_port()))
    runtime = Runtime(services)
    runtime.start()
    try:
        with smtplib.SMTP("127.0.0.1", services.settings["inbound.port"]) as smtp:
            smtp.sendmail("wangli9@library.example.cn", [PROGRAM], application(9, lang="zh"))
        runtime.process()
        # The applicant answers the confirmation mail (in Chinese) through the same endpoint.
        (confirmation,) = confirmation_replies(services)
        with smtplib.SMTP("127.0.0.1", services.settings["inbound.port"]) as smtp:
            smtp.sendmail("wangli9@library.example.cn", [PROGRAM], confirmation)
        runtime.process()
    finally:
        runtime.stop()
    row, answer = rows(services)
    assert row.source == answer.source == "smtp" and row.status == answer.status == "done"
    with services.db.unit_of_work() as s:
        (library,) = s.scalars(select(Library))
        assert (library.name, library.state, library.city) == (
            "杭州市西湖区图书馆",
            "seeking",
            "杭州9",  # the ninth test application, a branch of its own
        )
        assert [c.email for c in library.contacts] == ["wangli9@library.example.cn"]
