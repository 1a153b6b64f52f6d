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
    Setting("processing.batch_size", 200, "Stored messages parsed and committed per transaction."),
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
    Setting("program.website", "", "The program's public web page, linked from mail."),
    Setting(
        "program.token_grace_days",
        30,
        "A reply token stops acting this many days after its record reaches a final state.",
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

    @property
    def staff(self) -> tuple[str, ...]:
        return tuple(a.lower() for a in self.values["program.staff"])

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
                mode = path.stat().st_mode & 0o777
                # The secret mints every reply token: anyone who reads it can act as anyone.
                if mode & 0o077:
                    raise ConfigError(
                        f"{path}: program.secret_file is open to group or others (mode {mode:04o}); "
                        f"run chmod 600 {path}"
                    )
        secret = _secret(self, "program.secret", "program.secret_file", create=True).encode()
        if len(secret) < MIN_SECRET_BYTES:
            raise ConfigError(
                f"{where}: program.secret is {len(secret)} bytes; it must be at least "
                f"{MIN_SECRET_BYTES} random bytes (e.g. python3 -c "
                f"'import secrets; print(secrets.token_urlsafe(32))')"
            )
        return secret

    @staticmethod
    def env_name(name: str) -> str:
        return _BY_NAME[name].env


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
    if values["inbound.listen"] not in ("smtp", "lmtp", "off"):
        raise ConfigError(
            f"inbound.listen must be smtp, lmtp or off, not {values['inbound.listen']!r}"
        )
    return Settings(values=values, base_dir=base_dir, source=config)


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
