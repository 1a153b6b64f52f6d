"""What dispatch needs to know about the program: addresses, secret, people, rules, templates."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time

from mailflow.engine.definition import Command, Machine, Rules
from mailflow.outbox.render import Renderer


@dataclass(frozen=True)
class Limits:
    """How much automatic mail one correspondent may cause (settings `limits.*`)."""

    mails_per_address_per_day: int = 3  # answers to an address's own mail, per 24 hours
    hold_after_messages: int = 10  # more mails than this from one address in the window: held
    hold_window_minutes: int = 10
    staff_notices_per_hour: int = 5  # faster needs-a-person notices go into the digest only


@dataclass(frozen=True)
class ProgramContext:
    program_address: str
    secret: bytes  # the current key: it signs
    staff: tuple[str, ...] = ()
    # Retired keys and when each stops verifying (settings `program.retired_secrets_file`).
    retired_secrets: tuple[tuple[bytes, datetime], ...] = ()
    name: str = "Sister Libraries Program"
    website: str = ""
    mentor: str = ""
    mentor_name: str = ""
    auto_approve_score: float | None = None
    work_start: time = time(9, 0)
    work_end: time = time(17, 0)
    default_timezone: str = "UTC"
    default_locale: str = "en"
    # Staff authentication (parse/authn.py): the hosts whose Authentication-Results count, the
    # DNS lookup DKIM verification uses (None: no DKIM check), and how long a confirmation lasts.
    trusted_authserv_ids: tuple[str, ...] = ()
    dnsfunc: Callable[..., bytes | str | None] | None = None
    confirm_days: int = 2
    max_away_days: int = 60  # an out-of-office pauses reminders for at most this long
    token_grace_days: int = 30  # a token of a record in a final state acts this long after
    # Where the reply token travels: the reply address (`subaddress`) or, for mailboxes without
    # sub-addressing, our Message-ID plus a subject tag (`subject`) (settings mail.reply_token).
    reply_token: str = "subaddress"
    limits: Limits = field(default_factory=lambda: Limits())

    @property
    def domain(self) -> str:
        return self.program_address.rpartition("@")[2]

    @property
    def mentor_address(self) -> str | None:
        return self.mentor or (self.staff[0] if self.staff else None)

    def verify_keys(self, now: datetime) -> tuple[bytes, ...]:
        """The keys a token or origin mark may verify with at `now`: current, then retired ones."""
        return (self.secret, *(key for key, until in self.retired_secrets if now < until))

    def reply_address(self, token: str) -> str:
        local, _, domain = self.program_address.partition("@")
        return f"{local}+{token}@{domain}"

    def configured_address(self, address: str) -> str | None:
        """The staff or mentor address as the settings write it, for a sender that is one."""
        wanted = address.strip().lower()
        for configured in (*self.staff, *filter(None, [self.mentor])):
            if wanted and configured.lower() == wanted:
                return configured
        return None

    def is_staff(self, address: str) -> bool:
        return bool(address) and address.lower() in {s.lower() for s in self.staff}


@dataclass
class Workflow:
    """The program, its rules and its templates: everything a decision is applied with."""

    program: ProgramContext
    rules: Rules = field(default_factory=lambda: Rules({}))
    renderer: Renderer | None = None

    @property
    def machines(self) -> dict[str, Machine]:
        return self.rules.machines

    @property
    def commands(self) -> dict[str, Command]:
        return self.rules.commands

    @property
    def trial_days(self) -> int:
        """How long a trial lasts, as the rules say (mail quotes it; the rules decide it)."""
        machine = self.machines.get("partnership")
        return machine.days("trial", "trial-end", 90) if machine else 90

    def states(self, machine: str, tag: str) -> tuple[str, ...]:
        """The states of `machine` that carry `tag` (the code asks for tags, not names)."""
        found = self.machines.get(machine)
        return found.tagged(tag) if found else ()
