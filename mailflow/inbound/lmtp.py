"""LMTP (or SMTP) intake on aiosmtpd: accept mail for the program address, store, return.

Policy lives in the handler (which recipients, what size); the protocol in aiosmtpd; the
runtime in `Endpoint`. Only these answers leave here: 250 stored, 550 not our address,
552 too big (aiosmtpd's own size check), 451 could not store now (the sender retries), 421 too
many connections (per client address or in total; the connection is closed at once, so a
client holding idle connections cannot use up the process's file descriptors).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session

from mailflow.clock import Clock
from mailflow.errors import ConfigError
from mailflow.inbound.intake import Incoming, store
from mailflow.log import INBOUND
from mailflow.store.db import Database


def check_port_free(host: str, port: int) -> None:
    """Refuse (ConfigError) a host:port we cannot listen on, before anything else starts."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"inbound.host {host!r}: {exc.strerror}") from exc
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        # asyncio's server sets SO_REUSEADDR too: a port left in TIME_WAIT is not "in use".
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(
                    f"port {port} on {host} is already in use; stop what listens there "
                    "or set inbound.port"
                ) from exc
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


def is_program_address(address: str, program_address: str) -> bool:
    """address is the program address or a +sub-address of it (case-insensitive)."""
    local, _, domain = address.strip().strip("<>").lower().rpartition("@")
    plocal, _, pdomain = program_address.lower().rpartition("@")
    return domain == pdomain and (local == plocal or local.startswith(plocal + "+"))


class IntakeHandler:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        program_address: str,
        protocol: str,
        on_stored: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.program_address = program_address
        self.protocol = protocol  # lmtp | smtp
        self.on_stored = on_stored or (lambda: None)
        self._lock = threading.Lock()

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list
    ) -> str:
        if not is_program_address(address, self.program_address):
            INBOUND.debug("refused RCPT %s: not a program address", address)
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        raw = envelope.original_content or b""
        try:
            # A short, synchronous commit: SQLite in WAL commits in about a millisecond, and
            # answering 250 only after the commit is what makes "never lost" true.
            with self._lock, self.db.unit_of_work() as db_session:
                row, created = store(
                    db_session,
                    Incoming(
                        raw=raw,
                        source=self.protocol,
                        mailbox=f"{self.protocol}:{self.program_address}",
                        envelope_from=envelope.mail_from,
                        envelope_to=tuple(envelope.rcpt_tos),
                    ),
                    self.clock.now(),
                )
            status = f"250 2.0.0 Stored as #{row.id}" if created else "250 2.0.0 Already stored"
        except Exception:  # noqa: BLE001 - tell the sender to retry rather than lose the mail
            INBOUND.exception("could not store mail from %s", envelope.mail_from)
            status = "451 4.3.0 Temporary failure, please retry"
        else:
            self.on_stored()
        if self.protocol == "lmtp":
            # RFC 2033: one reply per accepted recipient, in order.
            return "\r\n".join([status] * max(1, len(envelope.rcpt_tos)))
        return status


class BurstLog:
    """One log line per burst of alike events, not one per event: the first is logged at once,
    the rest are counted and summed up in one line when `quiet_seconds` passed since the last
    summary. 1,000 refused connections in a second make two lines, not 1,000."""

    def __init__(self, logger: logging.Logger, quiet_seconds: float = 60.0) -> None:
        self.logger = logger
        self.quiet_seconds = quiet_seconds
        self.lines = 0  # lines actually written (tests read it)
        self._last: dict[str, float] = {}
        self._held: Counter[str] = Counter()

    def event(self, kind: str, text: str) -> None:
        now = time.monotonic()
        last = self._last.get(kind)
        if last is not None and now - last < self.quiet_seconds:
            self._held[kind] += 1
            return
        held, self._held[kind] = self._held[kind], 0
        self._last[kind] = now
        more = f" (and {held} more like it since the last line)" if held else ""
        self.lines += 1
        self.logger.warning("%s%s", text, more)


class ConnectionLimits:
    """Open connections per client address and in total; lives on the endpoint's event loop."""

    def __init__(self, per_client: int, total: int, log: BurstLog) -> None:
        self.per_client, self.total = per_client, total
        self.open: Counter[str] = Counter()
        self.refused = 0
        self.log = log

    def admit(self, client: str) -> str | None:
        """Count a new connection in, or say why it is refused (its 421 text)."""
        if self.total and sum(self.open.values()) >= self.total:
            why = f"{self.total} connections open (inbound.max_connections)"
        elif self.per_client and self.open[client] >= self.per_client:
            why = f"{self.per_client} connections open from {client} (inbound.max_per_client)"
        else:
            self.open[client] += 1
            return None
        self.refused += 1
        self.log.event("refused", f"refusing connections with 421: {why}")
        return why

    def release(self, client: str) -> None:
        self.open[client] -= 1
        if self.open[client] <= 0:
            del self.open[client]


REFUSED = b"421 4.7.0 mailflow: too many connections, try again later\r\n"


def _limited(base: type[SMTP]) -> type[SMTP]:
    """aiosmtpd's SMTP or LMTP with connection limits, an idle (not a total) timeout, and the
    DATA line length of the settings."""

    class Limited(base):  # type: ignore[valid-type,misc]
        limits: ConnectionLimits

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            peer = transport.get_extra_info("peername")
            self._client = str(peer[0]) if peer else "?"
            self._refused = self.limits.admit(self._client) is not None
            if self._refused:
                # Answer and close before aiosmtpd starts a session: the socket (and its file
                # descriptor) is gone as soon as the 421 is written.
                assert isinstance(transport, asyncio.WriteTransport)
                transport.write(REFUSED)
                transport.close()
                return
            super().connection_made(transport)

        def connection_lost(self, error: Exception | None) -> None:
            if self._refused:
                return
            self.limits.release(self._client)
            super().connection_lost(error)

        def data_received(self, data: bytes) -> None:
            # aiosmtpd restarts its timer per command only, so a long DATA on a slow link would
            # be cut after `timeout`; any bytes arriving mean the client is not idle.
            self._reset_timeout()
            super().data_received(data)

    return Limited


class _Controller(Controller):
    def __init__(
        self,
        handler: IntakeHandler,
        protocol: str,
        limits: ConnectionLimits,
        max_line_bytes: int,
        **kwargs: Any,
    ) -> None:
        self.protocol = protocol
        self.limits = limits
        self.max_line_bytes = max_line_bytes
        super().__init__(handler, **kwargs)

    def factory(self) -> SMTP:
        cls = _limited(LMTP if self.protocol == "lmtp" else SMTP)
        cls.limits = self.limits
        # Lines over RFC 5321's 1,000 octets are common in real mail (HTML on one line); they
        # are read up to this limit (aiosmtpd also sizes its stream buffer with it).
        cls.line_length_limit = self.max_line_bytes
        return cls(self.handler, **self.SMTP_kwargs)


def _quiet_exceptions(log: BurstLog) -> Callable[[asyncio.AbstractEventLoop, dict], None]:
    """The loop's exception handler: "Too many open files" from accept() and its like are
    logged once per burst, not once per try."""

    def handle(loop: asyncio.AbstractEventLoop, context: dict) -> None:
        exc = context.get("exception")
        kind = type(exc).__name__ if exc is not None else "error"
        log.event(f"loop:{kind}", f"endpoint: {context.get('message', '')} {exc or ''}".strip())

    return handle


class Endpoint:
    """The listening endpoint, in its own thread (aiosmtpd's Controller)."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        program_address: str,
        *,
        protocol: str = "lmtp",
        host: str = "127.0.0.1",
        port: int = 8025,
        max_message_bytes: int = 33554432,
        on_stored: Callable[[], None] | None = None,
        max_connections: int = 100,
        max_per_client: int = 20,
        idle_timeout_seconds: float = 60,
        max_line_bytes: int = 262144,
    ) -> None:
        self.handler = IntakeHandler(db, clock, program_address, protocol, on_stored)
        self.log = BurstLog(INBOUND)
        self.limits = ConnectionLimits(max_per_client, max_connections, self.log)
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(_quiet_exceptions(self.log))
        self.controller = _Controller(
            self.handler,
            protocol,
            self.limits,
            max_line_bytes,
            loop=self.loop,
            timeout=idle_timeout_seconds,
            hostname=host,
            port=port,
            data_size_limit=max_message_bytes,
            server_hostname="mailflow",
            ident="mailflow",
            # RFC 6531: internationalised addresses (李明@图书馆.中国) can reach us over SMTP.
            enable_SMTPUTF8=True,
        )
        self.host, self.port, self.protocol = host, port, protocol

    def start(self) -> None:
        self.controller.start()
        INBOUND.info("%s endpoint listening on %s:%s", self.protocol.upper(), self.host, self.port)

    def stop(self) -> None:
        self.controller.stop()
