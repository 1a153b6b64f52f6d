"""Events: small frozen values with a kebab-case name and the time they were created."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Event:
    name: str  # e.g. "application", "accept", "offer-reminder", "staff-approve"
    created: datetime
    cause: str = "message"  # message | timer | staff | cli | engine
    side: int | None = None  # the library that acted (partnership events)
    sender: str | None = None  # the address that sent the message
    text: str = ""  # the new text of a reply, a staff note
    fields: dict[str, str] = field(default_factory=dict)  # form or MOU fields
    agreed: bool = False  # an MOU reply that says "I agree" / "同意"
    sequence: int = 1  # a repeating timer's firing number
    # The mail proves its sender reads the contact's mailbox: it carries the library's own reply
    # token, answers a mail we sent there, or is authenticated for the From address.
    proven: bool = False
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordView:
    """What guards may look at: a read-only view of one record and its surroundings."""

    machine: str
    id: int | None
    state: str
    data: dict[str, Any]
    context: dict[str, Any] = field(default_factory=dict)
