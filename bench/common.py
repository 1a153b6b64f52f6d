"""Shared by the benchmarks: a private Dovecot, mailflow's environment, small helpers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # for tests.servers.dovecot (and mailflow from a checkout)

from imapclient import IMAPClient  # noqa: E402

from tests.servers.dovecot import Dovecot, find_dovecot  # noqa: E402

USER = "sisters@program.example"
PASSWORD = "secret"
SECRET = "bench-secret-long-enough-for-32-bytes-of-hmac-key"


def shm_dir(prefix: str) -> Path:
    """A private temp dir, on tmpfs when there is one (maildir makes many small files)."""
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


@contextmanager
def dovecot() -> Iterator[Dovecot]:
    """A private Dovecot with one user (USER/PASSWORD), removed afterwards."""
    if find_dovecot() is None:
        sys.exit("dovecot is not installed (apt-get install dovecot-imapd dovecot-lmtpd)")
    root = shm_dir("dvb")
    server = Dovecot(root, {USER: PASSWORD})
    try:
        server.start()
        yield server
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)


def dovecot_version() -> str:
    binary = find_dovecot()
    if binary is None:
        return "?"
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip().split()[0] if out.stdout.strip() else "?"


def login(server: Dovecot) -> IMAPClient:
    client = IMAPClient(server.host, port=server.imap_port, ssl=False, timeout=60)
    client.login(USER, PASSWORD)
    return client


def fill(server: Dovecot, messages: list[bytes], folder: str = "INBOX", chunk: int = 250) -> None:
    """APPEND every message over one connection (MULTIAPPEND, many per command, if offered)."""
    client = login(server)
    try:
        if client.has_capability("MULTIAPPEND"):
            for i in range(0, len(messages), chunk):
                client.multiappend(folder, messages[i : i + chunk])
        else:
            for raw in messages:
                client.append(folder, raw)
    finally:
        client.logout()


def folder_counts(server: Dovecot) -> dict[str, int]:
    client = login(server)
    try:
        return {
            name: client.folder_status(name, [b"MESSAGES"])[b"MESSAGES"]
            for _flags, _delim, name in client.list_folders()
        }
    finally:
        client.logout()


def database_url(database: Path | str) -> str:
    """An SQLAlchemy URL: a path is an SQLite file, a string is a URL already."""
    return database if isinstance(database, str) else f"sqlite:///{database}"


@contextmanager
def postgres_databases(admin_url: str) -> Iterator[Callable[[str], str]]:
    """A factory of fresh, empty PostgreSQL databases (`fresh(label)` -> URL), all dropped after."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    # AUTOCOMMIT: CREATE/DROP DATABASE cannot run inside a transaction.
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def fresh(label: str) -> str:
        name = f"mfbench_{os.getpid()}_{label}"
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        made.append(name)
        return make_url(admin_url).set(database=name).render_as_string(hide_password=False)

    try:
        yield fresh
    finally:
        with engine.connect() as conn:
            for name in made:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def mailflow_env(server: Dovecot, database: Path | str, **extra: str) -> dict[str, str]:
    """Settings for mailflow by environment variables (no mailflow.toml)."""
    env = {
        "MAILFLOW_DATABASE_URL": database_url(database),
        "MAILFLOW_IMAP_HOST": server.host,
        "MAILFLOW_IMAP_PORT": str(server.imap_port),
        "MAILFLOW_IMAP_USER": USER,
        "MAILFLOW_IMAP_PASSWORD": PASSWORD,
        "MAILFLOW_IMAP_SECURITY": "none",
        "MAILFLOW_INBOUND_LISTEN": "off",
        "MAILFLOW_PROGRAM_ADDRESS": USER,
        "MAILFLOW_PROGRAM_SECRET": SECRET,
    }
    env.update(extra)
    return env
