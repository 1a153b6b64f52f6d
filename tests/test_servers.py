"""Smoke tests for the real-server fixtures in tests/servers/."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from imapclient import IMAPClient

from tests.servers.dovecot import Dovecot, MailUser

pytestmark = pytest.mark.timeout(60)


def _msg(subject: str, to: str = "sisters@program.example") -> bytes:
    return (
        f"From: Alice <alice@library.example>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '-')}@library.example>\r\n\r\nHello {subject}.\r\n"
    ).encode()


@pytest.mark.dovecot
def test_append_and_read_back(dovecot: Dovecot, dovecot_user: MailUser) -> None:
    raw = _msg("append test")
    uid = dovecot.append(dovecot_user.address, "Lists/Sister", raw, flags=[r"\Seen"])
    assert uid == 1
    assert "Lists/Sister" in dovecot.folders(dovecot_user.address)
    assert dovecot.fetch_all(dovecot_user.address, "Lists/Sister") == {1: raw}

    c = IMAPClient(dovecot.host, port=dovecot.imap_port, ssl=False, timeout=10)
    try:
        c.login(dovecot_user.address, dovecot_user.password)
        c.select_folder("Lists/Sister", readonly=True)
        data = c.fetch([1], ["FLAGS", "BODY.PEEK[]"])
    finally:
        c.logout()
    assert data[1][b"BODY[]"] == raw
    assert rb"\Seen" in data[1][b"FLAGS"]


@pytest.mark.dovecot
def test_fresh_users_are_isolated(dovecot: Dovecot, dovecot_users: Callable[..., MailUser]) -> None:
    a, b = dovecot_users("sisters"), dovecot_users("staff")
    assert a.address != b.address
    dovecot.append(a.address, "INBOX", _msg("only for a"))
    assert dovecot.uids(a.address) == [1]
    assert dovecot.uids(b.address) == []
    assert dovecot.folders(b.address) == ["INBOX"]


@pytest.mark.dovecot
def test_program_users_can_log_in(dovecot: Dovecot) -> None:
    for user in ("sisters@program.example", "staff@program.example"):
        with dovecot.session(user) as c:
            assert c.select_folder("INBOX", readonly=True)[b"UIDVALIDITY"]


@pytest.mark.dovecot
def test_wrong_password_is_rejected(dovecot: Dovecot, dovecot_user: MailUser) -> None:
    c = IMAPClient(dovecot.host, port=dovecot.imap_port, ssl=False, timeout=10)
    try:
        with pytest.raises(IMAPClient.Error):
            c.login(dovecot_user.address, "wrong")
    finally:
        c.shutdown()


@pytest.mark.dovecot
def test_lmtp_delivery_lands_in_inbox(dovecot: Dovecot, dovecot_user: MailUser) -> None:
    raw = _msg("lmtp test", to=dovecot_user.address)
    dovecot.deliver_lmtp(dovecot_user.address, raw)
    messages = dovecot.fetch_all(dovecot_user.address, "INBOX")
    assert list(messages) == [1]
    # LMTP prepends Return-Path/Delivered-To/Received; the original follows.
    assert messages[1].endswith(raw)
    assert f"Delivered-To: {dovecot_user.address}".encode() in messages[1]


@pytest.mark.dovecot
def test_starttls_with_generated_ca(dovecot_tls: Dovecot) -> None:
    assert dovecot_tls.cafile is not None and dovecot_tls.cafile.exists()
    ctx = ssl.create_default_context(cafile=str(dovecot_tls.cafile))
    c = IMAPClient(dovecot_tls.host, port=dovecot_tls.imap_port, ssl=False, timeout=10)
    try:
        assert b"STARTTLS" in c.capabilities()
        c.starttls(ctx)
        c.login("sisters@program.example", "secret")
        c.select_folder("INBOX", readonly=True)
    finally:
        c.logout()


@pytest.mark.dovecot
def test_implicit_tls_on_imaps_port(dovecot_tls: Dovecot) -> None:
    assert dovecot_tls.imaps_port is not None
    c = IMAPClient(
        dovecot_tls.host,
        port=dovecot_tls.imaps_port,
        ssl=True,
        ssl_context=dovecot_tls.ssl_context(),
        timeout=10,
    )
    try:
        c.login("staff@program.example", "secret")
        c.select_folder("INBOX", readonly=True)
    finally:
        c.logout()


@pytest.mark.dovecot
def test_tls_rejects_untrusted_client_context(dovecot_tls: Dovecot) -> None:
    # Sanity check that verification is real: the system CAs don't trust us.
    assert dovecot_tls.imaps_port is not None
    with pytest.raises(ssl.SSLCertVerificationError):
        IMAPClient(
            dovecot_tls.host,
            port=dovecot_tls.imaps_port,
            ssl=True,
            ssl_context=ssl.create_default_context(),
            timeout=10,
        )


@pytest.mark.dovecot
def test_plain_server_has_no_tls(dovecot: Dovecot) -> None:
    assert dovecot.imaps_port is None and dovecot.cafile is None
    c = IMAPClient(dovecot.host, port=dovecot.imap_port, ssl=False, timeout=10)
    try:
        assert b"STARTTLS" not in c.capabilities()
    finally:
        c.shutdown()


@pytest.mark.dovecot
def test_stop_restart_keeps_mail_and_ports(make_dovecot: Callable[..., Dovecot]) -> None:
    server = make_dovecot()
    user = "sisters@program.example"
    raw = _msg("survives restart")
    server.append(user, "INBOX", raw)
    ports = (server.imap_port, server.lmtp_port)

    t0 = time.monotonic()
    server.stop()
    stopped = time.monotonic() - t0
    assert not server.running
    with pytest.raises(OSError):
        IMAPClient(server.host, port=server.imap_port, ssl=False, timeout=2)

    t0 = time.monotonic()
    server.start()
    started = time.monotonic() - t0
    assert (server.imap_port, server.lmtp_port) == ports
    assert server.fetch_all(user, "INBOX") == {1: raw}

    server.restart()
    server.deliver_lmtp(user, _msg("after restart"))
    assert server.uids(user) == [1, 2]
    # Regression guard for the 1-5 s shutdown stalls worked around in Dovecot.
    assert stopped < 2 and started < 5, (stopped, started)


@pytest.mark.dovecot
def test_stop_with_idle_client_connected_is_fast(make_dovecot: Callable[..., Dovecot]) -> None:
    server = make_dovecot()
    c = server.login("staff@program.example")
    c.select_folder("INBOX")
    c.idle()
    t0 = time.monotonic()
    server.stop()
    assert time.monotonic() - t0 < 2
    c.shutdown()


@pytest.mark.dovecot
def test_idle_sees_exists_after_append(dovecot: Dovecot, dovecot_user: MailUser) -> None:
    watcher = dovecot_user.client()
    try:
        assert b"IDLE" in watcher.capabilities()
        watcher.select_folder("INBOX")
        watcher.idle()
        # Append from another connection while the watcher is idling.
        appender = threading.Thread(
            target=dovecot.append, args=(dovecot_user.address, "INBOX", _msg("idle test"))
        )
        appender.start()
        appender.join(10)
        deadline = time.monotonic() + 10  # Dovecot batches IDLE notifications ~0.5 s
        responses: list[tuple[int, bytes]] = []
        while time.monotonic() < deadline and (1, b"EXISTS") not in responses:
            responses += watcher.idle_check(timeout=1)
        watcher.idle_done()
        assert (1, b"EXISTS") in responses
    finally:
        watcher.logout()


@pytest.mark.postgres
def test_postgres_select_one(postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("select 1")).scalar_one() == 1
            db = conn.execute(sa.text("select current_database()")).scalar_one()
        assert db.startswith("mailflow_test_")
    finally:
        engine.dispose()
