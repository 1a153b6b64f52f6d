"""Pytest fixtures for the real Dovecot and PostgreSQL servers.

Import everything from ``tests/conftest.py``::

    from tests.servers.fixtures import *  # noqa: F403

Policy: a missing server skips the tests that need it, except under CI=true,
where it fails them, so CI can never go green by silently skipping.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from tests.servers.dovecot import Dovecot, MailUser, find_dovecot

# Only fixtures: this is what conftest's star-import pulls in.
__all__ = [
    "dovecot",
    "dovecot_servers_session",
    "dovecot_tls",
    "dovecot_user",
    "dovecot_users",
    "make_dovecot",
    "postgres_url",
]

PROGRAM_USERS = {
    "sisters@program.example": "secret",
    "staff@program.example": "secret",
}

POSTGRES_HOST = "127.0.0.1:5432"
# "test" is what CI provisions; "postgres" always exists on a fresh cluster.
POSTGRES_ADMIN_DBS = ("test", "postgres")
POSTGRES_USERS = ("postgres", "root")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def unavailable(reason: str) -> NoReturn:
    """Skip locally, fail under CI=true (see module docstring)."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: missing test servers are an error)", pytrace=False)
    pytest.skip(f"{reason}; run scripts/install-system-deps")


def _tmp_root() -> Path:
    # maildir on tmpfs is ~2x faster than on this machine's disk; "dv" keeps
    # the path short for Dovecot's unix sockets (108-byte limit).
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix="dv", dir=base))


def _require_dovecot() -> None:
    if find_dovecot() is None:
        unavailable("Dovecot is not installed (apt-get install dovecot-imapd dovecot-lmtpd)")


class _ServerPool:
    """Starts servers on demand and tears all of them down at the end."""

    def __init__(self) -> None:
        self.started: list[tuple[Dovecot, Path]] = []

    def __call__(
        self, users: dict[str, str] | None = None, tls: bool = False, recipient_delimiter: str = "+"
    ) -> Dovecot:
        _require_dovecot()
        root = _tmp_root()
        server = Dovecot(
            root,
            dict(PROGRAM_USERS if users is None else users),
            tls=tls,
            recipient_delimiter=recipient_delimiter,
        )
        self.started.append((server, root))
        server.start()
        return server

    def close(self) -> None:
        for server, root in self.started:
            server.cleanup()
            shutil.rmtree(root, ignore_errors=True)
        self.started.clear()


@pytest.fixture(scope="session")
def dovecot_servers_session() -> Iterator[Callable[..., Dovecot]]:
    """Internal: owner of the session-scoped servers."""
    pool = _ServerPool()
    yield pool
    pool.close()


@pytest.fixture(scope="session")
def dovecot(dovecot_servers_session: Callable[..., Dovecot]) -> Dovecot:
    """Session-wide plain Dovecot (IMAP + LMTP) with the program users.

    Shared by all tests: don't stop it, and use ``dovecot_user`` for a
    private mailbox instead of the shared program addresses when the test
    counts or expects specific messages.
    """
    return dovecot_servers_session()


@pytest.fixture(scope="session")
def dovecot_tls(dovecot_servers_session: Callable[..., Dovecot]) -> Dovecot:
    """Session-wide Dovecot with STARTTLS on ``imap_port`` and IMAPS on ``imaps_port``.

    Clients trust ``dovecot_tls.cafile`` (or use ``dovecot_tls.ssl_context()``).
    """
    return dovecot_servers_session(tls=True)


@pytest.fixture
def dovecot_users(dovecot: Dovecot) -> Callable[..., MailUser]:
    """Factory: ``dovecot_users("sisters")`` -> a new user with an empty mailbox.

    Addresses look like ``sisters-1a2b3c4d5e@program.example`` (password
    ``secret``) and are unique, so tests never see each other's mail.
    Dovecot re-reads the passwd-file on change, no restart needed.
    """

    def make(prefix: str = "user", domain: str = "program.example") -> MailUser:
        return dovecot.new_user(prefix, domain)

    return make


@pytest.fixture
def dovecot_user(dovecot_users: Callable[..., MailUser]) -> MailUser:
    """One fresh, empty mailbox on the session ``dovecot`` server."""
    return dovecot_users("user")


@pytest.fixture
def make_dovecot() -> Iterator[Callable[..., Dovecot]]:
    """Factory for private, function-scoped servers (for stop/restart tests).

    ``make_dovecot(users=None, tls=False, recipient_delimiter="+")`` returns a started server
    (recipient_delimiter="": a mail system without sub-addressing); all
    are stopped and deleted after the test.
    """
    pool = _ServerPool()
    yield pool
    pool.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """SQLAlchemy URL of a fresh PostgreSQL database, dropped after the session."""
    try:
        import sqlalchemy as sa
    except ImportError:  # pragma: no cover - SQLAlchemy is a hard dependency
        unavailable("SQLAlchemy is not installed")

    admin = None
    errors = []
    for user, dbname in itertools.product(POSTGRES_USERS, POSTGRES_ADMIN_DBS):
        url = f"postgresql+psycopg://{user}@{POSTGRES_HOST}/{dbname}"
        # AUTOCOMMIT: CREATE/DROP DATABASE cannot run inside a transaction.
        engine = sa.create_engine(
            url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
        )
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("select 1"))
        except Exception as exc:  # any failure: try the next one
            errors.append(f"{user}@{dbname}: {str(exc).strip().splitlines()[-1]}")
            engine.dispose()
            continue
        admin = (user, engine)
        break
    if admin is None:
        unavailable(f"PostgreSQL not usable on {POSTGRES_HOST}: " + "; ".join(errors))

    user, engine = admin
    name = f"mailflow_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+psycopg://{user}@{POSTGRES_HOST}/{name}"
    finally:
        with engine.connect() as conn:
            # FORCE (PG13+) ends sessions a leaked engine may still hold.
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()
