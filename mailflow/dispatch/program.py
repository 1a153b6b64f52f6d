"""What dispatch needs to know about the program: addresses, secret, people, rules, templates."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time

from mailflow.engine.definition import Command, Machine, Rules
from mailflow.outbox.render import Renderer
from mailflow.outbox.spec import Composer


@dataclass(frozen=True)
class Limits:
    """How much automatic mail one correspondent may cause (settings `limits.*`)."""

    mails_per_address_per_day: int = 3  # answers to an address's own mail, per 24 hours
    hold_after_messages: int = 10  # more mails than this from one address in the window: held
    hold_window_minutes: int = 10
    staff_notices_per_hour: int = 5  # faster needs-a-person notices go into the digest only


COORDINATOR, MENTOR = "coordinator", "mentor"


@dataclass(frozen=True)
class StaffMember:
    """One person on staff (settings `staff.members`, or the simple `program.staff` list)."""

    address: str
    role: str = COORDINATOR  # coordinator or mentor
    name: str = ""
    languages: tuple[str, ...] = ()  # empty: any language

    @property
    def shown(self) -> str:
        return self.name or self.address


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
    contact_confirm_days: int = 14  # a library's contact confirms a withdrawal etc. in this time
    max_away_days: int = 60  # an out-of-office pauses reminders for at most this long
    token_grace_days: int = 30  # a token of a record in a final state acts this long after
    # Where the reply token travels: the reply address (`subaddress`) or, for mailboxes without
    # sub-addressing, our Message-ID plus a subject tag (`subject`) (settings mail.reply_token).
    reply_token: str = "subaddress"
    verp: bool = True  # envelope sender program+b<row>.<sig>@... (settings mail.verp)
    limits: Limits = field(default_factory=lambda: Limits())
    # Staff with roles; empty: `staff` are the coordinators and `mentor` (if set) the mentor.
    members: tuple[StaffMember, ...] = ()
    staff_token_days: int = 180  # a staff reply token acts this many days after it was sent

    @property
    def domain(self) -> str:
        return self.program_address.rpartition("@")[2]

    @property
    def mentor_address(self) -> str | None:
        """The default mentor (old simple form): `program.mentor`, else the first coordinator."""
        if self.mentor:
            return self.mentor
        first = self.mentors[0] if self.mentors else None
        return first.address if first else None

    def verify_keys(self, now: datetime) -> tuple[bytes, ...]:
        """The keys a token or origin mark may verify with at `now`: current, then retired ones."""
        return (self.secret, *(key for key, until in self.retired_secrets if now < until))

    def reply_address(self, token: str) -> str:
        local, _, domain = self.program_address.partition("@")
        return f"{local}+{token}@{domain}"

    def configured_address(self, address: str) -> str | None:
        """The staff or mentor address as the settings write it, for a sender that is one."""
        member = self.member(address)
        return member.address if member is not None else None

    @property
    def team(self) -> tuple[StaffMember, ...]:
        """Everyone on staff: the members, then the old simple form (`program.staff` are
        coordinators, `program.mentor` a mentor), each address once."""
        team = list(self.members)
        simple = [StaffMember(a, COORDINATOR) for a in self.staff]
        if self.mentor:
            simple.append(StaffMember(self.mentor, MENTOR, self.mentor_name))
        for extra in simple:
            if extra.address.lower() not in {m.address.lower() for m in team}:
                team.append(extra)
        return tuple(team)

    def member(self, address: str) -> StaffMember | None:
        wanted = address.strip().lower()
        return next((m for m in self.team if wanted and m.address.lower() == wanted), None)

    @property
    def coordinators(self) -> tuple[StaffMember, ...]:
        return tuple(m for m in self.team if m.role == COORDINATOR)

    @property
    def mentors(self) -> tuple[StaffMember, ...]:
        """Who may be a partnership's mentor: the mentors, else (none set) the coordinators."""
        return tuple(m for m in self.team if m.role == MENTOR) or self.coordinators

    def is_staff(self, address: str) -> bool:
        return self.member(address) is not None


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
    def composer(self) -> Composer:
        """Renders a queued mail's spec into the bytes the program sends (outbox/spec.py)."""
        assert self.renderer is not None, "a workflow that sends mail has templates"
        program = self.program
        return Composer(
            self.renderer, f"{program.name} <{program.program_address}>", program.domain,
            program.secret,
        )  # fmt: skip

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
