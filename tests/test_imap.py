"""IMAP intake against a real Dovecot: store, process, move; crashes, restarts, UIDVALIDITY."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from mailflow.app import Services
from mailflow.inbound.imap import ImapSource
from mailflow.runtime import Runtime
from mailflow.store.schema import Contact, InboxMessage, Library, MessageFacts
from tests.helpers import application, mail
from tests.servers.dovecot import Dovecot, MailUser


def imap_env(server: Dovecot, user: MailUser, **extra: str) -> dict[str, str]:
    return {
        "MAILFLOW_IMAP_HOST": server.host,
        "MAILFLOW_IMAP_PORT": str(server.imap_port),
        "MAILFLOW_IMAP_USER": user.address,
        "MAILFLOW_IMAP_PASSWORD": user.password,
        "MAILFLOW_IMAP_SECURITY": "none",
        **extra,
    }


def inbox_rows(services: Services) -> list[InboxMessage]:
    with services.db.unit_of_work() as s:
        return list(s.scalars(select(InboxMessage).order_by(InboxMessage.id)))


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll until condition holds; a deadline for a hung test, not a speed assertion."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def test_run_once_stores_parses_and_moves(
    make_services: Callable[..., Services], dovecot: Dovecot, dovecot_user: MailUser
) -> None:
    user = dovecot_user.address
    for n in range(3):
        dovecot.append(user, "INBOX", application(n))
    dovecot.append(user, "INBOX", application(7, lang="zh"))
    dovecot.append(user, "INBOX", b"\r\n")  # empty (Dovecot refuses 0 bytes): quarantined
    services = make_services(**imap_env(dovecot, dovecot_user, MAILFLOW_IMAP_BATCH_SIZE="2"))

    report = Runtime(services).run_once()

    assert report.stored_imap == 5
    rows = inbox_rows(services)
    assert [r.status for r in rows] == ["done"] * 4 + ["quarantined"]
    assert all(r.source == "imap" and r.uidvalidity for r in rows)
    assert dovecot.uids(user, "INBOX") == []
    assert len(dovecot.uids(user, "Processed")) == 4
    assert len(dovecot.uids(user, "Quarantine")) == 1
    # Nothing is lost on the way: the bytes in Processed are the bytes stored.
    assert sorted(dovecot.fetch_all(user, "Processed").values()) == sorted(r.raw for r in rows[:4])
    with services.db.unit_of_work() as s:
        libraries = {lib.name: lib for lib in s.scalars(select(Library))}
        # Waiting for its address to answer the confirmation mail before it is listed.
        assert libraries["杭州市西湖区图书馆"].state == "unconfirmed"
        assert libraries["杭州市西湖区图书馆"].language == "zh"
        assert libraries["Biblioteca Municipal de Segovia"].country == "Spain"
        assert s.scalar(select(func.count()).select_from(MessageFacts)) == 5

    again = Runtime(services).run_once()
    assert again.stored_imap == 0 and len(inbox_rows(services)) == 5


def test_crash_between_store_and_move_stores_once_and_moves_later(
    make_services: Callable[..., Services], dovecot: Dovecot, dovecot_user: MailUser
) -> None:
    user = dovecot_user.address
    for n in range(4):
        dovecot.append(user, "INBOX", application(n))
    services = make_services(**imap_env(dovecot, dovecot_user))
    config = services.imap_config()
    # First process: stores the batch and commits, then "dies" before processing and moving.
    first = ImapSource(config, services.db, services.clock)
    first.connect()
    uidvalidity = first.client.folder_status("INBOX", [b"UIDVALIDITY"])[b"UIDVALIDITY"]
    first._cursor(uidvalidity)
    first._store_batch(uidvalidity, sorted(first.client.search("ALL")))
    first.client.shutdown()  # no logout, no move: what a SIGKILL leaves behind
    assert len(dovecot.uids(user, "INBOX")) == 4

    report = Runtime(services).run_once()

    assert report.stored_imap == 0
    assert [r.status for r in inbox_rows(services)] == ["done"] * 4
    assert dovecot.uids(user, "INBOX") == []
    assert len(dovecot.uids(user, "Processed")) == 4


def test_uidvalidity_change_rescans_without_duplicates(
    make_services: Callable[..., Services], dovecot: Dovecot, dovecot_user: MailUser
) -> None:
    user = dovecot_user.address
    raws = [application(n) for n in range(3)]
    for raw in raws:
        dovecot.append(user, "Intake", raw)
    services = make_services(**imap_env(dovecot, dovecot_user, MAILFLOW_IMAP_FOLDER="Intake"))
    source = ImapSource(services.imap_config(), services.db, services.clock)
    source.connect()
    old = source.client.folder_status("Intake", [b"UIDVALIDITY"])[b"UIDVALIDITY"]
    source._cursor(old)
    source._store_batch(old, sorted(source.client.search("ALL")))
    source.close()
    # The folder is rebuilt (a restore from backup): same mail, new UIDVALIDITY, one new message.
    with dovecot.session(user) as c:
        c.delete_folder("Intake")
    for raw in [*raws, application(3)]:
        dovecot.append(user, "Intake", raw)

    report = Runtime(services).run_once()

    assert report.stored_imap == 1
    rows = inbox_rows(services)
    assert len(rows) == 4 and all(r.status == "done" for r in rows)
    assert rows[0].uidvalidity != old  # the duplicate took its new location
    assert dovecot.uids(user, "Intake") == []
    assert len(dovecot.uids(user, "Processed")) == 4


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_starttls_and_implicit_tls(
    make_services: Callable[..., Services], dovecot_tls: Dovecot, security: str
) -> None:
    user = dovecot_tls.new_user("tls")
    dovecot_tls.append(user.address, "INBOX", application(1))
    port = dovecot_tls.imap_port if security == "starttls" else dovecot_tls.imaps_port
    services = make_services(
        **imap_env(
            dovecot_tls,
            user,
            MAILFLOW_IMAP_SECURITY=security,
            MAILFLOW_IMAP_PORT=str(port),
            MAILFLOW_IMAP_CAFILE=str(dovecot_tls.cafile),
        )
    )
    assert Runtime(services).run_once().stored_imap == 1
    assert dovecot_tls.uids(user.address, "INBOX") == []


def test_tls_with_an_untrusted_certificate_is_refused(
    make_services: Callable[..., Services], dovecot_tls: Dovecot
) -> None:
    user = dovecot_tls.new_user("tls")
    services = make_services(
        **imap_env(
            dovecot_tls,
            user,
            MAILFLOW_IMAP_SECURITY="tls",
            MAILFLOW_IMAP_PORT=str(dovecot_tls.imaps_port),
        )
    )
    with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED"):
        Runtime(services).run_once()


def test_idle_takes_new_mail_and_survives_a_server_restart(
    make_services: Callable[..., Services], make_dovecot: Callable[..., Dovecot]
) -> None:
    server = make_dovecot()
    user = server.new_user("idle")
    services = make_services(**imap_env(server, user, MAILFLOW_IMAP_BACKOFF_MAX_SECONDS="1"))
    runtime = Runtime(services)
    runtime.start()
    try:
        server.append(user.address, "INBOX", application(1))
        wait_for(lambda: [r.status for r in inbox_rows(services)] == ["done"])
        server.stop()
        time.sleep(0.5)  # the poller notices and starts backing off
        server.start()
        server.append(user.address, "INBOX", application(2))
        server.append(user.address, "INBOX", application(3))
        wait_for(lambda: [r.status for r in inbox_rows(services)] == ["done"] * 3)
        wait_for(lambda: server.uids(user.address, "INBOX") == [])
    finally:
        runtime.stop()
    assert len(server.uids(user.address, "Processed")) == 3
    with services.db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(Contact)) == 3


def test_mail_arriving_while_processing_is_taken_on_the_next_pass(
    make_services: Callable[..., Services], dovecot: Dovecot, dovecot_user: MailUser
) -> None:
    user = dovecot_user.address
    services = make_services(**imap_env(dovecot, dovecot_user, MAILFLOW_IMAP_POLL_SECONDS="1"))
    runtime = Runtime(services)
    runtime.start()
    try:
        for n in range(6):
            dovecot.append(user, "INBOX", mail(sender=f"p{n}@lib.example", subject=f"hello {n}"))
        wait_for(lambda: len(inbox_rows(services)) == 6)
        wait_for(lambda: dovecot.uids(user, "INBOX") == [])
    finally:
        runtime.stop()
    assert all(r.status == "done" for r in inbox_rows(services))
