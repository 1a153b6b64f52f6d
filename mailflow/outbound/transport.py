"""How the outbox drainer hands over a finished mail, and the two failures it must tell apart.

A transport either accepts the mail for every recipient (returns), or raises one of:

- `TemporarySendError`: try again later (4xx, network trouble, our relay is down).
- `PermanentSendError`: some recipients will never get it (5xx). It also says who *did* get
  the mail in the same attempt (`delivered`) and who was only deferred (`deferred`), because
  SMTP answers per recipient: a mail to three people can reach one, be refused for one and be
  deferred for the third. The drainer must then retry the third only, never the first.
"""

from __future__ import annotations

import mailbox
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from mailflow.errors import MailflowError, TransientError


class Transport(Protocol):
    def send(self, sender: str, recipients: Sequence[str], raw: bytes) -> None: ...

    def close(self) -> None: ...


class TemporarySendError(TransientError):
    """Nothing final happened for `recipients` (all of them when empty); retry later.

    `delivered`: recipients that accepted the mail in this same attempt (do not resend to them).
    `connection`: the server could not be reached or spoken to at all, so the next mail would
    fail the same way; the drainer stops its batch instead of trying each row.
    """

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        recipients: Sequence[str] = (),
        delivered: Sequence[str] = (),
        connection: bool = False,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.recipients = tuple(recipients)
        self.delivered = tuple(delivered)
        self.connection = connection


class PermanentSendError(MailflowError):
    """`recipients` were refused for good (5xx); retrying will not help them.

    `delivered`: recipients that got the mail in the same attempt (a partial delivery).
    `deferred`: recipients refused only temporarily in the same attempt; retry those.
    """

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        recipients: Sequence[str] = (),
        delivered: Sequence[str] = (),
        deferred: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.code = code
        self.recipients = tuple(recipients)
        self.delivered = tuple(delivered)
        self.deferred = tuple(deferred)


def check_envelope(sender: str, recipients: Sequence[str]) -> None:
    """Refuse envelope addresses that could break a protocol line or a header."""
    for address in (sender, *recipients):
        if any(c in address for c in "\r\n\x00"):
            raise PermanentSendError(
                f"envelope address with a line break: {address!r}", recipients=recipients
            )
    if not recipients:
        raise PermanentSendError("no recipients")


class CaptureTransport:
    """Keeps every mail in memory: for tests and the demo."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[str], bytes]] = []
        self.closed = False
        self._lock = threading.Lock()  # the drainer may send from several threads

    def send(self, sender: str, recipients: Sequence[str], raw: bytes) -> None:
        check_envelope(sender, recipients)
        with self._lock:
            self.sent.append((sender, list(recipients), bytes(raw)))

    def close(self) -> None:
        self.closed = True


class MaildirTransport:
    """Drops each mail into a Maildir's new/ folder, where any mail client can open it.

    For development and the embedded default: nothing leaves the machine. `mailbox.Maildir`
    writes into tmp/ and then renames into new/, so a reader never sees half a file.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._box = mailbox.Maildir(self.path, factory=None, create=True)
        self._lock = threading.Lock()

    def send(self, sender: str, recipients: Sequence[str], raw: bytes) -> None:
        check_envelope(sender, recipients)
        # The envelope is not in the headers (Bcc, forwarding); record it the way local
        # delivery agents do, so a person reading the file knows who it was for.
        envelope = f"Return-Path: <{sender}>\nX-Envelope-To: {', '.join(recipients)}\n"
        # Maildir files use the local line ending; the wire form is CRLF.
        data = envelope.encode() + raw.replace(b"\r\n", b"\n")
        with self._lock:
            self._box.add(data)

    def close(self) -> None:
        self._box.close()
