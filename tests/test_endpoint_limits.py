"""The endpoint holds: connection caps, an idle timeout, long lines, one log line per burst.

Real aiosmtpd endpoint, real sockets; the idle connections come from another process (as they
would from another host) so only the endpoint's own file descriptors count against its limit.
"""

from __future__ import annotations

import logging
import resource
import smtplib
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from mailflow.app import Services
from mailflow.inbound.lmtp import Endpoint
from mailflow.store.schema import InboxMessage
from tests.helpers import PROGRAM, application
from tests.servers.dovecot import free_port

IDLE_CONNECTIONS = 1100
# The usual soft limit of a service (systemd, a login shell): the endpoint runs under it here.
SERVICE_NOFILE = 1024


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mailflow.sqlite3'}"  # the endpoint is the same on both


@pytest.fixture
def start(make_services: Callable[..., Services]) -> Iterator[Callable[..., Endpoint]]:
    made: list[Endpoint] = []

    def make(**kwargs: object) -> Endpoint:
        services = make_services()
        ep = Endpoint(
            services.db, services.clock, PROGRAM, protocol="smtp", port=free_port(), **kwargs
        )  # type: ignore[arg-type]
        ep.start()
        ep.services = services  # type: ignore[attr-defined]
        made.append(ep)
        return ep

    yield make
    for ep in made:
        ep.stop()


def stored(ep: Endpoint) -> list[bytes]:
    services: Services = ep.services  # type: ignore[attr-defined]
    with services.db.unit_of_work() as s:
        return list(s.scalars(select(InboxMessage.raw).order_by(InboxMessage.id)))


def greeting(host: str, port: int, source: str = "127.0.0.1") -> tuple[socket.socket, bytes]:
    sock = socket.create_connection((host, port), timeout=10, source_address=(source, 0))
    return sock, sock.recv(512)


def send(ep: Endpoint, raw: bytes) -> tuple[int, bytes]:
    with smtplib.SMTP(ep.host, ep.port, local_hostname="localhost", timeout=10) as smtp:
        smtp.ehlo()
        smtp.mail("maria1@biblioteca.example.es")
        smtp.rcpt(PROGRAM)
        return smtp.data(raw)


# The idle client: opens N connections from 127.0.0.2, reads each greeting, says how many got
# 220 and 421, and holds the open ones until its stdin closes.
HOLDER = textwrap.dedent(
    """
    import resource, socket, sys
    host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 200), hard))
    held, codes = [], {}
    for _ in range(n):
        s = socket.create_connection((host, port), timeout=10, source_address=("127.0.0.2", 0))
        line = s.recv(512)[:3].decode() or "eof"
        codes[line] = codes.get(line, 0) + 1
        if line == "220":
            held.append(s)
        else:
            s.close()
    print(" ".join(f"{k}={v}" for k, v in sorted(codes.items())), flush=True)
    sys.stdin.read()
    """
)


def test_1100_idle_connections_do_not_stop_a_normal_sender(
    start: Callable[..., Endpoint], caplog: pytest.LogCaptureFixture
) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # The endpoint's process at a service's usual limit: 1,100 sockets would not fit.
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(SERVICE_NOFILE, soft), hard))
    holder = None
    try:
        ep = start()  # the defaults: 100 in all, 20 per client
        caplog.set_level(logging.INFO, logger="mailflow.inbound")
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLDER, ep.host, str(ep.port), str(IDLE_CONNECTIONS)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert holder.stdout is not None
        counts = holder.stdout.readline().split()
        assert counts == ["220=20", f"421={IDLE_CONNECTIONS - 20}"]
        # Another sender, while the 20 idle ones are still open: served as usual.
        code, text = send(ep, application(1))
        assert code == 250 and b"Stored as" in text
        assert len(stored(ep)) == 1 and b"Maria" in stored(ep)[0]
        assert ep.limits.refused == IDLE_CONNECTIONS - 20
    finally:
        if holder is not None:
            holder.communicate("", timeout=30)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    refusals = [r for r in caplog.records if "refusing connections" in r.getMessage()]
    assert 1 <= len(refusals) <= 2  # one burst, one line (two if the burst spans a minute)
    assert "too many open files" not in caplog.text.lower()


def test_total_cap_and_release(start: Callable[..., Endpoint]) -> None:
    ep = start(max_connections=3, max_per_client=2)
    held = [greeting(ep.host, ep.port, src) for src in ("127.0.0.2", "127.0.0.2", "127.0.0.3")]
    assert [g[:3] for _, g in held] == [b"220"] * 3
    # A third from 127.0.0.2 hits the per-client cap; one from elsewhere, the total cap.
    for src in ("127.0.0.2", "127.0.0.4"):
        sock, line = greeting(ep.host, ep.port, src)
        assert line.startswith(b"421 4.7.0")
        assert sock.recv(512) == b""  # and it is closed
        sock.close()
    held.pop()[0].close()
    deadline = time.monotonic() + 10
    while ep.limits.open.get("127.0.0.3"):  # the endpoint notices the close
        assert time.monotonic() < deadline
        time.sleep(0.01)
    sock, line = greeting(ep.host, ep.port, "127.0.0.4")
    assert line.startswith(b"220")
    for s, _ in [*held, (sock, b"")]:
        s.close()


def test_idle_connection_is_closed_but_a_slow_data_is_not(start: Callable[..., Endpoint]) -> None:
    ep = start(idle_timeout_seconds=1)
    sock, line = greeting(ep.host, ep.port)
    assert line.startswith(b"220")
    assert sock.recv(512) == b""  # nothing sent for a second: closed by the endpoint
    sock.close()
    # A client that keeps sending (a big mail on a slow link) is not idle, however long DATA is.
    with smtplib.SMTP(ep.host, ep.port, local_hostname="localhost", timeout=10) as smtp:
        smtp.ehlo()
        smtp.mail("maria1@biblioteca.example.es")
        smtp.rcpt(PROGRAM)
        smtp.putcmd("data")
        assert smtp.getreply()[0] == 354
        lines = application(1).split(b"\n")
        chunk = max(1, len(lines) // 4)
        for i in range(0, len(lines), chunk):
            smtp.send(b"\r\n".join(lines[i : i + chunk]) + b"\r\n")
            time.sleep(0.5)  # 2 s in all, twice the idle timeout
        smtp.send(b".\r\n")
        assert smtp.getreply()[0] == 250
    assert len(stored(ep)) == 1


def with_line(raw: bytes, line: bytes) -> bytes:
    """raw with `line` as the first line of its body."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    return head + sep + line + b"\r\n" + body


def test_long_lines_are_read_up_to_the_limit(start: Callable[..., Endpoint]) -> None:
    ep = start(max_line_bytes=20_000)
    html = b"<p>" + b"x" * 9_000 + b"</p>"  # one line, as HTML mail often is
    raw = with_line(application(1), html)
    assert send(ep, raw)[0] == 250
    assert html in stored(ep)[0]
    too_long = with_line(application(2), b"y" * 30_000)
    with smtplib.SMTP(ep.host, ep.port, local_hostname="localhost", timeout=10) as smtp:
        smtp.ehlo()
        smtp.mail("a@example.org")
        smtp.rcpt(PROGRAM)
        assert smtp.data(too_long)[0] == 500  # refused, the connection still usable
        smtp.mail("a@example.org")
        smtp.rcpt(PROGRAM)
        assert smtp.data(application(3))[0] == 250
    assert len(stored(ep)) == 2
