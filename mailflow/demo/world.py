"""The outside world of the demo: an SMTP relay (aiosmtpd) that delivers mailflow's mail into
per-person mailboxes, keeps every mail as a file a person can open, and refuses dead addresses."""

from __future__ import annotations

import email
import re
import socket
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class Delivered:
    number: int
    to: tuple[str, ...]
    msg: EmailMessage
    path: Path

    @property
    def text(self) -> str:
        body = self.msg.get_body(("plain",))
        return body.get_content() if body is not None else ""


@dataclass
class _Relay:
    folder: Path
    refuse: set[str]
    lock: threading.Lock = field(default_factory=threading.Lock)
    mail: list[Delivered] = field(default_factory=list)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:  # noqa: N802
        if address.lower() in self.refuse:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        raw = envelope.original_content or b""
        msg = email.message_from_bytes(raw, policy=default)
        with self.lock:
            number = len(self.mail) + 1
            slug = re.sub(r"[^\w-]+", "-", str(msg["Subject"] or ""))[:60].strip("-")
            path = self.folder / f"{number:04d}-{slug}.eml"
            path.write_bytes(raw)
            self.mail.append(
                Delivered(number, tuple(a.lower() for a in envelope.rcpt_tos), msg, path)
            )
        return "250 OK: delivered"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class World:
    def __init__(self, folder: Path, refuse: set[str] = frozenset()) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.relay = _Relay(folder, {a.lower() for a in refuse})
        self.port = free_port()
        self.controller = Controller(self.relay, hostname="127.0.0.1", port=self.port)
        self._read: dict[str, int] = {}

    def start(self) -> World:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    @property
    def all_mail(self) -> list[Delivered]:
        with self.relay.lock:
            return list(self.relay.mail)

    def unread(self, address: str) -> list[Delivered]:
        """Mail to `address` not seen by it yet (each person reads their own mailbox)."""
        address = address.lower()
        mail = self.all_mail
        start = self._read.get(address, 0)
        self._read[address] = len(mail)
        return [m for m in mail[start:] if address in m.to]
