"""A private Dovecot 2.3 instance for integration tests.

The server runs in the foreground (``dovecot -F -c CONF``) from a config file
we generate, with all state under a caller-supplied directory (ideally on
/dev/shm, since maildir creates many small files). It never touches the
system Dovecot's config, sockets or state.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import grp
import ipaddress
import os
import pwd
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from imapclient import IMAPClient

DOVECOT_CANDIDATES = ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot")

# Unix socket paths are limited to 108 bytes; the longest Dovecot socket name
# under base_dir is ~30 bytes, so keep base_dir itself well below that.
_MAX_BASE_DIR_LEN = 60

_PR_SET_PDEATHSIG = 1

# Internal services exit promptly on the master's own SIGTERM handling;
# signalling them ourselves only produces "read(anvil) failed" noise.
_SELF_STOPPING = frozenset({"anvil", "auth", "config", "stats", "log", "dict", "ipc"})

# Owner of the stored mail when the tests run as root (see _identity).
MAIL_USER = "dovecot"


class DovecotError(RuntimeError):
    """Dovecot failed to start or stop; the message carries the log tail."""


def find_dovecot() -> str | None:
    """Return the path of the dovecot binary, or None when not installed."""
    found = shutil.which("dovecot")
    if found:
        return found
    for candidate in DOVECOT_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def free_port(host: str = "127.0.0.1") -> int:
    """Ask the kernel for a currently unused TCP port on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the test process dies.

    Keeps a crashed/killed pytest from leaving Dovecot masters behind.
    (Linux ties this to the thread that forked, so start from a long-lived
    thread - pytest fixtures run in the main thread.)
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _short_tmp_root() -> str:
    return "/dev/shm" if os.access("/dev/shm", os.W_OK) else tempfile.gettempdir()


def make_self_signed_cert(cert_path: Path, key_path: Path, host: str = "127.0.0.1") -> None:
    """Write a self-signed cert (CN=localhost, SAN localhost + ``host``) and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    # EC keys are generated in microseconds; RSA-2048 would cost ~50-100 ms.
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(host))]
            ),
            critical=False,
        )
        # CA:TRUE lets clients use this very file as their trust anchor (cafile).
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)


@dataclass(frozen=True)
class MailUser:
    """Credentials of one mailbox on a :class:`Dovecot` server."""

    address: str
    password: str
    server: Dovecot

    def client(self) -> IMAPClient:
        """Return a logged-in IMAPClient (plain port); caller must logout."""
        return self.server.login(self.address, self.password)


class Dovecot:
    """A private Dovecot (IMAP + LMTP, optional STARTTLS/IMAPS) under ``root``.

    Ports are chosen once in the constructor and kept across restarts so
    clients configured with them keep working. ``imaps_port`` is None unless
    ``tls`` is set.
    """

    host = "127.0.0.1"

    def __init__(
        self, root: Path, users: dict[str, str], tls: bool = False, recipient_delimiter: str = "+"
    ) -> None:
        self.root = Path(root).resolve()
        self.tls = tls
        # LMTP delivers user+detail@domain to user@domain by this character; "" turns
        # sub-addressing off, as on a mail system without it (mail to user+x is refused).
        self.recipient_delimiter = recipient_delimiter
        self.users: dict[str, str] = dict(users)
        self.imap_port = free_port(self.host)
        self.lmtp_port = free_port(self.host)
        self.imaps_port: int | None = free_port(self.host) if tls else None
        self.cafile: Path | None = self.root / "cert.pem" if tls else None
        self.keyfile: Path | None = self.root / "key.pem" if tls else None
        self.conf_path = self.root / "dovecot.conf"
        self.passwd_dir = self.root / "passwd"
        self.log_path = self.root / "dovecot.log"
        self.stderr_path = self.root / "dovecot.stderr"
        self.mail_dir = self.root / "mail"
        self.home_dir = self.root / "home"
        self._own_base_dir: str | None = None
        base_dir = self.root / "r"
        if len(str(base_dir)) > _MAX_BASE_DIR_LEN:
            self._own_base_dir = tempfile.mkdtemp(prefix="dv", dir=_short_tmp_root())
            base_dir = Path(self._own_base_dir) / "r"
        self.base_dir = base_dir
        self._proc: subprocess.Popen[bytes] | None = None
        self._prepared = False

    # ----------------------------------------------------------------- setup

    def _prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        # Auth runs as the unprivileged default_internal_user and must be able
        # to traverse root to read the passwd-file (mkdtemp makes it 0700).
        self.root.chmod(0o755)
        for d in (self.mail_dir, self.home_dir, self.root / "state"):
            d.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            mail = pwd.getpwnam(MAIL_USER)
            for d in (self.mail_dir, self.home_dir):
                os.chown(d, mail.pw_uid, mail.pw_gid)
        if self.tls and self.cafile and self.keyfile and not self.cafile.exists():
            make_self_signed_cert(self.cafile, self.keyfile, self.host)
        self.passwd_dir.mkdir(exist_ok=True)
        for user in self.users:
            self._write_passwd(user)
        self.conf_path.write_text(self._config())
        self._prepared = True

    def _write_passwd(self, user: str) -> None:
        if "/" in user or user.startswith(".") or user != user.lower():
            # The file name is the (lower-cased, see auth_username_format)
            # login name; keep it a plain file name.
            raise ValueError(f"unsupported test user name: {user!r}")
        path = self.passwd_dir / user
        tmp = path.with_name(f".{user}.tmp")
        tmp.write_text(f"{user}:{{PLAIN}}{self.users[user]}::::::\n")
        tmp.chmod(0o644)
        # Atomic replace: auth must never see a half-written file.
        tmp.replace(path)

    def _identity(self) -> dict[str, str]:
        if os.geteuid() == 0:
            # Dovecot refuses to run its internal/login processes, and to
            # access mail, as root. The Debian package creates these users;
            # mail is stored as "dovecot" (root can still read/delete it).
            mail = pwd.getpwnam(MAIL_USER)
            return {
                "default_internal_user": "dovecot",
                "default_internal_group": "dovecot",
                "default_login_user": "dovenull",
                "mail_uid": str(mail.pw_uid),
                "mail_gid": str(mail.pw_gid),
                "first_valid_uid": str(mail.pw_uid),
                "first_valid_gid": str(mail.pw_gid),
            }
        me = pwd.getpwuid(os.geteuid())
        return {
            "default_internal_user": me.pw_name,
            "default_internal_group": grp.getgrgid(me.pw_gid).gr_name,
            "default_login_user": me.pw_name,
            "mail_uid": str(me.pw_uid),
            "mail_gid": str(me.pw_gid),
            "first_valid_uid": str(me.pw_uid),
            "first_valid_gid": str(me.pw_gid),
        }

    def _config(self) -> str:
        ident = "\n".join(f"{k} = {v}" for k, v in self._identity().items())
        if self.tls:
            ssl_block = (
                f"ssl = yes\nssl_cert = <{self.cafile}\nssl_key = <{self.keyfile}\n"
                "ssl_min_protocol = TLSv1.2\n"
            )
            imaps = (
                f"  inet_listener imaps {{\n    address = {self.host}\n"
                f"    port = {self.imaps_port}\n    ssl = yes\n  }}\n"
            )
        else:
            ssl_block = "ssl = no\n"
            imaps = "  inet_listener imaps {\n    port = 0\n  }\n"
        # chroot() needs root; unprivileged runs must switch it off.
        chroot = "" if os.geteuid() == 0 else "  chroot =\n"
        return f"""\
# Generated by tests/servers/dovecot.py -- private test instance.
instance_name = dovecot-test-{uuid.uuid4().hex[:8]}
base_dir = {self.base_dir}
state_dir = {self.root / "state"}
protocols = imap lmtp
listen = {self.host}
log_path = {self.log_path}
info_log_path = {self.log_path}
debug_log_path = {self.log_path}
{ident}
# Without this every process blocks ~5 s at shutdown trying to reach stats.
stats_writer_socket_path =
{ssl_block}disable_plaintext_auth = no
auth_mechanisms = plain login
recipient_delimiter = {self.recipient_delimiter}
# Don't make a failed login cost the test suite 2 s.
auth_failure_delay = 0
mail_location = maildir:{self.mail_dir}/%u
mail_home = {self.home_dir}/%u
# tmpfs, throwaway data: fsync only costs time.
mail_fsync = never
mailbox_list_index = yes
namespace inbox {{
  inbox = yes
  separator = /
}}
# One passwd-file per user: Dovecot re-stats a passwd-file at most once per
# second, so a user appended to a shared file right after a lookup stays
# invisible for up to 1 s. A new user means a new, never-cached path.
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {self.passwd_dir}/%u
}}
userdb {{
  driver = passwd-file
  args = {self.passwd_dir}/%u
}}
service imap-login {{
{chroot}  inet_listener imap {{
    address = {self.host}
    port = {self.imap_port}
  }}
{imaps}}}
service lmtp {{
  inet_listener lmtp {{
    address = {self.host}
    port = {self.lmtp_port}
  }}
  unix_listener lmtp {{
    mode = 0
  }}
}}
# Auth penalty: after a failed login from an IP, anvil makes auth delay
# every later login from it by 2-15 s. Tests share 127.0.0.1 and do test
# wrong passwords, so remove the socket auth uses to reach it.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service submission-login {{
  inet_listener submission {{
    port = 0
  }}
}}
service imap-urlauth-login {{
  unix_listener imap-urlauth {{
    mode = 0
  }}
}}
"""

    # ------------------------------------------------------------- lifecycle

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 15.0) -> None:
        """Start Dovecot and wait until the IMAP port sends its greeting."""
        if self.running:
            return
        binary = find_dovecot()
        if binary is None:
            raise FileNotFoundError("dovecot binary not found (apt-get install dovecot-imapd)")
        if not self._prepared:
            self._prepare()
        with self.stderr_path.open("ab") as err:
            self._proc = subprocess.Popen(
                [binary, "-F", "-c", str(self.conf_path)],
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
                # Own process group so a hard kill also reaps the children.
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                rc = self._proc.returncode
                self._proc = None
                raise DovecotError(f"dovecot exited with {rc} during startup\n{self.log_tail()}")
            if self._greets():
                return
            if time.monotonic() > deadline:
                self._kill()
                raise DovecotError(
                    f"dovecot did not greet on {self.host}:{self.imap_port} within "
                    f"{timeout}s\n{self.log_tail()}"
                )
            time.sleep(0.02)

    def _greets(self) -> bool:
        try:
            with socket.create_connection((self.host, self.imap_port), timeout=1) as s:
                ok = s.recv(64).startswith(b"* OK")
                # A polite LOGOUT keeps "connection reset" noise out of the log.
                s.sendall(b"a LOGOUT\r\n")
                s.recv(256)
                return ok
        except OSError:
            return False

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful SIGTERM shutdown; SIGKILL the process group if it stalls.

        Two Dovecot 2.3 behaviours would make this take >1 s: the master
        only SIGQUITs (= "stop listening") session processes such as imap
        with an IDLEing client, and it sleeps a hard-coded 1 s after its
        children are gone so the log process can drain. So we SIGTERM the
        session processes too (they say "* BYE Server shutting down" like
        on a real shutdown), and once only master and log are left, nothing
        can touch mail or sockets any more, so we SIGKILL after a short
        grace period for the log instead of sitting out the sleep.
        """
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            # Give the master a head start so it is in shutdown mode (and
            # won't respawn or complain) before its children start dying.
            time.sleep(0.005)
            deadline = time.monotonic() + timeout
            while proc.poll() is None:
                workers = self._workers()
                if not workers:
                    time.sleep(0.05)  # let the log process write what it has
                    break
                if time.monotonic() > deadline:
                    break
                for pid, comm in workers:
                    if comm in _SELF_STOPPING:
                        continue
                    with suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGTERM)
                time.sleep(0.01)
        self._killpg(signal.SIGKILL)
        proc.wait(5)
        self._proc = None

    def _workers(self) -> list[tuple[int, str]]:
        """Live processes of our group other than the master and log."""
        assert self._proc is not None
        master = self._proc.pid
        found = []
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit() or int(entry.name) == master:
                continue
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            comm = stat[stat.find("(") + 1 : stat.rfind(")")]
            # Fields after the parenthesised comm: state, ppid, pgrp, ...
            fields = stat[stat.rfind(")") + 1 :].split()
            if int(fields[2]) == master and fields[0] != "Z" and comm != "log":
                found.append((int(entry.name), comm))
        return found

    def _kill(self) -> None:
        if self._proc is None:
            return
        self._killpg(signal.SIGKILL)
        self._proc.wait(5)
        self._proc = None

    def _killpg(self, sig: int) -> None:
        assert self._proc is not None
        # Only our own session (start_new_session=True) is targeted.
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, sig)

    def restart(self) -> None:
        self.stop()
        self.start()

    def cleanup(self) -> None:
        """Stop and remove the short base_dir if we had to create one."""
        self.stop()
        if self._own_base_dir:
            shutil.rmtree(self._own_base_dir, ignore_errors=True)
            self._own_base_dir = None

    def log_tail(self, lines: int = 40) -> str:
        parts = []
        for path in (self.stderr_path, self.log_path):
            if path.exists():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {path.name} ---\n" + "\n".join(text))
        return "\n".join(parts) or "(no dovecot log output)"

    # ------------------------------------------------------------------ users

    def add_user(self, user: str, password: str) -> None:
        """Add a user; usable immediately, no restart needed.

        Changing the password of a user Dovecot has already looked up can
        take up to 1 s to be noticed (passwd-file stat granularity).
        """
        self.users[user] = password
        if self._prepared:
            self._write_passwd(user)

    def new_user(self, prefix: str = "user", domain: str = "program.example") -> MailUser:
        """Create a uniquely named user with an empty mailbox."""
        address = f"{prefix}-{uuid.uuid4().hex[:10]}@{domain}"
        self.add_user(address, "secret")
        return MailUser(address, "secret", self)

    # ----------------------------------------------------------- mail access

    def ssl_context(self) -> ssl.SSLContext:
        """Client context that trusts only this server's self-signed cert."""
        if self.cafile is None:
            raise DovecotError("TLS is not enabled on this Dovecot instance")
        return ssl.create_default_context(cafile=str(self.cafile))

    def login(self, user: str, password: str | None = None) -> IMAPClient:
        """Logged-in IMAPClient on the plain port; caller must logout()."""
        client = IMAPClient(self.host, port=self.imap_port, ssl=False, timeout=10)
        client.login(user, password if password is not None else self.users[user])
        return client

    @contextmanager
    def session(self, user: str) -> Iterator[IMAPClient]:
        client = self.login(user)
        try:
            yield client
        finally:
            # Best effort: the server may already have dropped the connection.
            with suppress(Exception):
                client.logout()

    def append(
        self, user: str, folder: str, raw: bytes, flags: Iterable[str | bytes] = ()
    ) -> int | None:
        """APPEND ``raw`` to ``folder`` (created if missing); return the UID if known."""
        with self.session(user) as c:
            if not c.folder_exists(folder):
                c.create_folder(folder)
            resp = c.append(folder, raw, flags=tuple(flags))
        # Dovecot supports UIDPLUS: "[APPENDUID <validity> <uid>] ..."
        text = resp.decode() if isinstance(resp, bytes) else str(resp)
        if text.startswith("[APPENDUID "):
            return int(text.split()[2].rstrip("]"))
        return None

    def deliver_lmtp(self, user: str, raw: bytes, sender: str = "sender@example.org") -> None:
        """Deliver ``raw`` to ``user``'s INBOX through the LMTP listener."""
        # local_hostname: the default getfqdn() is a DNS lookup that can stall.
        with smtplib.LMTP(
            self.host, self.lmtp_port, local_hostname="localhost", timeout=10
        ) as lmtp:
            refused = lmtp.sendmail(sender, [user], raw)
        if refused:
            raise DovecotError(f"LMTP refused {user}: {refused}")

    def uids(self, user: str, folder: str = "INBOX") -> list[int]:
        with self.session(user) as c:
            c.select_folder(folder, readonly=True)
            return sorted(c.search("ALL"))

    def fetch_all(self, user: str, folder: str = "INBOX") -> dict[int, bytes]:
        """All messages of ``folder`` by UID, fetched without setting \\Seen."""
        with self.session(user) as c:
            c.select_folder(folder, readonly=True)
            uids = c.search("ALL")
            if not uids:
                return {}
            data = c.fetch(uids, ["BODY.PEEK[]"])
        return {uid: d[b"BODY[]"] for uid, d in sorted(data.items())}

    def folders(self, user: str) -> list[str]:
        with self.session(user) as c:
            return sorted(name for _flags, _delim, name in c.list_folders())
