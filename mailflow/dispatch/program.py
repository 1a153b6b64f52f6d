"""What dispatch needs to know about the program: addresses, secret, people, rules, templates."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time

from mailflow.engine.definition import Machine
from mailflow.outbox.render import Renderer


@dataclass(frozen=True)
class ProgramContext:
    program_address: str
    secret: bytes
    staff: tuple[str, ...] = ()
    name: str = "Sister Libraries Program"
    website: str = ""
    mentor: str = ""
    auto_approve_score: float | None = None
    work_start: time = time(9, 0)
    work_end: time = time(17, 0)
    default_timezone: str = "UTC"
    default_locale: str = "en"

    @property
    def domain(self) -> str:
        return self.program_address.rpartition("@")[2]

    @property
    def mentor_address(self) -> str | None:
        return self.mentor or (self.staff[0] if self.staff else None)

    def reply_address(self, token: str) -> str:
        local, _, domain = self.program_address.partition("@")
        return f"{local}+{token}@{domain}"


@dataclass
class Workflow:
    """The program, its machines and its templates: everything a decision is applied with."""

    program: ProgramContext
    machines: dict[str, Machine] = field(default_factory=dict)
    renderer: Renderer | None = None

    @property
    def trial_days(self) -> int:
        """How long a trial lasts, as the rules say (mail quotes it; the rules decide it)."""
        machine = self.machines.get("partnership")
        timer = machine.timer("trial", "trial-end") if machine else None
        return timer.after.days if timer else 90
