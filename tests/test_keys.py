"""Issue 8, keys: the token secret rotates with a grace period; outgoing mail is DKIM-signed.

A rotation is driven the way an operator does it (`mailflow secret rotate`, then a restart of
the program on the same database); DKIM signatures are checked on the bytes the relay received,
with dkimpy and the test's own key served by an injected DNS lookup.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dkim
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from mailflow.app import build_transport
from mailflow.cli import main
from mailflow.errors import ConfigError
from mailflow.parse.tokens import make_token, origin_mark, verify_origin, verify_token
from mailflow.settings import load
from mailflow.store.schema import Contact, Library, MessageFacts
from tests.helpers import APPLICATION_ZH, PROGRAM, SECRET, T0, application
from tests.program import ProgramUnderTest, Sent, for_address, reply
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.smtp_sink import SmtpSink

NEW_SECRET = "a-brand-new-secret-of-more-than-32-bytes-for-hmac"
SEGOVIA, SEGOVIA2 = "maria1@biblioteca.example.es", "maria2@biblioteca.example.es"


def one(mails: list[Sent], address: str) -> Sent:
    (found,) = for_address(mails, address)
    return found


# -- rotation, unit level -------------------------------------------------------------------------
def test_tokens_and_origin_marks_verify_with_any_key_given() -> None:
    old, new = SECRET.encode(), NEW_SECRET.encode()
    token = make_token(old, "l7")
    assert verify_token([new, old], token) == "l7"
    assert verify_token([new], token) is None and verify_token(new, token) is None
    mark = origin_mark("program.example", old, "<m1@program.example>")
    assert verify_origin([new, old], mark, "<m1@program.example>")
    assert not verify_origin([new], mark, "<m1@program.example>")


def test_secret_rotate_keeps_the_old_key_for_its_grace(tmp_path: Path) -> None:
    config = tmp_path / "mailflow.toml"
    config.write_text("[program]\nretired_secret_days = 30\n", encoding="utf-8")
    first = load(config, env={}).secret()  # the first start makes one
    result = CliRunner(env={"MAILFLOW_PROGRAM_SECRET": None}).invoke(
        main, ["secret", "rotate", "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    assert "the old one verifies for 30 more days" in result.output
    settings = load(config, env={})
    assert settings.secret() != first
    retired = tmp_path / "mailflow-secret.retired"
    assert retired.stat().st_mode & 0o777 == 0o600
    ((key, until),) = settings.retired_secrets()
    assert key == first and until.date() == datetime.now(UTC).date() + timedelta(days=30)
    # Rotating again keeps both retired keys while they are in their grace period.
    CliRunner(env={"MAILFLOW_PROGRAM_SECRET": None}).invoke(
        main, ["secret", "rotate", "--config", str(config)]
    )
    assert len(load(config, env={}).retired_secrets()) == 2
    # A retired key's file is as private as the secret's; a bad line names itself.
    retired.chmod(0o640)
    with pytest.raises(ConfigError, match="open to group or others"):
        load(config, env={}).retired_secrets()
    retired.write_text("yesterday short\n", encoding="utf-8")
    retired.chmod(0o600)
    with pytest.raises(ConfigError, match=r"mailflow-secret.retired:1: .*YYYY-MM-DD <secret>"):
        load(config, env={}).retired_secrets()
    # A secret from the environment is not the command's to rotate: it says how instead.
    refused = CliRunner(env={"MAILFLOW_PROGRAM_SECRET": NEW_SECRET}).invoke(
        main, ["secret", "rotate", "--config", str(config)]
    )
    assert refused.exit_code != 0 and "MAILFLOW_PROGRAM_SECRET" in refused.output


# -- rotation, end to end -------------------------------------------------------------------------
@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    s = SmtpSink().start()
    yield s
    s.stop()


def test_a_token_of_the_retired_key_acts_within_its_grace_only(
    db_url: str, dovecot: Dovecot, dovecot_user: MailUser, sink: SmtpSink, tmp_path: Path
) -> None:
    before = ProgramUnderTest(db_url, dovecot, dovecot_user, sink, tmp_path)
    try:
        before.send(application(1))
        before.send(application(2))
        before.step()
        mails = before.new_mail()
    finally:
        before.close()
    ack1, ack2 = one(mails, SEGOVIA), one(mails, SEGOVIA2)
    assert verify_token(SECRET.encode(), ack1.reply_to.split("+")[1].split("@")[0])

    # The operator rotates: the old secret retired today, 30 days of grace; then a restart.
    retired = tmp_path / "retired"
    fd = os.open(retired, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, f"{T0.date().isoformat()} {SECRET}\n".encode())
    os.close(fd)
    after = ProgramUnderTest(
        db_url, dovecot, dovecot_user, sink, tmp_path,
        MAILFLOW_PROGRAM_SECRET=NEW_SECRET,
        MAILFLOW_PROGRAM_RETIRED_SECRETS_FILE=str(retired),
        MAILFLOW_PROGRAM_RETIRED_SECRET_DAYS="30",
    )  # fmt: skip
    after.new_mail()  # what the first run sent
    try:
        # Within the grace period, the old token still acts, and our old mark is still ours.
        after.clock.set(T0 + timedelta(days=10))
        after.send(reply(ack1, f"Maria Lopez <{SEGOVIA}>", "Please withdraw our library."))
        after.send(sink.received[0].content)  # an old mail of ours, come back
        after.step()
        assert library_by(after, SEGOVIA).state == "withdrawn"
        bye = one(after.new_mail(), SEGOVIA)
        token = bye.reply_to.split("+")[1].split("@")[0]
        assert verify_token(NEW_SECRET.encode(), token) and not verify_token(
            SECRET.encode(), token
        )  # new mail is signed with the new key
        assert "own-mail" in outcomes(after)

        # After it, the retired key verifies nothing: the withdrawal goes to a person.
        after.clock.set(T0 + timedelta(days=31))
        after.send(reply(ack2, f"Maria Lopez <{SEGOVIA2}>", "Please withdraw our library."))
        after.step()
        assert library_by(after, SEGOVIA2).state == "seeking"
        with after.services.db.unit_of_work() as s:
            last = s.scalar(select(MessageFacts).order_by(MessageFacts.id.desc()))
            assert last.token_forged and last.outcome_code != "event"
    finally:
        after.close()


def outcomes(p: ProgramUnderTest) -> list[str]:
    with p.services.db.unit_of_work() as s:
        return [str(c) for c in s.scalars(select(MessageFacts.outcome_code))]


def library_by(p: ProgramUnderTest, address: str) -> Library:
    with p.services.db.unit_of_work() as s:
        return s.scalar(select(Library).join(Contact).where(Contact.email == address))


# -- DKIM -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def key_file(path: Path, key: rsa.RSAPrivateKey, mode: int = 0o600) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    path.chmod(mode)
    return path


def dns_for(key: rsa.RSAPrivateKey, name: str = "mailflow._domainkey.program.example."):
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)

    def lookup(qname: bytes, timeout: int = 5) -> bytes | None:
        return record if qname.decode() == name else None

    return lookup


def test_outgoing_mail_is_dkim_signed_ascii_and_smtputf8(
    db_url: str,
    dovecot: Dovecot,
    dovecot_user: MailUser,
    sink: SmtpSink,
    tmp_path: Path,
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    pem = key_file(tmp_path / "dkim.pem", rsa_key)
    p = ProgramUnderTest(
        db_url, dovecot, dovecot_user, sink, tmp_path, MAILFLOW_DKIM_KEY_FILE=str(pem)
    )
    chinese = "李明@图书馆.中国"
    try:
        p.deliver(application(1))
        p.deliver(_utf8_application(chinese))
        p.step()
    finally:
        p.close()
    by_rcpt = {r.rcpt_tos[0]: r for r in sink.received}
    ascii_mail, utf8_mail = by_rcpt[SEGOVIA], by_rcpt[chinese]
    assert "SMTPUTF8" in utf8_mail.mail_options and not ascii_mail.content.startswith(b"From")
    lookup = dns_for(rsa_key)
    for received in (ascii_mail, utf8_mail):
        assert received.content.startswith(b"DKIM-Signature: ")
        head = received.content.split(b"\r\n\r\n", 1)[0]
        assert b"d=program.example" in head and b"s=mailflow" in head
        assert dkim.verify(received.content, dnsfunc=lookup)
        tampered = received.content.replace(b"\r\n\r\n", b"\r\n\r\nP.S. added on the way\r\n", 1)
        assert not dkim.verify(tampered, dnsfunc=lookup)
    assert "苏州" in utf8_mail.content.decode("utf-8") or "李明" in utf8_mail.content.decode()


def _utf8_application(address: str) -> bytes:
    body = (
        APPLICATION_ZH.replace("wangli@library.example.cn", address)
        .replace("联系人：王丽", "联系人：李明")
        .replace("城市：杭州", "城市：苏州")
    )
    head = (
        f"From: 李明 <{address}>\r\nTo: {PROGRAM}\r\nSubject: 申请姐妹图书馆\r\n"
        "Date: Sat, 21 Nov 2026 09:00:00 +0000\r\nMessage-ID: <utf8.1@client.example>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
    )
    return (head + "\r\n" + body.replace("\n", "\r\n")).encode("utf-8")


@pytest.mark.parametrize(
    ("content", "mode", "message"),
    [
        (None, 0o600, "cannot read the DKIM key"),
        ("key", 0o640, "open to group or others (mode 0640); run chmod 600"),
        (b"-----BEGIN RSA PRIVATE KEY-----\nbm90IGEga2V5\n-----END RSA PRIVATE KEY-----\n", 0o600,
         "not an RSA private key in PEM form"),
        (b"hello\n", 0o600, "not an RSA private key in PEM form"),
    ],
)  # fmt: skip
def test_a_bad_dkim_key_stops_start_up_with_the_reason(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, content: bytes | str | None, mode: int, message: str
) -> None:
    path = tmp_path / "dkim.pem"
    if content == "key":
        key_file(path, rsa_key, mode)
    elif content is not None:
        path.write_bytes(content)
        path.chmod(mode)
    settings = load(
        None,
        env={
            "MAILFLOW_DKIM_KEY_FILE": str(path),
            "MAILFLOW_OUTBOUND_MAILDIR": str(tmp_path / "out"),
        },
    )
    with pytest.raises(ConfigError, match="dkim.key_file") as caught:
        build_transport(settings)
    assert message in str(caught.value) and str(path) in str(caught.value)
    assert not (tmp_path / "out").exists()  # refused before anything was made
