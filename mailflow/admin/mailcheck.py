"""`mailflow check-mail`: does mail to the program address, and to a +sub-address, come back?

Two probes go out through the configured relay: one to the program address, one to
`program+token@...`. Then we wait for them where mailflow reads mail: the IMAP folder (and the
Processed folder, in case a running mailflow was faster), or, without IMAP, the inbox table the
running endpoint stores into. The report says what arrived, after how long, which
Authentication-Results the receiving side added, and what to change. Found probes are deleted
from the mailbox; a running mailflow drops them anyway (their X-Mailflow-Origin verifies).
"""

from __future__ import annotations

import contextlib
import email
import ssl
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.policy import default

from imapclient import IMAPClient
from sqlalchemy import select

from mailflow.dispatch.program import ProgramContext
from mailflow.inbound.imap import ImapConfig
from mailflow.outbound.transport import Transport
from mailflow.outbox.compose import compose, make_message_id
from mailflow.parse.tokens import make_token
from mailflow.store.db import Database
from mailflow.store.schema import InboxMessage

PROBE_HEADER = "X-Mailflow-Probe"


@dataclass
class Probe:
    address: str
    nonce: str
    sent_at: float = 0.0
    seconds: float | None = None  # None: not seen
    authentication: list[str] = field(default_factory=list)  # Authentication-Results values
    error: str | None = None  # the relay refused it

    @property
    def arrived(self) -> bool:
        return self.seconds is not None


@dataclass
class MailCheck:
    plain: Probe
    sub: Probe
    reply_token: str
    trusted: tuple[str, ...]
    via: str
    timeout: float

    @property
    def subaddressing(self) -> bool:
        return self.plain.arrived and self.sub.arrived

    @property
    def ok(self) -> bool:
        """Replies can reach mailflow the way it is configured to ask for them."""
        return self.plain.arrived and (self.sub.arrived or self.reply_token == "subject")

    def authserv_ids(self) -> list[str]:
        seen = [v.split(";", 1)[0].strip().lower() for v in self.plain.authentication]
        return list(dict.fromkeys(filter(None, seen)))

    def lines(self) -> list[str]:
        out = [f"probes sent through the relay, waited up to {self.timeout:g} s over {self.via}"]
        for label, probe in (("plain address", self.plain), ("sub-address", self.sub)):
            if probe.error:
                state = f"refused by the relay: {probe.error}"
            elif probe.arrived:
                state = f"arrived after {probe.seconds:.1f} s"
            else:
                state = "did not arrive"
            out.append(f"  {label:<14} {probe.address}: {state}")
        if self.plain.arrived:
            ids = self.authserv_ids()
            out.append(
                "  Authentication-Results: "
                + (", ".join(ids) if ids else "none (the receiving host adds none)")
            )
        out.append(
            "  sub-addressing: "
            + (
                "works"
                if self.subaddressing
                else "unknown"
                if not self.plain.arrived
                else "MISSING"
            )
        )
        out.append(f"  mail.reply_token = {self.reply_token}")
        out.append("what to change:" if self.advice() else "nothing to change")
        out += [f"  - {line}" for line in self.advice()]
        return out

    def advice(self) -> list[str]:
        todo = []
        if not self.plain.arrived:
            todo.append(
                f"nothing arrived for {self.plain.address}: check smtp.* (the relay) and that the "
                f"mail system delivers that address to {self.via}"
            )
            return todo
        if not self.sub.arrived and self.reply_token == "subaddress":
            todo.append(
                'the mail system does not deliver sub-addresses: set mail.reply_token = "subject"'
                " (or turn sub-addressing on: Postfix recipient_delimiter = +, Dovecot"
                " recipient_delimiter = +), else replies to mailflow's mail are lost"
            )
        if self.sub.arrived and self.reply_token == "subject":
            todo.append(
                'sub-addressing works: mail.reply_token = "subaddress" (signed tokens) is safer'
            )
        ids = self.authserv_ids()
        if not ids:
            todo.append(
                "no Authentication-Results on arrival: staff commands act only with DKIM that "
                "mailflow verifies itself, else after a confirmation by mail"
            )
        untrusted = [i for i in ids if i not in {t.lower() for t in self.trusted}]
        if untrusted:
            todo.append(
                f"Authentication-Results by {', '.join(untrusted)}: if that host is yours and "
                "removes such headers from incoming mail, add it to staff.trusted_authserv_ids"
            )
        return todo


def check_mail(
    program: ProgramContext,
    transport: Transport | None,
    imap: ImapConfig | None,
    db: Database,
    *,
    timeout: float = 60.0,
    grace: float = 10.0,
    poll: float = 0.5,
    clock: Callable[[], float] = time.monotonic,
) -> MailCheck:
    """Send both probes through `transport` (the relay; None: nothing leaves), wait for them
    over `imap`, or in the inbox table the running endpoint fills, and say what works.
    Once one probe is in, the other gets `grace` seconds more (three times the first one's
    delivery time if that is longer), not the whole timeout."""
    local, _, domain = program.program_address.partition("@")
    token = make_token(program.secret, "probe")
    plain = Probe(program.program_address, uuid.uuid4().hex)
    sub = Probe(f"{local}+{token}@{domain}", uuid.uuid4().hex)
    via = f"IMAP {imap.host}:{imap.port}/{imap.folder}" if imap else "the endpoint's inbox table"
    result = MailCheck(plain, sub, program.reply_token, program.trusted_authserv_ids, via, timeout)
    if transport is None:
        for probe in (plain, sub):
            probe.error = "outbound.transport is not smtp: nothing leaves through a relay"
        return result
    for probe in (plain, sub):
        probe.sent_at = clock()
        try:
            transport.send(program.program_address, [probe.address], _probe(program, probe))
        except Exception as exc:  # noqa: BLE001 - a refusal is the finding, not a crash
            probe.error = str(exc) or type(exc).__name__
    waiting = [p for p in (plain, sub) if not p.error]
    deadline = clock() + timeout
    while waiting and clock() < deadline:
        found = _imap_seen(imap, waiting) if imap else _endpoint_seen(db, waiting)
        for probe, raw in found:
            probe.seconds = clock() - probe.sent_at
            msg = email.message_from_bytes(raw, policy=default)
            probe.authentication = [str(v) for v in msg.get_all("Authentication-Results") or []]
        waiting = [p for p in waiting if not p.arrived]
        first = min((p.seconds for p in (plain, sub) if p.seconds is not None), default=None)
        if first is not None:
            deadline = min(deadline, plain.sent_at + first + max(grace, 3 * first))
        if waiting:
            time.sleep(poll)
    return result


def _probe(program: ProgramContext, probe: Probe) -> bytes:
    mid = make_message_id(f"probe.{probe.nonce}", program.domain)
    return compose(
        sender=f"{program.name} <{program.program_address}>", to=[probe.address],
        subject=f"mailflow check-mail probe {probe.nonce[:8]}",
        text="A probe of `mailflow check-mail`. It can be deleted.\n", html=None,
        message_id=mid, date=datetime.now().astimezone(), origin=program.domain,
        origin_secret=program.secret, extra_headers={PROBE_HEADER: probe.nonce},
    )  # fmt: skip


def _imap_seen(cfg: ImapConfig, waiting: list[Probe]) -> list[tuple[Probe, bytes]]:
    context = ssl.create_default_context(cafile=cfg.cafile or None)
    client = IMAPClient(
        cfg.host, port=cfg.port, ssl=cfg.security == "tls", ssl_context=context,
        timeout=cfg.timeout_seconds,
    )  # fmt: skip
    found = []
    try:
        if cfg.security == "starttls":
            client.starttls(context)
        client.login(cfg.user, cfg.password)
        for folder in (cfg.folder, cfg.processed_folder):
            if not client.folder_exists(folder):
                continue
            client.select_folder(folder)
            for probe in waiting:
                uids = client.search(["HEADER", PROBE_HEADER, probe.nonce])
                if not uids:
                    continue
                data = client.fetch(uids[:1], ["BODY.PEEK[HEADER]"])
                found.append((probe, next(iter(data.values()))[b"BODY[HEADER]"]))
                client.delete_messages(uids)  # our own probe: not for the program
                client.expunge(uids)
    finally:
        with contextlib.suppress(Exception):  # the server may have closed already
            client.logout()
    return found


def _endpoint_seen(db: Database, waiting: list[Probe]) -> list[tuple[Probe, bytes]]:
    """Probes the running endpoint stored (`mailflow run` with inbound.listen on)."""
    found = []
    with db.unit_of_work() as session:
        rows = session.scalars(select(InboxMessage.raw).order_by(InboxMessage.id.desc()).limit(200))
        for raw in rows:
            for probe in waiting:
                if probe.nonce.encode() in raw:
                    found.append((probe, raw))
    return found
