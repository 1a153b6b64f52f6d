"""IMAP intake: UID cursor in the database, batched BODY.PEEK[] fetches, move after commit.

The folder itself is the to-do list for moves: every message still in the folder whose UID is at
or below the cursor has been stored and committed, so it can be moved (Processed, or Quarantine
when processing failed) at any later time, after a crash too. Nothing is deleted before its row
is committed; a UIDVALIDITY change resets the cursor and re-scans, and the content hash keeps
the re-scan from storing anything twice.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError
from sqlalchemy import select

from mailflow.clock import Clock
from mailflow.errors import TransientError
from mailflow.inbound.intake import Incoming, store_batch
from mailflow.log import INBOUND
from mailflow.store.db import Database
from mailflow.store.schema import DEAD, DONE, NEW, QUARANTINED, ImapCursor, InboxMessage

# What can go wrong on the wire; all of it means "reconnect and carry on".
NETWORK_ERRORS = (OSError, socket.timeout, ssl.SSLError, IMAPClientError, EOFError)
# How soon to look again at messages another worker is still processing, to move them.
UNSETTLED_RECHECK_SECONDS = 2.0
# Messages stored from a backlog between two processing passes (the first FETCH is processed
# at once, so the first mail after an outage is not kept waiting for the rest).
PROCESS_EVERY = 1000


@dataclass(frozen=True)
class ImapConfig:
    host: str
    port: int
    user: str
    password: str
    security: str = "starttls"  # none | starttls | tls
    cafile: str | None = None
    folder: str = "INBOX"
    processed_folder: str = "Processed"
    quarantine_folder: str = "Quarantine"
    batch_size: int = 200
    batch_bytes: int = 33554432  # a FETCH of BODY.PEEK[] holds this much (one larger alone)
    idle: bool = True
    idle_renew_seconds: float = 1680.0
    poll_seconds: float = 60.0
    timeout_seconds: float = 30.0
    backoff_max_seconds: float = 300.0

    @property
    def mailbox(self) -> str:
        return f"{self.user}@{self.host}:{self.port}/{self.folder}"


def _chunks(items: list[int], size: int) -> Iterable[list[int]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _chunks_by_bytes(
    uids: list[int], sizes: dict[int, int], size: int, max_bytes: int
) -> Iterable[list[int]]:
    """At most `size` UIDs whose RFC822.SIZE add up to at most `max_bytes` (one larger alone)."""
    batch: list[int] = []
    total = 0
    for uid in uids:
        n = sizes.get(uid, 0)
        if batch and (len(batch) >= size or total + n > max_bytes):
            yield batch
            batch, total = [], 0
        batch.append(uid)
        total += n
    if batch:
        yield batch


class ImapSource:
    """One account and folder. Not thread-safe: one thread drives it."""

    def __init__(
        self,
        config: ImapConfig,
        db: Database,
        clock: Clock,
        process: Callable[[], object] | None = None,
    ) -> None:
        self.config = config
        self.db = db
        self.clock = clock
        # Called after each stored batch so messages get their final status before the move.
        self.process = process or (lambda: None)
        self.client: IMAPClient | None = None
        self.uidvalidity: int | None = None
        self.last_uid = 0
        # Wall-clock time of the server's last answer (mailflow status, /healthz).
        self.last_contact: datetime | None = None
        # Messages in the folder still being processed (maybe by another worker): while there
        # are any, wait() looks again soon instead of idling, so they are moved once handled.
        self.unsettled = 0

    # -- connection -------------------------------------------------------------------------
    def connect(self) -> None:
        cfg = self.config
        context = ssl.create_default_context(cafile=cfg.cafile or None)
        try:
            client = IMAPClient(
                cfg.host,
                port=cfg.port,
                ssl=cfg.security == "tls",
                ssl_context=context,
                timeout=cfg.timeout_seconds,
            )
            if cfg.security == "starttls":
                client.starttls(context)
            client.login(cfg.user, cfg.password)
            for folder in (cfg.processed_folder, cfg.quarantine_folder):
                if not client.folder_exists(folder):
                    client.create_folder(folder)
            client.select_folder(cfg.folder)
        except NETWORK_ERRORS as exc:
            raise TransientError(f"IMAP {cfg.host}:{cfg.port}: {exc}") from exc
        self.client = client
        self.last_contact = datetime.now(UTC)
        INBOUND.info("IMAP connected to %s:%s/%s", cfg.host, cfg.port, cfg.folder)

    @property
    def connected(self) -> bool:
        return self.client is not None

    def close(self) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        try:
            client.logout()
        except NETWORK_ERRORS:
            with contextlib.suppress(*NETWORK_ERRORS):
                client.shutdown()

    # -- one pass -----------------------------------------------------------------------------
    def sync(self) -> int:
        """Store every new message, process, move what is done. Returns how many were stored."""
        assert self.client is not None, "connect() first"
        client = self.client
        try:
            status = client.folder_status(self.config.folder, [b"UIDVALIDITY"])
            uidvalidity = int(status[b"UIDVALIDITY"])
            last_uid = self.last_uid = self._cursor(uidvalidity)
            # "N:*" always matches the highest UID, even below N; filter it out.
            new = sorted(u for u in client.search(["UID", f"{last_uid + 1}:*"]) if u > last_uid)
            stored = since_pass = 0
            sizes = self._sizes(new)
            for n, batch in enumerate(
                _chunks_by_bytes(new, sizes, self.config.batch_size, self.config.batch_bytes)
            ):
                stored += self._store_batch(uidvalidity, batch)
                self.last_uid = batch[-1]
                since_pass += len(batch)
                # A backlog is processed a thousand at a time, not per FETCH: each pass
                # starts with a batch parsed with nothing to hide it behind.
                if since_pass >= PROCESS_EVERY or n == 0:
                    self.process()
                    self._move_done(uidvalidity)
                    since_pass = 0
            if since_pass or not new:
                self.process()
                self._move_done(uidvalidity)
            self.last_contact = datetime.now(UTC)
            return stored
        except NETWORK_ERRORS as exc:
            raise TransientError(f"IMAP {self.config.mailbox}: {exc}") from exc

    def _cursor(self, uidvalidity: int) -> int:
        with self.db.unit_of_work() as session:
            cursor = session.get(ImapCursor, self.config.mailbox)
            if cursor is None:
                cursor = ImapCursor(
                    mailbox=self.config.mailbox,
                    uidvalidity=uidvalidity,
                    last_uid=0,
                    updated_at=self.clock.now(),
                )
                session.add(cursor)
            elif cursor.uidvalidity != uidvalidity:
                INBOUND.warning(
                    "UIDVALIDITY of %s changed %s -> %s: re-scanning (duplicates are skipped)",
                    self.config.mailbox,
                    cursor.uidvalidity,
                    uidvalidity,
                )
                cursor.uidvalidity, cursor.last_uid = uidvalidity, 0
                cursor.updated_at = self.clock.now()
            self.uidvalidity = uidvalidity
            return cursor.last_uid

    def _sizes(self, uids: list[int]) -> dict[int, int]:
        """RFC822.SIZE of each UID, so a FETCH of the bodies can be bounded by bytes."""
        assert self.client is not None
        sizes: dict[int, int] = {}
        for chunk in _chunks(uids, 1000):
            for uid, data in self.client.fetch(chunk, [b"RFC822.SIZE"]).items():
                sizes[uid] = int(data.get(b"RFC822.SIZE", 0))
        return sizes

    def _store_batch(self, uidvalidity: int, uids: list[int]) -> int:
        assert self.client is not None
        fetched = self.client.fetch(uids, [b"BODY.PEEK[]"])
        now = self.clock.now()
        batch = []
        for uid in uids:
            data = fetched.get(uid)
            if data is None or b"BODY[]" not in data:
                # Expunged by someone else between SEARCH and FETCH: nothing to store.
                INBOUND.warning("UID %s of %s vanished before FETCH", uid, self.config.mailbox)
                continue
            batch.append(
                Incoming(
                    raw=bytes(data[b"BODY[]"]),
                    source="imap",
                    mailbox=self.config.mailbox,
                    uidvalidity=uidvalidity,
                    uid=uid,
                )
            )
        with self.db.unit_of_work() as session:
            created = store_batch(session, batch, now)
            cursor = session.get(ImapCursor, self.config.mailbox)
            assert cursor is not None
            cursor.last_uid = max(cursor.last_uid, uids[-1])
            cursor.updated_at = now
        INBOUND.info(
            "stored %s new of %s fetched from %s (UID %s..%s)",
            created,
            len(uids),
            self.config.folder,
            uids[0],
            uids[-1],
        )
        return created

    def _move_done(self, uidvalidity: int) -> None:
        """Move every committed message still in the folder to where its status says."""
        assert self.client is not None
        self.unsettled = 0
        with self.db.unit_of_work() as session:
            last_uid = session.get(ImapCursor, self.config.mailbox).last_uid  # type: ignore[union-attr]
        if last_uid == 0:
            return
        present = self.client.search(["UID", f"1:{last_uid}"])
        present = [u for u in present if u <= last_uid]
        if not present:
            return
        with self.db.unit_of_work() as session:
            rows = session.execute(
                select(InboxMessage.uid, InboxMessage.status).where(
                    InboxMessage.mailbox == self.config.mailbox,
                    InboxMessage.uidvalidity == uidvalidity,
                    InboxMessage.uid.in_(present),
                )
            ).all()
        status = {uid: st for uid, st in rows}
        processed, quarantine = [], []
        self.unsettled = 0
        for uid in present:
            st = status.get(uid, DONE)  # not found: a duplicate of a stored message
            if st == NEW:
                self.unsettled += 1
                continue  # not processed yet; moved on a later pass
            (quarantine if st in (DEAD, QUARANTINED) else processed).append(uid)
        for folder, uids in (
            (self.config.processed_folder, processed),
            (self.config.quarantine_folder, quarantine),
        ):
            for chunk in _chunks(uids, 500):
                self._move(chunk, folder)

    def _move(self, uids: list[int], folder: str) -> None:
        assert self.client is not None
        client = self.client
        if client.has_capability("MOVE"):
            client.move(uids, folder)
        else:
            client.copy(uids, folder)
            client.delete_messages(uids)
            if client.has_capability("UIDPLUS"):
                client.uid_expunge(uids)
            else:
                client.expunge()
        INBOUND.debug("moved %s messages to %s", len(uids), folder)

    # -- waiting ------------------------------------------------------------------------------
    def wait(self, stop: threading.Event) -> None:
        """Block until the folder may have changed, the poll interval passes, or stop is set."""
        assert self.client is not None
        cfg = self.config
        if self.unsettled:
            stop.wait(min(UNSETTLED_RECHECK_SECONDS, cfg.poll_seconds))
            return
        if not (cfg.idle and self.client.has_capability("IDLE")):
            stop.wait(cfg.poll_seconds)
            return
        try:
            # imaplib keeps unsolicited responses here. Mail announced while we were busy (an
            # EXISTS during MOVE) is not announced again in IDLE, and one that arrives between our
            # SEARCH and the server's "+ idling" is read by idle() and kept here, never returned
            # by idle_check(). So: forget old notices, look once more, enter IDLE, check again.
            pending = self.client._imap.untagged_responses
            pending.pop("EXISTS", None)
            pending.pop("RECENT", None)
            if any(
                u > self.last_uid for u in self.client.search(["UID", f"{self.last_uid + 1}:*"])
            ):
                return
            self.client.idle()
            if pending.pop("EXISTS", None) or pending.pop("RECENT", None) or self._buffered():
                self.client.idle_done()
                return
            deadline = time.monotonic() + cfg.idle_renew_seconds
            with selectors.DefaultSelector() as selector:
                selector.register(self.client.socket(), selectors.EVENT_READ)
                while not stop.is_set() and time.monotonic() < deadline:
                    if not selector.select(timeout=0.5):
                        continue
                    responses = self.client.idle_check(timeout=0)
                    if not responses:
                        # idle_check swallows EOF: readable with nothing to read means closed.
                        raise ConnectionError("server closed the connection during IDLE")
                    self.last_contact = datetime.now(UTC)  # news, or a keep-alive "* OK"
                    # imapclient yields untagged responses as tuples such as (7, b"EXISTS").
                    if any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses):
                        break
            self.client.idle_done()
        except NETWORK_ERRORS as exc:
            raise TransientError(f"IMAP IDLE on {cfg.mailbox}: {exc}") from exc

    def _buffered(self) -> bool:
        """Lines already read from the socket into imaplib's buffer, which select() cannot see.

        The server may send "+ idling" and "* 7 EXISTS" in one packet: idle() consumes the first
        line, the second waits in the buffer, and the socket never becomes readable again.
        """
        assert self.client is not None
        sock = self.client.socket()
        timeout = sock.gettimeout()
        sock.setblocking(False)
        try:
            return bool(self.client._imap.file.peek(1))
        except (BlockingIOError, ssl.SSLWantReadError, OSError):
            return False
        finally:
            sock.settimeout(timeout)

    def run(self, stop: threading.Event, still_ours: Callable[[], bool] | None = None) -> None:
        """Sync, wait, repeat; reconnect with exponential backoff when the server goes away.

        `still_ours()` is asked before each pass: False (the poller lock was lost) ends the run.
        """
        backoff = 1.0
        while not stop.is_set():
            if still_ours is not None and not still_ours():
                INBOUND.warning(
                    "lost the poller lock of %s; another worker polls", self.config.mailbox
                )
                break
            try:
                if self.client is None:
                    self.connect()
                self.sync()
                backoff = 1.0
                self.wait(stop)
            except Exception as exc:  # noqa: BLE001 - the poller must outlive any one failure
                if isinstance(exc, TransientError):
                    INBOUND.warning("%s; reconnecting in %.0f s", exc, backoff)
                else:
                    INBOUND.exception(
                        "IMAP loop error on %s; retrying in %.0f s", self.config.mailbox, backoff
                    )
                self.close()
                stop.wait(backoff)
                backoff = min(backoff * 2, self.config.backoff_max_seconds)
        self.close()
