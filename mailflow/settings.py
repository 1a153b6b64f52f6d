"""Settings: one table of (name, default, help) -> a frozen Settings.

Sources, later wins: the defaults below, `mailflow.toml` (sections map to the part before the
dot), then `MAILFLOW_<SECTION>_<NAME>` environment variables. Secrets (passwords, the token
secret) come only from the environment or from a file named by a `*_file` setting, never from
the TOML itself, so a config file can be shared without leaking them.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import Any

from mailflow.errors import ConfigError


@dataclass(frozen=True)
class Setting:
    name: str  # "section.key"
    default: Any
    help: str
    secret: bool = False

    @property
    def env(self) -> str:
        return "MAILFLOW_" + self.name.replace(".", "_").upper()

    @property
    def attr(self) -> str:
        return self.name.replace(".", "_")


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "program.address",
        "sisters@program.example",
        "The program mailbox address. Mail to it, or to address+token sub-addresses, is accepted.",
    ),
    Setting(
        "program.name", "Sister Libraries Program", "The program's name, used in mail and pages."
    ),
    Setting("program.staff", [], "Staff addresses (list). Only these may send commands by mail."),
    Setting(
        "staff.trusted_authserv_ids",
        [],
        "Receiving hosts (authserv-ids) whose topmost Authentication-Results header is believed for"
        " staff commands (list); empty: only DKIM that mailflow verifies itself.",
    ),
    Setting(
        "staff.members",
        [],
        "Staff with roles (list of tables: name, address, role = coordinator or mentor,"
        " languages); in the environment: 'Name <address> role lang lang; ...'. Coordinators"
        " approve and get proposals, needs-a-person items and the digest; mentors look after"
        " the partnerships given to them. program.staff addresses are coordinators too.",
    ),
    Setting(
        "staff.token_days",
        180,
        "A reply token in mail to staff acts this many days after it was sent (then: reply to a newer mail).",
    ),
    Setting(
        "staff.confirm_days",
        2,
        "An unauthenticated staff command is confirmed by mail within this many days, or not at all.",
    ),
    Setting(
        "program.secret",
        "",
        "Secret that signs reply tokens. Environment only (MAILFLOW_PROGRAM_SECRET); else secret_file.",
        secret=True,
    ),
    Setting(
        "program.secret_file",
        "mailflow-secret",
        "File holding the token secret; created with a random secret on first start if missing.",
    ),
    Setting(
        "program.retired_secrets_file",
        "mailflow-secret.retired",
        "File of retired token secrets, one `YYYY-MM-DD <secret>` a line (the day it was retired;"
        " `mailflow secret rotate` writes it); missing: none.",
    ),
    Setting(
        "program.retired_secret_days",
        60,
        "A retired secret still verifies tokens and origin marks this many days after it retired.",
    ),
    Setting(
        "dkim.key_file",
        "",
        "PEM private key (mode 0600) that signs outgoing mail with DKIM; empty: mail is not signed.",
    ),
    Setting(
        "dkim.selector",
        "mailflow",
        "DKIM selector: the public key is published at SELECTOR._domainkey.DOMAIN.",
    ),
    Setting("dkim.domain", "", "DKIM signing domain (d=); empty: the program address's domain."),
    Setting(
        "privacy.raw_mail_days",
        0,
        "Raw mail and free text of records closed or withdrawn more than this many days ago are"
        " blanked by a daily job; 0: kept.",
    ),
    Setting(
        "privacy.retention_time",
        "03:30",
        "When the daily retention job runs (UTC), if privacy.raw_mail_days is set.",
    ),
    Setting(
        "database.url",
        "sqlite:///mailflow.sqlite3",
        "SQLAlchemy URL. SQLite (WAL) by default; postgresql+psycopg://... for PostgreSQL.",
    ),
    Setting("database.auto_migrate", True, "Apply Alembic migrations at start-up."),
    Setting("imap.host", "", "IMAP server host. Empty: no IMAP polling."),
    Setting("imap.port", 0, "IMAP port; 0 picks 143 (plain, starttls) or 993 (tls)."),
    Setting("imap.security", "starttls", "Connection security: none, starttls or tls (implicit)."),
    Setting(
        "imap.cafile", "", "CA bundle to verify the IMAP server's certificate; empty: system CAs."
    ),
    Setting("imap.user", "", "IMAP login."),
    Setting(
        "imap.password",
        "",
        "IMAP password. Environment only (MAILFLOW_IMAP_PASSWORD); else password_file.",
        secret=True,
    ),
    Setting("imap.password_file", "", "File holding the IMAP password."),
    Setting("imap.folder", "INBOX", "Folder to take mail from."),
    Setting("imap.processed_folder", "Processed", "Folder that stored mail is moved to."),
    Setting("imap.quarantine_folder", "Quarantine", "Folder for mail that could not be processed."),
    Setting(
        "imap.batch_size", 200, "Messages fetched per FETCH command and stored per transaction."
    ),
    Setting(
        "imap.batch_bytes",
        33554432,
        "Bytes fetched per FETCH (the messages' RFC822.SIZE added up; a larger one alone).",
    ),
    Setting("imap.idle", True, "Use IDLE when the server offers it; otherwise poll."),
    Setting(
        "imap.idle_renew_seconds",
        1680,
        "Re-issue IDLE after this many seconds (RFC 2177 asks < 29 min).",
    ),
    Setting("imap.poll_seconds", 60, "Polling interval when IDLE is off or not offered."),
    Setting("imap.timeout_seconds", 30, "Socket timeout for IMAP commands."),
    Setting("imap.backoff_max_seconds", 300, "Longest wait between reconnect attempts."),
    Setting("inbound.listen", "smtp", "Inbound mail endpoint: smtp, lmtp, or off."),
    Setting("inbound.host", "127.0.0.1", "Address the inbound endpoint listens on."),
    Setting("inbound.port", 8025, "Port the inbound endpoint listens on."),
    Setting("inbound.max_message_bytes", 33554432, "Larger messages are refused with 552."),
    Setting(
        "inbound.max_connections",
        100,
        "Open endpoint connections in all; more are answered 421 and closed at once (0: no cap).",
    ),
    Setting(
        "inbound.max_per_client",
        20,
        "Open endpoint connections from one client address; more get 421 (0: no cap).",
    ),
    Setting(
        "inbound.idle_timeout_seconds",
        60,
        "An endpoint connection that sends nothing for this long is closed.",
    ),
    Setting(
        "inbound.max_line_bytes",
        262144,
        "Longest line the endpoint reads in a message (RFC 5321 says 1,000; real mail has longer);"
        " a message with a longer line is refused with 500.",
    ),
    Setting("processing.batch_size", 50, "Stored messages parsed and committed per transaction."),
    Setting(
        "processing.batch_bytes",
        16777216,
        "Raw bytes claimed per batch (their sizes added up; a larger message is taken alone).",
    ),
    Setting(
        "processing.max_attempts",
        3,
        "Attempts at a message (past its parse budget, a crash, a dying parser) before it is"
        " quarantined.",
    ),
    Setting(
        "processing.parse_seconds",
        30.0,
        "Time budget for parsing one message in the parse worker process; past it the attempt"
        " fails.",
    ),
    Setting(
        "processing.lease_seconds",
        60.0,
        "A claimed message returns to the queue this long after its worker stopped renewing"
        " the claim (a crash).",
    ),
    Setting("processing.tick_seconds", 5, "How often the scheduler looks for unprocessed mail."),
    Setting(
        "workers.lease_seconds",
        30,
        "Outbox lease: a worker renews it every third while sending; a dead worker's claimed"
        " mail is sent by another once it runs out.",
    ),
    Setting(
        "workers.poller_retry_seconds",
        3,
        "How often a worker that does not poll IMAP tries to take over the mailbox's poller lock.",
    ),
    Setting("program.website", "", "The program's public web page, linked from mail."),
    Setting(
        "program.token_grace_days",
        30,
        "A reply token stops acting this many days after its record reaches a final state.",
    ),
    Setting(
        "program.contact_confirm_days",
        14,
        "A withdrawal, acceptance or decline without the library's token or an authenticated mail"
        " acts only if its contact confirms it by mail within this many days.",
    ),
    Setting(
        "program.mentor",
        "",
        "Who is in copy of introductions and gets escalations; empty: the first staff address.",
    ),
    Setting(
        "program.mentor_name",
        "",
        "The mentor's name, as the mails name the mentor (empty: the address is shown).",
    ),
    Setting(
        "program.auto_approve_score",
        "",
        "Proposals scoring at least this (0..1) skip staff approval; empty: a person always approves.",
    ),
    Setting(
        "rules.dir",
        "rules",
        "Operator rules folder (rules/*.yaml); the packaged rules if it does not exist.",
    ),
    Setting(
        "templates.dir",
        "templates",
        "Operator templates folder (templates/<locale>/...); falls back to the packaged templates.",
    ),
    Setting(
        "templates.default_locale",
        "en",
        "Language used when a library's language has no templates.",
    ),
    Setting(
        "outbound.transport",
        "maildir",
        "How mail leaves: smtp, or maildir (files to open, for trying out).",
    ),
    Setting("outbound.maildir", "outgoing", "Maildir folder for outbound.transport = maildir."),
    Setting("smtp.host", "localhost", "SMTP relay host for outgoing mail."),
    Setting("smtp.port", 0, "SMTP port; 0 picks 25 (none), 587 (starttls) or 465 (tls)."),
    Setting("smtp.security", "starttls", "none, starttls or tls (implicit)."),
    Setting("smtp.cafile", "", "CA bundle to verify the relay's certificate; empty: system CAs."),
    Setting("smtp.user", "", "SMTP login; empty: no AUTH."),
    Setting(
        "smtp.password",
        "",
        "SMTP password. Environment only (MAILFLOW_SMTP_PASSWORD); else password_file.",
        secret=True,
    ),
    Setting("smtp.password_file", "", "File holding the SMTP password."),
    Setting(
        "smtp.helo_name",
        "",
        "Name mailflow greets the relay with (EHLO/HELO); empty: the program address's domain.",
    ),
    Setting(
        "outbox.max_attempts",
        8,
        "Temporary failures are retried this many times, then staff are told.",
    ),
    Setting(
        "outbox.retry_base_seconds", 60, "First retry delay; doubles each time (capped at 6 hours)."
    ),
    Setting(
        "outbox.senders",
        4,
        "Mails a worker sends side by side (1 to 8), each over its own SMTP connection; a crash"
        " resends at most this many (the ones in flight).",
    ),
    Setting(
        "schedule.working_hours",
        "09:00-17:00",
        "Reminders to a library are sent in these local hours on weekdays.",
    ),
    Setting("schedule.default_timezone", "UTC", "Time zone of a library that did not give one."),
    Setting("schedule.digest_time", "08:00", "When the daily staff digest goes out (UTC)."),
    Setting(
        "schedule.max_away_days",
        60,
        "An out-of-office pauses a contact's reminders for at most this many days.",
    ),
    Setting(
        "matching.weekly",
        "mon 06:00",
        "When the matcher proposes pairs (day and UTC time); empty: never.",
    ),
    Setting("matching.min_score", "0.35", "Pairs scoring below this (0..1) are not proposed."),
    Setting(
        "matching.candidates",
        10,
        "How many best partners per library the matcher weighs against each other.",
    ),
    Setting("matching.weight_type", "1.0", "Weight of a similar library type."),
    Setting("matching.weight_size", "1.0", "Weight of a similar size (population served)."),
    Setting("matching.weight_interests", "2.0", "Weight of shared interests and activities."),
    Setting(
        "matching.weight_communication",
        "1.0",
        "Weight of matching communication channel and frequency.",
    ),
    Setting(
        "matching.weight_hours", "1.0", "Weight of overlapping working hours across time zones."
    ),
    Setting("matching.weight_waited", "1.0", "Weight of how long the libraries have waited."),
    Setting(
        "limits.mails_per_address_per_day",
        3,
        (
            "Automatic mails an address may get in 24 hours because of incoming mail; after that "
            "its own mail is read but not answered (an identical answer is never sent twice in "
            "24 hours either). Staff command answers, and mail of a turn that moved a record to "
            "another state, are exempt."
        ),
    ),
    Setting(
        "limits.hold_after_messages",
        10,
        "An address that sends more mails than this within limits.hold_window_minutes is held.",
    ),
    Setting(
        "limits.hold_window_minutes",
        10,
        "Window for limits.hold_after_messages; a held address's mail is read but not answered.",
    ),
    Setting(
        "limits.staff_notices_per_hour",
        5,
        "Needs-a-person mails to staff per hour; faster ones are only listed in the digest.",
    ),
    Setting(
        "mail.verp",
        True,
        (
            "VERP: the envelope sender of each mail is program+b<row>.<sig>@..., so a bounce is "
            "tied to the exact mail and recipients even when the report cannot be read. Only with "
            "mail.reply_token = subaddress (the mail system must deliver sub-addresses); false "
            "sends every mail from the plain program address."
        ),
    ),
    Setting(
        "mail.reply_token",
        "subaddress",
        (
            "Where replies carry their token: subaddress (Reply-To program+token@...; the mail "
            "system must deliver sub-addresses) or subject (Reply-To the plain address; our "
            "Message-ID and a [SL-p12] subject tag). `mailflow check-mail` tells which works."
        ),
    ),
    Setting(
        "report.dir",
        "",
        (
            "Folder that `mailflow run` keeps the report in: public/ (the list to publish) and "
            "staff/ (the dashboard, with contact details; never publish it); empty: none."
        ),
    ),
    Setting(
        "log.level",
        "INFO",
        (
            "Log level: DEBUG, INFO, WARNING, ERROR. INFO says one line per message processed "
            "and per mail sent; DEBUG adds addresses and the libraries' own chatter."
        ),
    ),
    Setting(
        "log.format",
        "text",
        "Log lines as text, or json: one JSON object per line (time, level, logger, message).",
    ),
    Setting(
        "web.listen",
        "off",
        (
            "host:port of the web listener of `mailflow run` (GET /healthz, GET /metrics in the "
            "Prometheus format), e.g. 127.0.0.1:8080; off: none. It has no login: keep it on "
            "loopback or a private network."
        ),
    ),
    Setting(
        "workers.heartbeat_seconds",
        5,
        (
            "How often each `mailflow run` writes its row in the workers table (mailflow "
            "status); a row not written for three heartbeats (and at least 30 seconds) is "
            "shown as stale."
        ),
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}

# Reply tokens are HMACs under the program secret; fewer bytes than this can be guessed offline.
MIN_SECRET_BYTES = 32


def setting_default(name: str) -> Any:
    return _BY_NAME[name].default


@dataclass(frozen=True)
class Settings:
    values: dict[str, Any]
    base_dir: Path
    source: Path | None = None

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def path(self, name: str) -> Path:
        """A file setting, relative to the config file's folder."""
        return (self.base_dir / str(self.values[name])).resolve()

    @property
    def program_address(self) -> str:
        return str(self.values["program.address"]).lower()

    @property
    def helo_name(self) -> str:
        """The EHLO name: set, or the program's own domain (a relay may reject `localhost`)."""
        name = str(self.values["smtp.helo_name"]).strip()
        return name or self.program_address.rpartition("@")[2] or "localhost"

    def web_listen(self) -> tuple[str, int] | None:
        """web.listen as (host, port); None when off. "[::1]:8080" for IPv6."""
        return _host_port(str(self.values["web.listen"]))

    @property
    def staff(self) -> tuple[str, ...]:
        return tuple(a.lower() for a in self.values["program.staff"])

    def staff_members(self) -> tuple[tuple[str, str, str, tuple[str, ...]], ...]:
        """`staff.members` as (address, role, name, languages), checked: a bad entry stops
        start-up with what is wrong."""
        members = []
        for entry in self.values["staff.members"]:
            if isinstance(entry, str):  # the environment's "Name <address> role lang ..."
                name, _, rest = entry.partition("<")
                address, _, words = rest.partition(">")
                role, *languages = words.split() or [""]
                entry = {"name": name.strip(), "address": address, "role": role,
                         "languages": languages}  # fmt: skip
            unknown = set(entry) - {"name", "address", "role", "languages"}
            address = str(entry.get("address", "")).strip().lower()
            role = str(entry.get("role", "")).strip().lower()
            if unknown or "@" not in address or role not in ("coordinator", "mentor"):
                raise ConfigError(
                    f"staff.members: {entry!r}: each entry needs an address and a role"
                    " (coordinator or mentor), and may have a name and languages"
                )
            languages = entry.get("languages", [])
            if isinstance(languages, str):
                languages = languages.replace(",", " ").split()
            members.append(
                (address, role, str(entry.get("name", "")).strip(),
                 tuple(str(code).strip().lower() for code in languages))
            )  # fmt: skip
        return tuple(members)

    def matching_weights(self):  # noqa: ANN201 - mailflow.matching.Weights
        from mailflow.matching import Weights

        try:
            names = {"library_type": "type", "size": "size", "interests": "interests",
                     "communication": "communication", "hours": "hours", "waited": "waited"}  # fmt: skip
            return Weights(
                **{
                    field: float(self.values[f"matching.weight_{key}"])
                    for field, key in names.items()
                }
            )
        except ValueError as exc:
            raise ConfigError(f"matching weights must be numbers: {exc}") from exc

    def smtp_password(self) -> str:
        return _secret(self, "smtp.password", "smtp.password_file", create=False)

    def imap_password(self) -> str:
        return _secret(self, "imap.password", "imap.password_file", create=False)

    def has_secret(self) -> bool:
        """Whether the token secret is at hand without creating a secret file."""
        if self.values["program.secret"]:
            return True
        return (
            bool(self.values["program.secret_file"]) and self.path("program.secret_file").exists()
        )

    def secret(self) -> bytes:
        """The token secret: at least MIN_SECRET_BYTES, from a file only its owner can read."""
        value = self.values["program.secret"]
        where = self.env_name("program.secret")
        if not value and self.values["program.secret_file"]:
            path = self.path("program.secret_file")
            where = f"{path} (program.secret_file)"
            if path.exists():
                _private(path, "program.secret_file")
        secret = _secret(self, "program.secret", "program.secret_file", create=True).encode()
        if len(secret) < MIN_SECRET_BYTES:
            raise ConfigError(
                f"{where}: program.secret is {len(secret)} bytes; it must be at least "
                f"{MIN_SECRET_BYTES} random bytes (e.g. python3 -c "
                f"'import secrets; print(secrets.token_urlsafe(32))')"
            )
        return secret

    def retired_secrets(self) -> tuple[tuple[bytes, datetime], ...]:
        """Retired token secrets with the moment each stops verifying (its grace period's end)."""
        if not self.values["program.retired_secrets_file"]:
            return ()
        path = self.path("program.retired_secrets_file")
        if not path.exists():
            return ()
        _private(path, "program.retired_secrets_file")
        grace = timedelta(days=int(self.values["program.retired_secret_days"]))
        found = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            day, _, key = line.partition(" ")
            try:
                retired = datetime.combine(date.fromisoformat(day), dt_time(0), tzinfo=UTC)
            except ValueError as exc:
                raise ConfigError(
                    f"{path}:{n}: program.retired_secrets_file lines are `YYYY-MM-DD <secret>`"
                ) from exc
            if len(key.strip().encode()) < MIN_SECRET_BYTES:
                raise ConfigError(
                    f"{path}:{n}: a retired secret must be at least {MIN_SECRET_BYTES} bytes"
                )
            found.append((key.strip().encode(), retired + grace))
        return tuple(found)

    def verify_keys(self, now: datetime) -> tuple[bytes, ...]:
        """Every key a token may verify with at `now`: the secret, then retired ones in grace."""
        retired = (key for key, until in self.retired_secrets() if now < until)
        return (self.secret(), *retired)

    @staticmethod
    def env_name(name: str) -> str:
        return _BY_NAME[name].env


def _private(path: Path, name: str) -> None:
    """Refuse a key file its group or others can open: whoever reads it can act as anyone."""
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ConfigError(
            f"{path}: {name} is open to group or others (mode {mode:04o}); run chmod 600 {path}"
        )


def _coerce(setting: Setting, value: Any, where: str) -> Any:
    default = setting.default
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                low = value.strip().lower()
                if low in ("1", "true", "yes", "on"):
                    return True
                if low in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, int):
            return int(value)
        if isinstance(default, list):
            if isinstance(value, list) and all(isinstance(v, dict) for v in value):
                return [dict(v) for v in value]  # tables (staff.members), checked where read
            if isinstance(value, str) and setting.name == "staff.members":
                return [v.strip() for v in value.split(";") if v.strip()]
            if isinstance(value, str):
                return [v.strip() for v in value.split(",") if v.strip()]
            return [str(v) for v in value]
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {setting.name} = {value!r} is not a valid value") from exc


def load(config: Path | None = None, env: dict[str, str] | None = None) -> Settings:
    """Read defaults, then the TOML file (if any), then the environment."""
    env = dict(os.environ if env is None else env)
    values = {s.name: s.default for s in SETTINGS}
    base_dir = Path.cwd()
    if config is None and env.get("MAILFLOW_CONFIG"):
        config = Path(env["MAILFLOW_CONFIG"])
    if config is not None:
        if not config.exists():
            raise ConfigError(f"{config}: no such config file")
        base_dir = config.resolve().parent
        try:
            data = tomllib.loads(config.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{config}: {exc}") from exc
        for section, table in data.items():
            if not isinstance(table, dict):
                raise ConfigError(
                    f"{config}: [{section}] must be a table, got {section} = {table!r}"
                )
            for key, value in table.items():
                name = f"{section}.{key}"
                setting = _BY_NAME.get(name)
                if setting is None:
                    raise ConfigError(f"{config}: unknown setting {name}")
                if setting.secret:
                    raise ConfigError(
                        f"{config}: {name} is a secret; set {setting.env} or {name}_file instead"
                    )
                values[name] = _coerce(setting, value, str(config))
    for setting in SETTINGS:
        if setting.env in env:
            values[setting.name] = _coerce(setting, env[setting.env], setting.env)
    if values["imap.security"] not in ("none", "starttls", "tls"):
        raise ConfigError(
            f"imap.security must be none, starttls or tls, not {values['imap.security']!r}"
        )
    if values["smtp.security"] not in ("none", "starttls", "tls"):
        raise ConfigError(
            f"smtp.security must be none, starttls or tls, not {values['smtp.security']!r}"
        )
    if values["outbound.transport"] not in ("smtp", "maildir"):
        raise ConfigError(
            f"outbound.transport must be smtp or maildir, not {values['outbound.transport']!r}"
        )
    if values["mail.reply_token"] not in ("subaddress", "subject"):
        raise ConfigError(
            f"mail.reply_token must be subaddress or subject, not {values['mail.reply_token']!r}"
        )
    if values["inbound.listen"] not in ("smtp", "lmtp", "off"):
        raise ConfigError(
            f"inbound.listen must be smtp, lmtp or off, not {values['inbound.listen']!r}"
        )
    if values["log.format"] not in ("text", "json"):
        raise ConfigError(f"log.format must be text or json, not {values['log.format']!r}")
    # Each sender holds a database connection while it sends: 8 leave the rest of the pool
    # (SQLAlchemy's 5 + 10 overflow) to the processor, the poller and the endpoint.
    if not 1 <= int(values["outbox.senders"]) <= 8:
        raise ConfigError(f"outbox.senders must be 1 to 8, not {values['outbox.senders']!r}")
    _host_port(str(values["web.listen"]))
    return Settings(values=values, base_dir=base_dir, source=config)


def _host_port(value: str) -> tuple[str, int] | None:
    value = value.strip()
    if value in ("", "off"):
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"web.listen must be off or host:port (127.0.0.1:8080), not {value!r}")
    return host.strip("[]"), int(port)


def _secret(settings: Settings, name: str, file_name: str, *, create: bool) -> str:
    value = settings.values.get(name) or ""
    if value:
        return str(value)
    file_setting = settings.values.get(file_name) or ""
    if not file_setting:
        return ""
    path = settings.path(file_name)
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    if not create:
        raise ConfigError(f"{path}: {file_name} names a file that does not exist")
    # First start of the embedded default: make a secret so tokens are signed from day one.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_urlsafe(32) + "\n")
    return path.read_text(encoding="utf-8").strip()


def rotate_secret(settings: Settings, today: date) -> Path:
    """Retire the current token secret (kept in the retired file, dated today) and make a new one.

    The retired file is written first: should this stop half-way, the old key is both current and
    retired, and no token stops verifying. Retired keys past their grace are dropped. Returns the
    new secret's file. A running `mailflow run` signs with the new key after a restart.
    """
    if settings.values["program.secret"] or not settings.values["program.secret_file"]:
        raise ConfigError(
            "program.secret comes from MAILFLOW_PROGRAM_SECRET: add a line "
            f"`{today.isoformat()} <old secret>` to program.retired_secrets_file and set the new "
            "secret in the environment yourself"
        )
    if not settings.values["program.retired_secrets_file"]:
        raise ConfigError("program.retired_secrets_file is empty: nowhere to keep the old secret")
    old = settings.secret().decode()
    now = datetime.combine(today, dt_time(0), tzinfo=UTC)
    retired = settings.path("program.retired_secrets_file")
    keep = [
        line
        for line in (retired.read_text(encoding="utf-8").splitlines() if retired.exists() else [])
        if line.strip().startswith("#") or _still_verifies(line, settings, now)
    ]
    _write_private(retired, "\n".join([*keep, f"{today.isoformat()} {old}"]) + "\n")
    current = settings.path("program.secret_file")
    _write_private(current, secrets.token_urlsafe(32) + "\n")
    return current


def _still_verifies(line: str, settings: Settings, now: datetime) -> bool:
    day = line.strip().partition(" ")[0]
    try:
        retired = datetime.combine(date.fromisoformat(day), dt_time(0), tzinfo=UTC)
    except ValueError:
        return bool(line.strip())  # not ours to judge: kept, and start-up names the line
    return now < retired + timedelta(days=int(settings.values["program.retired_secret_days"]))


def _write_private(path: Path, text: str) -> None:
    """Replace `path` with `text` in one step, readable by its owner only."""
    tmp = path.with_name(path.name + ".new")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def render_toml() -> str:
    """A commented mailflow.toml with every setting at its default (for `mailflow init`)."""
    lines = [
        "# mailflow configuration. Every setting, its default and what it does.",
        "# Environment variables MAILFLOW_<SECTION>_<KEY> override this file.",
        "",
    ]
    sections: dict[str, list[Setting]] = {}
    for s in SETTINGS:
        sections.setdefault(s.name.split(".", 1)[0], []).append(s)
    for sec, members in sections.items():
        lines += ["", f"[{sec}]"]
        for s in members:
            lines.extend(_toml_entry(s))
    return "\n".join(lines) + "\n"


def _toml_entry(s: Setting) -> list[str]:
    key = s.name.split(".", 1)[1]
    lines = [f"# {s.help}"]
    if s.secret:
        return [*lines, f"# ({key}: set {s.env} in the environment)"]
    return [*lines, f"{key} = {_toml_value(s.default)}"]


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
