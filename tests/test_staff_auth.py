"""Staff are authenticated, not named: a staff command acts only on mail authenticated for the
staff address (DKIM mailflow verifies, or the topmost Authentication-Results of a trusted host);
otherwise the configured staff address is asked to confirm, and only that confirmation acts, once.

Through the real pipeline: mail in over SMTP, mail out to the sink, the database read back.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from mailflow.parse.authn import aligned, authenticated_by
from mailflow.store.schema import AttentionItem, History, MessageFacts, StaffConfirmation
from tests.helpers import STAFF, TRUSTED_MX, mail
from tests.program import ProgramUnderTest, Sent, reply
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.smtp_sink import SmtpSink
from tests.test_promises_partnership import offer, sent_before

FORGER = "Coordinator <Coordinator@Program.Example>"  # the staff address, written otherwise
ATTACKER = "attacker@evil.example"
SELECTOR, DOMAIN = b"mf2026", b"program.example"


@pytest.fixture(scope="module")
def dkim_key() -> tuple[bytes, bytes]:
    """A fresh RSA key: (private key PEM, the TXT record that publishes it)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


@pytest.fixture
def start(
    db_url: str, dovecot: Dovecot, dovecot_user: MailUser, tmp_path: Path
) -> Iterator[Callable[..., ProgramUnderTest]]:
    made: list[tuple[ProgramUnderTest, SmtpSink]] = []

    def make(**kwargs: object) -> ProgramUnderTest:
        sink = SmtpSink().start()
        made.append(
            (ProgramUnderTest(db_url, dovecot, dovecot_user, sink, tmp_path, **kwargs), sink)  # type: ignore[arg-type]
        )
        return made[-1][0]

    yield make
    for p, sink in made:
        p.close()
        sink.stop()


def offered(p: ProgramUnderTest) -> tuple[int, Sent]:
    """One offered partnership, and the staff proposal mail a `close` answers."""
    (pair,), _ = offer(p, 1)
    return pair.pid, sent_before(p, "staff-proposal", pair.pid)


def outcomes(p: ProgramUnderTest) -> list[str]:
    with p.services.db.unit_of_work() as s:
        return list(s.scalars(select(MessageFacts.outcome_code).order_by(MessageFacts.id)))


def confirmations(p: ProgramUnderTest) -> list[StaffConfirmation]:
    with p.services.db.unit_of_work() as s:
        return list(s.scalars(select(StaffConfirmation).order_by(StaffConfirmation.id)))


def unauthenticated_items(p: ProgramUnderTest) -> list[AttentionItem]:
    with p.services.db.unit_of_work() as s:
        return list(s.scalars(select(AttentionItem).where(AttentionItem.code == "unauthenticated")))


def closes(p: ProgramUnderTest, pid: int) -> list[str]:
    with p.services.db.unit_of_work() as s:
        rows = s.scalars(
            select(History).where(
                History.record_type == "partnership", History.record_id == pid,
                History.event == "staff-close",
            )
        )  # fmt: skip
        return [h.cause for h in rows]


def test_a_from_only_close_asks_the_staff_address_and_only_its_confirmation_acts_once(
    start: Callable[..., ProgramUnderTest],
) -> None:
    p = start()
    pid, proposal = offered(p)
    forged = reply(proposal, FORGER, "close", client="outlook", authenticated=False)
    p.send(b"Reply-To: " + ATTACKER.encode() + b"\r\n" + forged)
    p.step()
    assert p.partnership(pid).state == "offered"  # nothing changed
    (asked,) = p.new_mail()  # one mail, to the configured address: never the Reply-To or From
    assert asked.to == (STAFF,) and str(asked.msg["To"]) == STAFF
    assert asked.subject == 'Did you send "close"? Reply "confirm"'
    assert "+c" in asked.reply_to and "nothing has been done" in asked.text
    assert outcomes(p)[-1] == "staff-unconfirmed"
    (pending,) = confirmations(p)
    assert (pending.address, pending.command, pending.used_at) == (STAFF, "close", None)
    # A second unauthenticated command the same day: asked again, but one item for coordinators.
    p.send(reply(proposal, FORGER, "close", client="gmail", authenticated=False))
    p.step()
    assert [m.to for m in p.new_mail()] == [(STAFF,)]
    (item,) = unauthenticated_items(p)
    assert item.resolved_at is None and item.data == {"sender": STAFF}

    # The staff member confirms (no authentication needed: the round trip proves the mailbox).
    p.send(reply(asked, STAFF, "confirm", client="outlook", authenticated=False))
    p.step()
    assert p.partnership(pid).state == "closed"
    assert closes(p, pid) == ["staff"]
    assert confirmations(p)[0].used_at == p.clock.now()
    assert unauthenticated_items(p)[0].resolved_at == p.clock.now()
    p.new_mail()

    # Replayed, the confirmation does nothing: no state, no mail, the refusal kept.
    p.send(reply(asked, STAFF, "confirm", client="gmail", authenticated=False))
    p.step()
    assert p.new_mail() == [] and closes(p, pid) == ["staff"]
    assert outcomes(p)[-1] == "staff-refused"


def test_a_confirmation_expires_and_answers_only_from_its_own_address(
    start: Callable[..., ProgramUnderTest],
) -> None:
    p = start(MAILFLOW_PROGRAM_STAFF=f"{STAFF},director@program.example")
    pid, proposal = offered(p)
    p.send(reply(proposal, STAFF, "close", authenticated=False))
    p.step()
    mails = p.new_mail()
    (asked,) = [m for m in mails if m.subject.startswith("Did you send")]
    # The other coordinator is told of the unauthenticated command (once a day per sender).
    (told,) = [m for m in mails if m.to == ("director@program.example",)]
    assert "not authenticated" in told.text and asked.to == (STAFF,)
    # Another staff member's `confirm` with this token is not the confirmation.
    other = reply(asked, "director@program.example", "confirm", authenticated=False)
    p.send(other)
    p.step()
    assert p.partnership(pid).state == "offered" and outcomes(p)[-1] == "staff-refused"
    p.advance(days=3)  # staff.confirm_days is 2
    p.new_mail()
    p.send(reply(asked, STAFF, "confirm", authenticated=False))
    p.step()
    assert p.partnership(pid).state == "offered"
    assert outcomes(p)[-1] == "staff-refused" and closes(p, pid) == []


def test_only_the_topmost_authentication_results_of_a_trusted_host_count(
    start: Callable[..., ProgramUnderTest],
) -> None:
    p = start()
    pid, proposal = offered(p)

    def close_with(*verdicts: str) -> None:
        raw = reply(proposal, STAFF, "close", client="outlook", authenticated=False)
        headers = b"".join(b"Authentication-Results: " + v.encode() + b"\r\n" for v in verdicts)
        p.send(headers + raw)
        p.step()

    dmarc_pass = "; dmarc=pass header.from=program.example"
    close_with("mx.evil.example" + dmarc_pass)  # an untrusted host vouches
    close_with(f"{TRUSTED_MX}; spf=pass smtp.mailfrom=program.example", TRUSTED_MX + dmarc_pass)
    close_with(f"{TRUSTED_MX}; dmarc=fail header.from=program.example")
    close_with(f"{TRUSTED_MX}; dmarc=pass header.from=evil.example")
    close_with(f"{TRUSTED_MX}; dkim=pass header.d=evil.example")
    assert p.partnership(pid).state == "offered"
    assert outcomes(p)[-5:] == ["staff-unconfirmed"] * 5
    assert [m.to for m in p.new_mail()] == [(STAFF,)] * 5  # each one asked, nothing more
    # The trusted host's own verdict, on top (a forged one below it changes nothing).
    close_with(
        f"{TRUSTED_MX.upper()} (comment); dkim=pass (2048-bit key) header.d=program.example",
        "mx.evil.example; dmarc=fail",
    )
    assert p.partnership(pid).state == "closed" and closes(p, pid) == ["staff"]
    assert outcomes(p)[-1] == "staff-command"


def test_a_dkim_signed_staff_mail_acts_at_once_and_a_broken_signature_does_not(
    start: Callable[..., ProgramUnderTest], dkim_key: tuple[bytes, bytes]
) -> None:
    private, record = dkim_key
    looked_up: list[bytes] = []

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        looked_up.append(name)
        return record if name == SELECTOR + b"._domainkey." + DOMAIN + b"." else None

    p = start(dnsfunc=dnsfunc)
    pid, proposal = offered(p)

    def signed(body: str, domain: bytes = DOMAIN) -> bytes:
        raw = reply(proposal, STAFF, body, client="outlook", authenticated=False)
        signature = dkim.sign(
            raw, SELECTOR, domain, private, canonicalize=(b"relaxed", b"relaxed"),
            include_headers=[b"from", b"to", b"subject", b"date", b"message-id"],
        )  # fmt: skip
        return signature + raw

    tampered = signed("close").replace(b"close", b"clOse please", 1)
    p.send(tampered)
    p.send(signed("close", domain=b"evil.example"))  # a good signature, but not the From's
    p.step()
    assert p.partnership(pid).state == "offered"
    assert outcomes(p)[-2:] == ["staff-unconfirmed"] * 2
    p.new_mail()
    p.send(signed("close"))
    p.step()
    assert p.partnership(pid).state == "closed" and closes(p, pid) == ["staff"]
    assert SELECTOR + b"._domainkey." + DOMAIN + b"." in looked_up
    assert not any(m.subject.startswith("Did you send") for m in p.new_mail())


def test_alignment_and_the_harness_verdict() -> None:
    assert aligned("program.example", "program.example")
    assert aligned("program.example", "mail.program.example")
    assert aligned("mail.program.example", "program.example")
    assert not aligned("example", "program.example")  # never a bare top-level domain
    assert not aligned("evil.example", "program.example")
    assert not aligned("otherprogram.example", "program.example")
    raw = mail(sender=STAFF, subject="x", body="status Segovia")
    assert authenticated_by(raw, STAFF, dnsfunc=None, trusted_authserv_ids=[TRUSTED_MX])
    assert authenticated_by(raw, STAFF, dnsfunc=None, trusted_authserv_ids=[]) is None
    assert (
        authenticated_by(
            raw, "someone@else.example", dnsfunc=None, trusted_authserv_ids=[TRUSTED_MX]
        )
        is None
    )
