"""What dispatch acts on, and why: a record (a library or a partnership) and the cause."""

from __future__ import annotations

from dataclasses import dataclass

from mailflow.store.schema import Library, Partnership

Record = Library | Partnership


@dataclass(frozen=True)
class Cause:
    kind: str  # message | timer | staff | cli | engine
    inbox_id: int | None = None
    timer_id: int | None = None
    message_id: str | None = None  # the incoming Message-ID, to thread our answer to it


def machine_of(record: Record) -> str:
    return "library" if isinstance(record, Library) else "partnership"
