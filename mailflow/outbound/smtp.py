"""SMTP submission to a relay, over long-lived connections (one, or a few used side by side).

Protocol codes stop here: every reply becomes "sent", `TemporarySendError` or
`PermanentSendError` (see transport.py), per recipient when the server answers per recipient.
"""

from __future__ import annotations

import contextlib
import queue
import smtplib
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from mailflow.log import OUTBOX
from mailflow.outbound.transport import PermanentSendError, TemporarySendError, check_envelope

Security = Literal["none", "starttls", "tls"]


class _Stale(Exception):
    """A reused connection turned out to be dead before the server saw anything."""


@dataclass
class _Slot:
    """One SMTP session, used by one send at a time."""

    conn: smtplib.SMTP | None = None
    last_used: float = 0.0


class SmtpTransport:
    """Sends through `host:port`, keeping up to `connections` sessions open across sends.

    A session is opened lazily, checked with NOOP only after it sat idle for
    `idle_check_seconds`, and reopened once when a reused session fails before MAIL FROM
    was answered (nothing was sent then, so trying again cannot duplicate the mail).
    Thread-safe: one SMTP session carries one transaction at a time, so concurrent sends each
    take their own session (the outbox drainer's senders, `outbox.senders`); with more
    senders than sessions the extra ones wait.
    """

    def __init__(
        self,
        host: str,
        port: int,
        security: Security = "none",
        user: str | None = None,
        password: str | None = None,
        cafile: str | None = None,
        timeout: float = 30,
        local_hostname: str = "localhost",
        idle_check_seconds: float = 30,
        connections: int = 1,
    ) -> None:
        if security not in ("none", "starttls", "tls"):
            raise ValueError(f"security must be none, starttls or tls, not {security!r}")
        self.host, self.port, self.security = host, port, security
        self.user, self._password = user, password
        self.cafile, self.timeout = cafile, timeout
        self.local_hostname = local_hostname
        self.idle_check_seconds = idle_check_seconds
        # LIFO: the session used last is taken first, so a light load keeps one session warm.
        self._slots: queue.LifoQueue[_Slot] = queue.LifoQueue()
        for _ in range(max(1, connections)):
            self._slots.put(_Slot())
        self.connections = max(1, connections)

    def __repr__(self) -> str:  # never shows the password
        return f"SmtpTransport({self.host}:{self.port}, {self.security}, user={self.user!r})"

    def send(self, sender: str, recipients: Sequence[str], raw: bytes) -> None:
        check_envelope(sender, recipients)
        slot = self._slots.get()
        try:
            conn, reused = self._connection(slot)
            try:
                self._transaction(slot, conn, sender, recipients, raw, reused)
            except _Stale:
                self._drop(slot)
                conn, _ = self._connection(slot)
                self._transaction(slot, conn, sender, recipients, raw, reused=False)
            slot.last_used = time.monotonic()
        finally:
            self._slots.put(slot)

    def close(self) -> None:
        """Quit every session (waits for sends in progress to finish theirs)."""
        slots = [self._slots.get() for _ in range(self.connections)]
        try:
            for slot in slots:
                if slot.conn is not None:
                    with contextlib.suppress(smtplib.SMTPException, OSError):
                        slot.conn.quit()  # if already gone, closing is all we wanted
                    self._drop(slot)
        finally:
            for slot in slots:
                self._slots.put(slot)

    # -- connection ---------------------------------------------------------------------

    def _connection(self, slot: _Slot) -> tuple[smtplib.SMTP, bool]:
        if slot.conn is not None and time.monotonic() - slot.last_used > self.idle_check_seconds:
            try:
                alive = slot.conn.noop()[0] == 250
            except (smtplib.SMTPException, OSError):
                alive = False
            if not alive:
                self._drop(slot)
        if slot.conn is not None:
            return slot.conn, True
        slot.conn = self._connect()
        slot.last_used = time.monotonic()
        return slot.conn, False

    def _connect(self) -> smtplib.SMTP:
        where = f"{self.host}:{self.port}"
        context = (
            ssl.create_default_context(cafile=self.cafile) if self.security != "none" else None
        )
        conn: smtplib.SMTP | None = None
        try:
            if self.security == "tls":
                conn = smtplib.SMTP_SSL(
                    self.host,
                    self.port,
                    local_hostname=self.local_hostname,
                    timeout=self.timeout,
                    context=context,
                )
            else:
                conn = smtplib.SMTP(
                    self.host, self.port, local_hostname=self.local_hostname, timeout=self.timeout
                )
            conn.ehlo()
            if self.security == "starttls":
                conn.starttls(context=context)
                conn.ehlo()
            if self.user:
                conn.login(self.user, self._password or "")
            return conn
        except smtplib.SMTPAuthenticationError as exc:
            # Our credentials, not the mail, are wrong: keep every mail queued until fixed.
            self._abandon(conn)
            OUTBOX.error("SMTP login to %s as %s refused: %s", where, self.user, exc.smtp_code)
            raise TemporarySendError(
                f"SMTP login to {where} refused ({exc.smtp_code})",
                code=exc.smtp_code,
                connection=True,
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:  # OSError covers ssl, refused, timeout
            self._abandon(conn)
            code = getattr(exc, "smtp_code", None)
            raise TemporarySendError(
                f"cannot open SMTP session to {where}: {type(exc).__name__}: {exc}",
                code=code if isinstance(code, int) else None,
                connection=True,
            ) from exc

    @staticmethod
    def _abandon(conn: smtplib.SMTP | None) -> None:
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.close()

    def _drop(self, slot: _Slot) -> None:
        self._abandon(slot.conn)
        slot.conn = None

    # -- one mail -----------------------------------------------------------------------

    def _transaction(
        self,
        slot: _Slot,
        conn: smtplib.SMTP,
        sender: str,
        recipients: Sequence[str],
        raw: bytes,
        reused: bool,
    ) -> None:
        options = []
        if conn.has_extn("size"):
            options.append(f"SIZE={len(raw)}")
        if not raw.isascii() and conn.has_extn("8bitmime"):
            options.append("BODY=8BITMIME")
        if not all(a.isascii() for a in (sender, *recipients)):
            if not conn.has_extn("smtputf8"):
                raise PermanentSendError(
                    "non-ASCII address and the server lacks SMTPUTF8", recipients=recipients
                )
            options.append("SMTPUTF8")

        delivered: list[str] = []
        deferred: dict[str, tuple[int, bytes]] = {}
        refused: dict[str, tuple[int, bytes]] = {}
        try:
            try:
                code, reply = conn.mail(sender, options)
            except (smtplib.SMTPServerDisconnected, OSError) as exc:
                if reused:
                    raise _Stale from exc
                raise
            if code == 421 and reused:
                raise _Stale  # the server timed our idle session out; nothing was sent
            if code != 250:
                bucket = deferred if code < 500 else refused
                bucket.update(dict.fromkeys(recipients, (code, reply)))
            else:
                for rcpt in recipients:
                    code, reply = conn.rcpt(rcpt)
                    if code in (250, 251):
                        delivered.append(rcpt)
                    else:
                        (deferred if code < 500 else refused)[rcpt] = (code, reply)
                if delivered:
                    try:
                        # data() raises only when DATA itself is refused; the reply to the
                        # final "." (the one that counts) is returned.
                        code, reply = conn.data(raw)
                    except smtplib.SMTPDataError as exc:
                        code, reply = exc.smtp_code, exc.smtp_error
                    if code != 250:
                        bucket = deferred if code < 500 else refused
                        bucket.update(dict.fromkeys(delivered, (code, reply)))
                        delivered = []
            if deferred or refused:
                self._reset(slot, conn, (*deferred.values(), *refused.values()))
        except (smtplib.SMTPException, OSError) as exc:
            # The session broke mid-mail: nothing is known to be delivered, so all may retry.
            self._drop(slot)
            raise TemporarySendError(
                f"SMTP session to {self.host}:{self.port} broke: {type(exc).__name__}: {exc}",
                recipients=recipients,
                connection=True,
            ) from exc

        if refused:
            code, reply = next(iter(refused.values()))
            raise PermanentSendError(
                _summary("refused", refused, deferred),
                code=code,
                recipients=list(refused),
                delivered=delivered,
                deferred=list(deferred),
            )
        if deferred:
            code, reply = next(iter(deferred.values()))
            raise TemporarySendError(
                _summary("deferred", deferred, {}),
                code=code,
                recipients=list(deferred),
                delivered=delivered,
            )

    def _reset(self, slot: _Slot, conn: smtplib.SMTP, replies: Sequence[tuple[int, bytes]]) -> None:
        if any(code == 421 for code, _ in replies):
            self._drop(slot)  # 421: the server is closing the channel
            return
        try:
            conn.rset()
        except (smtplib.SMTPException, OSError):
            self._drop(slot)


def _summary(
    what: str, failed: dict[str, tuple[int, bytes]], also_deferred: dict[str, tuple[int, bytes]]
) -> str:
    parts = [f"{rcpt}: {code} {_text(reply)}" for rcpt, (code, reply) in failed.items()]
    text = f"{what}: " + "; ".join(parts)
    if also_deferred:
        text += "; deferred: " + "; ".join(
            f"{rcpt}: {code} {_text(reply)}" for rcpt, (code, reply) in also_deferred.items()
        )
    return text


def _text(reply: bytes | str) -> str:
    if isinstance(reply, bytes):
        reply = reply.decode("utf-8", "replace")
    return " ".join(reply.split())[:200]
