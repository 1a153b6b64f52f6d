"""LMTP (or SMTP) intake on aiosmtpd: accept mail for the program address, store, return.

Policy lives in the handler (which recipients, what size); the protocol in aiosmtpd; the
runtime in `Endpoint`. Only these answers leave here: 250 stored, 550 not our address,
552 too big (aiosmtpd's own size check), 451 could not store now (the sender retries).
"""

from __future__ import annotations

import errno
import socket
import threading
from collections.abc import Callable

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


class _Controller(Controller):
    def __init__(self, handler: IntakeHandler, protocol: str, **kwargs: object) -> None:
        self.protocol = protocol
        super().__init__(handler, **kwargs)

    def factory(self) -> SMTP:
        cls = LMTP if self.protocol == "lmtp" else SMTP
        return cls(self.handler, **self.SMTP_kwargs)


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
    ) -> None:
        self.handler = IntakeHandler(db, clock, program_address, protocol, on_stored)
        self.controller = _Controller(
            self.handler,
            protocol,
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
