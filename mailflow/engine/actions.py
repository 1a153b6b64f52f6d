"""Actions named in the rules, and the effects (plain values) they turn into.

The engine never performs an effect; dispatch does, inside the transaction that records the
decision. That keeps `decide` pure and every effect visible in tests and in history.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mailflow.engine.events import Event, RecordView

# Who a `send` goes to. each: every library separately, in its own language; both: one mail to
# both (both languages when they differ); other: the library that did not act; unanswered: the
# libraries that have not answered the offer yet; sender/library: the acting library.
# accepted: the libraries that said yes to the offer (told when it lapses); unsigned: no complete
# MOU yet; undecided: no yes to renewing yet.
RECIPIENTS = (
    "sender", "library", "each", "both", "other", "unanswered", "accepted", "unsigned", "undecided",
)  # fmt: skip
RECORD_KINDS = ("accept", "decline", "mou", "activity", "note", "keep-listed", "renew")
REVIEW_FROM = ("mou", "now", "previous")


@dataclass(frozen=True)
class SendMail:
    template: str
    to: str
    cc_mentor: bool = False


@dataclass(frozen=True)
class NotifyStaff:
    template: str
    reason: str


@dataclass(frozen=True)
class ScheduleTimer:
    name: str
    after: timedelta
    working_hours: bool = True
    sequence: int = 1
    due_at: datetime | None = None  # set for a timer anchored to a date (decide resolves it)


@dataclass(frozen=True)
class CancelTimers:
    state: str | None = None  # all timers that belong to this state
    name: str | None = None  # or just this timer


@dataclass(frozen=True)
class SetField:
    key: str
    value: Any  # "now" and "+<duration>" become datetimes in decide (it has the clock's now)
    increment: bool = False


@dataclass(frozen=True)
class Record:
    kind: str  # accept | decline | mou | activity | note | keep-listed


@dataclass(frozen=True)
class BlockPair:
    pass


@dataclass(frozen=True)
class Emit:
    event: str  # to the related records of the other machine
    to: str = "related"  # related: all of them; sender: only the library that acted


@dataclass(frozen=True)
class ReviewDate:
    """Set review_at: from the MOU's own review date or duration, else `default` from a base."""

    source: str  # mou | now | previous
    default: timedelta


Effect = (
    SendMail
    | NotifyStaff
    | ScheduleTimer
    | CancelTimers
    | SetField
    | Record
    | BlockPair
    | Emit
    | ReviewDate
)


def parse_duration(text: str) -> timedelta:
    """'7d', '12h', '30m', '2w' -> timedelta. ValueError for anything else."""
    text = str(text).strip()
    units = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes"}
    if len(text) < 2 or text[-1] not in units or not text[:-1].isdigit():
        raise ValueError(f"{text!r} is not a duration like 7d, 12h, 30m or 2w")
    return timedelta(**{units[text[-1]]: int(text[:-1])})


@dataclass(frozen=True)
class ActionSpec:
    description: str
    check: Callable[[Any], dict[str, Any]]  # validates the YAML argument, returns normalised args
    build: Callable[[dict[str, Any], RecordView, Event], list[Effect]]
    templates: Callable[[dict[str, Any]], list[str]] = lambda args: []


def _need(
    args: Any, keys: AbstractSet[str], optional: AbstractSet[str] = frozenset()
) -> dict[str, Any]:
    if not isinstance(args, dict):
        raise ValueError(f"expects a mapping with {sorted(keys)}")
    unknown = set(args) - keys - optional
    if unknown:
        raise ValueError(f"unknown argument(s) {sorted(unknown)}")
    absent = keys - set(args)
    if absent:
        raise ValueError(f"missing argument(s) {sorted(absent)}")
    return dict(args)


def _check_send(args: Any) -> dict[str, Any]:
    args = _need(args, {"template", "to"}, {"cc"})
    if args["to"] not in RECIPIENTS:
        raise ValueError(f"to: {args['to']!r} is not one of {', '.join(RECIPIENTS)}")
    if args.get("cc") not in (None, "mentor"):
        raise ValueError("cc: only 'mentor' is supported")
    return args


def _check_string(args: Any) -> dict[str, Any]:
    if not isinstance(args, str) or not args:
        raise ValueError("expects a name")
    return {"value": args}


def _check_notify(args: Any) -> dict[str, Any]:
    return _need(args, {"template", "reason"})


def _check_set(args: Any) -> dict[str, Any]:
    if not isinstance(args, dict) or not args:
        raise ValueError("expects a mapping of field: value")
    for value in args.values():
        if isinstance(value, str) and value.startswith("+"):
            parse_duration(value[1:])
    return {"fields": dict(args)}


def _check_record(args: Any) -> dict[str, Any]:
    if args not in RECORD_KINDS:
        raise ValueError(f"{args!r} is not one of {', '.join(RECORD_KINDS)}")
    return {"kind": args}


def _check_emit(args: Any) -> dict[str, Any]:
    if isinstance(args, str) and args:
        return {"event": args, "to": "related"}
    args = _need(args, {"event"}, {"to"})
    if args.get("to", "related") not in ("related", "sender"):
        raise ValueError("to: related (every related record) or sender (the library that acted)")
    return {"event": args["event"], "to": args.get("to", "related")}


def _check_review(args: Any) -> dict[str, Any]:
    args = _need(args, {"from"}, {"default"})
    if args["from"] not in REVIEW_FROM:
        raise ValueError(f"from: one of {', '.join(REVIEW_FROM)}")
    return {"from": args["from"], "default": parse_duration(args.get("default", "365d"))}


def _check_schedule(args: Any) -> dict[str, Any]:
    args = _need(args, {"timer", "after"})
    args["after"] = parse_duration(args["after"])
    return args


def _check_none(args: Any) -> dict[str, Any]:
    if args not in (None, {}, True):
        raise ValueError("takes no argument")
    return {}


ACTIONS: dict[str, ActionSpec] = {
    "send": ActionSpec(
        "send a templated mail to libraries of this record",
        _check_send,
        lambda a, r, e: [SendMail(a["template"], a["to"], a.get("cc") == "mentor")],
        lambda a: [a["template"]],
    ),
    "notify-staff": ActionSpec(
        "send a templated mail to the mentor or staff",
        _check_notify,
        lambda a, r, e: [NotifyStaff(a["template"], a["reason"])],
        lambda a: [a["template"]],
    ),
    "set": ActionSpec(
        "set fields on the record ('now', '+90d' are times)",
        _check_set,
        lambda a, r, e: [SetField(k, v) for k, v in a["fields"].items()],
    ),
    "increment": ActionSpec(
        "add one to a counter on the record",
        _check_string,
        lambda a, r, e: [SetField(a["value"], 1, increment=True)],
    ),
    "record": ActionSpec(
        "keep what the message said (an answer, an MOU, an activity, a note)",
        _check_record,
        lambda a, r, e: [Record(a["kind"])],
    ),
    "block-pair": ActionSpec(
        "never propose these two libraries to each other again",
        _check_none,
        lambda a, r, e: [BlockPair()],
    ),
    "emit": ActionSpec(
        "send an event to the related records of the other machine (to: sender for one)",
        _check_emit,
        lambda a, r, e: [Emit(a["event"], a["to"])],
    ),
    "review-date": ActionSpec(
        "set the review date: the MOU's own date, else its duration (or the default) from its"
        " start date, else the default after now or the previous review date",
        _check_review,
        lambda a, r, e: [ReviewDate(a["from"], a["default"])],
    ),
    "schedule": ActionSpec(
        "start a one-off timer in the current state",
        _check_schedule,
        lambda a, r, e: [ScheduleTimer(a["timer"], a["after"])],
    ),
    "cancel": ActionSpec(
        "cancel a pending timer",
        _check_string,
        lambda a, r, e: [CancelTimers(name=a["value"])],
    ),
    "remember-state": ActionSpec(
        "remember the current state so `resume` can return to it",
        _check_none,
        lambda a, r, e: [SetField("resume_state", r.state)],
    ),
}
