"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives and fails on request.

    with SmtpSink(tls="starttls", users={"mailer": "pw"}, cert_dir=tmp_path) as sink:
        sink.fail_rcpt("x@example.org", 451, times=1)   # next attempt for x: 451
        ...send to sink.host:sink.port, trusting sink.cafile...
        sink.received   # [Received(mail_from, rcpt_tos, content)]

Recipients answered with a failure are not in `rcpt_tos`, as with a real server.

With `forward=(lmtp_host, lmtp_port, domains)` it is also a relay: mail for those domains is
delivered over LMTP (into a test Dovecot) after it is accepted; what LMTP refuses (a +sub-address
on a Dovecot without recipient_delimiter) is in `undeliverable`, where a relay would bounce it.
"""

from __future__ import annotations

import smtplib
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from tests.servers.dovecot import free_port, make_self_signed_cert

REPLIES = {
    421: "421 4.3.2 Service shutting down",
    450: "450 4.2.1 Mailbox busy, try again later",
    451: "451 4.3.0 Temporary failure, try again later",
    452: "452 4.3.1 Insufficient system storage",
    550: "550 5.1.1 No such user here",
    552: "552 5.3.4 Message too big",
    554: "554 5.7.1 Message refused",
}


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes  # exactly as sent (aiosmtpd's original_content: CRLF, dots unstuffed)
    host_name: str = ""  # the name the client greeted with (EHLO/HELO)
    mail_options: tuple[str, ...] = ()  # MAIL FROM parameters, e.g. SMTPUTF8, BODY=8BITMIME


@dataclass
class _Rule:
    code: int
    remaining: int
    containing: bytes | None = None


@dataclass
class _Handler:
    keep: bool = True
    received: list[Received] = field(default_factory=list)
    count: int = 0
    peers: set[Any] = field(default_factory=set)
    rcpt_rules: dict[str, _Rule] = field(default_factory=dict)
    data_rules: list[_Rule] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    forward: tuple[str, int, tuple[str, ...]] | None = None
    undeliverable: list[tuple[str, int, str]] = field(default_factory=list)

    def relay(self, mail_from: str, rcpt_tos: list[str], content: bytes) -> None:
        if self.forward is None:
            return
        host, port, domains = self.forward
        for rcpt in rcpt_tos:
            if rcpt.rpartition("@")[2].lower() not in domains:
                continue
            try:
                with smtplib.LMTP(host, port, local_hostname="localhost", timeout=10) as lmtp:
                    lmtp.sendmail(mail_from or "<>", [rcpt], content)
            except smtplib.SMTPRecipientsRefused as exc:
                code, text = exc.recipients[rcpt]
                with self.lock:
                    self.undeliverable.append((rcpt, code, text.decode(errors="replace")))

    async def handle_RCPT(  # noqa: N802 - aiosmtpd hook name
        self, server: Any, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        with self.lock:
            self.peers.add(session.peer)
            rule = self.rcpt_rules.get(address.lower())
            if rule and rule.remaining > 0:
                rule.remaining -= 1
                return REPLIES[rule.code]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd hook name
        self, server: Any, session: Session, envelope: Envelope
    ) -> str:
        content = envelope.original_content or b""
        with self.lock:
            for rule in self.data_rules:
                wanted = rule.containing is None or rule.containing in content
                if rule.remaining > 0 and wanted:
                    rule.remaining -= 1
                    return REPLIES[rule.code]
            self.count += 1
            if self.keep:
                self.received.append(
                    Received(
                        envelope.mail_from or "",
                        tuple(envelope.rcpt_tos),
                        content,
                        session.host_name or "",
                        tuple(envelope.mail_options),
                    )
                )
        self.relay(envelope.mail_from or "", list(envelope.rcpt_tos), content)
        return "250 2.0.0 Message accepted"


class _Authenticator:
    def __init__(self, users: dict[str, str]) -> None:
        self.users = users

    def __call__(
        self, server: Any, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            login = auth_data.login.decode()
            if self.users.get(login) == auth_data.password.decode():
                return AuthResult(success=True, auth_data=login)
        return AuthResult(success=False, handled=False)


class SmtpSink:
    """aiosmtpd Controller on a free loopback port. `tls`: none, starttls or tls (implicit).

    With `users`, AUTH is required before MAIL and (aiosmtpd's default) only offered over TLS.
    `keep=False` only counts messages (for benchmarks).
    """

    def __init__(
        self,
        *,
        tls: Literal["none", "starttls", "tls"] = "none",
        users: dict[str, str] | None = None,
        cert_dir: Path | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        keep: bool = True,
        forward: tuple[str, int, tuple[str, ...]] | None = None,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.tls = tls
        self.handler = _Handler(keep=keep, forward=forward)
        self.cafile: str | None = None
        kwargs: dict[str, Any] = {}
        if tls != "none":
            if cert_dir is None:
                raise ValueError("TLS needs cert_dir for the self-signed certificate")
            cert, key = cert_dir / "smtp-cert.pem", cert_dir / "smtp-key.pem"
            if not cert.exists():
                make_self_signed_cert(cert, key, host)
            self.cafile = str(cert)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert, key)
            if tls == "starttls":
                kwargs["tls_context"] = context
                kwargs["require_starttls"] = True
            else:
                kwargs["ssl_context"] = context
        if users:
            kwargs["authenticator"] = _Authenticator(users)
            kwargs["auth_required"] = True
            # aiosmtpd only counts STARTTLS as TLS; on an implicit-TLS port it would refuse AUTH.
            kwargs["auth_require_tls"] = tls == "starttls"
        self._kwargs = kwargs
        self.controller: Controller | None = None

    # -- control ----------------------------------------------------------------------

    def start(self) -> SmtpSink:
        self.controller = Controller(
            self.handler,
            hostname=self.host,
            port=self.port,
            server_hostname="sink.example",
            enable_SMTPUTF8=True,  # a real relay (Postfix) offers it; mailflow uses it if needed
            **self._kwargs,
        )
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fail_rcpt(self, address: str, code: int, times: int = 1) -> None:
        """Answer RCPT TO:<address> with `code` for the next `times` attempts."""
        with self.handler.lock:
            self.handler.rcpt_rules[address.lower()] = _Rule(code, times)

    def fail_data(self, code: int, times: int = 1, containing: bytes | None = None) -> None:
        """Answer the end of DATA with `code` (only for content containing the given bytes)."""
        with self.handler.lock:
            self.handler.data_rules.append(_Rule(code, times, containing))

    # -- what arrived ---------------------------------------------------------------------

    @property
    def received(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)

    @property
    def undeliverable(self) -> list[tuple[str, int, str]]:
        """(recipient, code, text) the forward LMTP refused: what a relay would bounce."""
        with self.handler.lock:
            return list(self.handler.undeliverable)

    @property
    def count(self) -> int:
        return self.handler.count

    @property
    def connections(self) -> int:
        """Distinct client connections that got as far as RCPT."""
        with self.handler.lock:
            return len(self.handler.peers)
