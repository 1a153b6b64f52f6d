"""Apply one event to one record: decide (pure), then write state, history, mail and timers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from mailflow.dispatch import mail
from mailflow.dispatch.program import Workflow
from mailflow.engine import actions as fx
from mailflow.engine.events import Event, RecordView
from mailflow.engine.machine import Decision, decide
from mailflow.log import ENGINE
from mailflow.outbox.render import blank_form, field_label
from mailflow.parse.forms import MOU_FIELDS, REQUIRED_MOU_FIELDS, missing
from mailflow.store.schema import (
    Activity,
    DeclinedPair,
    History,
    Library,
    Partnership,
    Timer,
)

LIVE = ("trial", "mou_sent", "active", "renewal")
Record = Library | Partnership


@dataclass(frozen=True)
class Cause:
    kind: str  # message | timer | staff | cli | engine
    inbox_id: int | None = None
    timer_id: int | None = None
    message_id: str | None = None  # the incoming Message-ID, to thread our answer to it


def machine_of(record: Record) -> str:
    return "library" if isinstance(record, Library) else "partnership"


def _sides(p: Partnership) -> tuple[Library, Library]:
    return p.library_a, p.library_b


def view(session: Session, wf: Workflow, record: Record, event: Event) -> RecordView:
    data = dict(record.data or {})
    if isinstance(record, Library):
        live = session.scalar(
            select(func.count())
            .select_from(Partnership)
            .where(
                (Partnership.library_a_id == record.id) | (Partnership.library_b_id == record.id),
                Partnership.state.in_(LIVE),
            )
        )
        return RecordView(
            "library",
            record.id,
            record.state,
            data,
            {"missing": record.missing, "live_partnerships": live},
        )
    context: dict[str, Any] = {
        "a": record.library_a_id,
        "b": record.library_b_id,
        "informal": record.informal,
        "score": record.score,
        "auto_approve_threshold": wf.program.auto_approve_score,
    }
    if event.side is not None:
        merged = {**data.get("mou", {}).get(str(event.side), {}), **_mou_fields(event.fields)}
        context["mou_missing"] = missing(merged, REQUIRED_MOU_FIELDS)
    return RecordView("partnership", record.id, record.state, data, context)


def _mou_fields(fields: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in fields.items() if k in MOU_FIELDS and v}


def apply_event(
    session: Session, wf: Workflow, record: Record, event: Event, cause: Cause, now: datetime
) -> Decision:
    """Decide and apply; emitted events to related records are applied in the same transaction."""
    queue: list[tuple[Record, Event]] = [(record, event)]
    first: Decision | None = None
    while queue:
        target, ev = queue.pop(0)
        decision = _apply_one(session, wf, target, ev, cause, now, queue)
        first = first or decision
    assert first is not None
    return first


def _apply_one(
    session: Session,
    wf: Workflow,
    record: Record,
    event: Event,
    cause: Cause,
    now: datetime,
    queue: list[tuple[Record, Event]],
) -> Decision:
    machine = wf.machines[machine_of(record)]
    decision = decide(machine, view(session, wf, record, event), event, now)
    rtype = machine.name
    if not decision.matched:
        _history(
            session,
            rtype,
            record,
            decision,
            event,
            cause,
            now,
            f"{event.name}: no rule applies; nothing done",
        )
        ENGINE.info("%s #%s in %s: no rule for %s", rtype, record.id, record.state, event.name)
        return decision
    emitted: list[str] = []
    for effect in decision.effects:
        if isinstance(effect, fx.Emit):
            emitted.append(effect.event)
        else:
            _effect(session, wf, record, event, cause, now, decision, effect)
    if decision.changed:
        record.state = decision.new_state
        if isinstance(record, Partnership):
            stamp = {"offered": "offered_at", "trial": "trial_at", "active": "active_at"}.get(
                record.state
            )
            if stamp and getattr(record, stamp) is None:
                setattr(record, stamp, now)
    record.updated_at = now
    note = decision.transition.line and _note(machine, decision)
    _history(session, rtype, record, decision, event, cause, now, note)
    ENGINE.info(
        "%s #%s: %s -> %s on %s",
        rtype,
        record.id,
        decision.old_state,
        decision.new_state,
        event.name,
    )
    session.flush()
    for name in emitted:
        for related in _related(session, record):
            queue.append(
                (
                    related,
                    Event(
                        name,
                        now,
                        cause="engine",
                        side=record.id if isinstance(record, Library) else None,
                    ),
                )
            )
    return decision


def _note(machine: Any, decision: Decision) -> str:
    t = decision.transition
    held = [
        g["guard"]
        for step in decision.trace
        for g in step["guards"]
        if g["held"] and step["matched"]
    ]
    why = f" because {', '.join(held)}" if held else ""
    return f"{t.event} (rules line {t.line}){why}"


def _related(session: Session, record: Record) -> list[Record]:
    if isinstance(record, Partnership):
        return [record.library_a, record.library_b]
    return list(
        session.scalars(
            select(Partnership).where(
                (Partnership.library_a_id == record.id) | (Partnership.library_b_id == record.id),
                Partnership.state.notin_(("dropped", "declined", "closed")),
            )
        )
    )


def _history(
    session: Session,
    rtype: str,
    record: Record,
    decision: Decision,
    event: Event,
    cause: Cause,
    now: datetime,
    note: str,
) -> None:
    session.add(
        History(
            record_type=rtype,
            record_id=record.id,
            from_state=decision.old_state,
            to_state=decision.new_state,
            cause=cause.kind if event.cause != "engine" else "engine",
            inbox_id=cause.inbox_id,
            timer_id=cause.timer_id,
            event=event.name,
            note=note,
            trace=list(decision.trace),
            created_at=now,
        )
    )


def _effect(
    session: Session,
    wf: Workflow,
    record: Record,
    event: Event,
    cause: Cause,
    now: datetime,
    decision: Decision,
    effect: fx.Effect,
) -> None:
    rtype = machine_of(record)
    if isinstance(effect, fx.CancelTimers):
        query = update(Timer).where(
            Timer.record_type == rtype, Timer.record_id == record.id, Timer.status == "pending"
        )
        if effect.state:
            query = query.where(Timer.state == effect.state)
        if effect.name:
            query = query.where(Timer.name == effect.name)
        session.execute(query.values(status="cancelled"))
    elif isinstance(effect, fx.ScheduleTimer):
        session.add(
            Timer(
                record_type=rtype,
                record_id=record.id,
                name=effect.name,
                state=decision.new_state,
                due_at=now + effect.after,
                status="pending",
                sequence=effect.sequence,
                created_at=now,
            )
        )
    elif isinstance(effect, fx.SetField):
        _set_field(record, effect, now)
    elif isinstance(effect, fx.Record):
        _record(session, record, event, cause, now, effect.kind)
    elif isinstance(effect, fx.BlockPair):
        assert isinstance(record, Partnership)
        low, high = sorted((record.library_a_id, record.library_b_id))
        if session.get(DeclinedPair, (low, high)) is None:
            session.add(DeclinedPair(low_id=low, high_id=high, created_at=now))
    elif isinstance(effect, fx.SendMail):
        send(session, wf, record, event, cause, now, effect)
    elif isinstance(effect, fx.NotifyStaff):
        notify_staff(session, wf, record, cause, now, effect.template, effect.reason)


def _set_field(record: Record, effect: fx.SetField, now: datetime) -> None:
    value: Any = effect.value
    if isinstance(value, str) and value == "now":
        value = now.isoformat()
    elif isinstance(value, str) and value.startswith("+"):
        value = (now + fx.parse_duration(value[1:])).isoformat()
    column = {"review_at", "informal", "hidden"} & {effect.key}
    if column and hasattr(record, effect.key):
        if effect.key == "review_at":
            value = datetime.fromisoformat(value)
        setattr(record, effect.key, value)
        return
    data = dict(record.data or {})
    data[effect.key] = int(data.get(effect.key, 0)) + int(value) if effect.increment else value
    record.data = data


def _record(
    session: Session, record: Record, event: Event, cause: Cause, now: datetime, kind: str
) -> None:
    data = dict(record.data or {})
    side = str(event.side) if event.side is not None else None
    if kind in ("accept", "decline") and side:
        data.setdefault("accepted" if kind == "accept" else "declined", {})[side] = True
        data.setdefault("answered", {})[side] = now.isoformat()
    elif kind == "mou" and side:
        merged = {**data.get("mou", {}).get(side, {}), **_mou_fields(event.fields)}
        data.setdefault("mou", {})[side] = merged
        if event.agreed and not missing(merged, REQUIRED_MOU_FIELDS):
            data.setdefault("signed", {})[side] = True
    elif kind in ("activity", "note") and isinstance(record, Partnership):
        session.add(
            Activity(
                partnership_id=record.id,
                library_id=event.side,
                inbox_id=cause.inbox_id,
                kind="note" if kind == "note" else "report",
                text=event.text[:20000],
                created_at=now,
            )
        )
    elif kind == "keep-listed":
        data["listed_confirmed"] = now.isoformat()
    record.data = data


# -- mail ---------------------------------------------------------------------------------------
def _context(
    session: Session, wf: Workflow, record: Record, reader: Library, locale: str, event: Event
) -> dict:
    if isinstance(record, Library):
        ctx: dict[str, Any] = {"library": mail.profile(record)}
        missing_keys = record.missing or []
        ctx["missing"] = [{"key": k, "label": field_label(k, locale)} for k in missing_keys]
        ctx["form"] = blank_form("application", locale)
        ctx["deadline"] = None
        ctx["listed_since"] = record.created_at.date().isoformat()
        return ctx
    partner = record.library_b if reader.id == record.library_a_id else record.library_a
    data = record.data or {}
    side_mou = data.get("mou", {}).get(str(reader.id), {})
    return {
        "library": mail.profile(reader),
        "partner": mail.profile(partner),
        "a": mail.profile(record.library_a),
        "b": mail.profile(record.library_b),
        "partnership": mail.partnership_view(record),
        "form": blank_form("mou", locale),
        "missing": [
            {"key": k, "label": field_label(k, locale)}
            for k in missing(side_mou, REQUIRED_MOU_FIELDS)
        ],
        "mou": {
            "a": data.get("mou", {}).get(str(record.library_a_id), {}),
            "b": data.get("mou", {}).get(str(record.library_b_id), {}),
        },
        "mou_labels": mail.mou_labels(locale),
        "mentor": {"name": "", "email": wf.program.mentor_address or ""},
        "deadline": None,
    }


def _readers(record: Record, event: Event, to: str) -> list[Library]:
    if isinstance(record, Library):
        return [record]
    a, b = _sides(record)
    data = record.data or {}
    if to in ("each", "both"):
        return [a, b]
    if to in ("sender", "library"):
        return [lib for lib in (a, b) if lib.id == event.side]
    if to == "other":
        return [lib for lib in (a, b) if lib.id != event.side]
    # unanswered: in an offer, who has not said yes; waiting for MOUs, who has not signed
    done = data.get("signed" if record.state == "mou_sent" else "accepted", {})
    return [lib for lib in (a, b) if not done.get(str(lib.id))]


def send(
    session: Session,
    wf: Workflow,
    record: Record,
    event: Event,
    cause: Cause,
    now: datetime,
    effect: fx.SendMail,
) -> None:
    rtype = machine_of(record)
    token_ref = f"{rtype[0]}{record.id}"
    attempt = {"attempt": event.sequence}
    readers = _readers(record, event, effect.to)
    defer = event.cause == "timer"  # reminders wait for the reader's working hours
    if effect.to == "both":
        contacts = [c for lib in readers for c in mail.deliverable(lib, now)]
        if not contacts:
            mail.suppress(
                session,
                now,
                "(both libraries)",
                effect.template,
                "no reachable contact",
                cause.inbox_id,
            )
            return
        locales = list(dict.fromkeys(mail.locale_for(wf, lib) for lib in readers))
        ctx = _context(session, wf, record, readers[0], locales[0], event) | attempt
        names = ", ".join(filter(None, (c.name for c in contacts)))
        ctx["recipient"] = {"name": names, "email": contacts[0].email}
        cc = [wf.program.mentor_address] if effect.cc_mentor and wf.program.mentor_address else []
        mail.enqueue(
            session, wf, now, template=effect.template, locales=locales, to=[c.email for c in contacts], cc=cc,
            context=ctx, record=(rtype, record.id), token_ref=token_ref, thread_key=f"{rtype}:{record.id}:both",
            inbox_id=cause.inbox_id,
        )  # fmt: skip
        return
    for lib in readers:
        contacts = mail.deliverable(lib, now)
        if effect.to == "sender" and event.sender:
            contacts = [c for c in contacts if c.email == event.sender] or contacts
        if not contacts:
            mail.suppress(
                session,
                now,
                f"library #{lib.id}",
                effect.template,
                "no reachable contact",
                cause.inbox_id,
            )
            continue
        locale = mail.locale_for(wf, lib)
        ctx = _context(session, wf, record, lib, locale, event) | attempt
        ctx["recipient"] = {"name": contacts[0].name, "email": contacts[0].email}
        send_at = None
        if defer:
            send_at = mail.working_time(now, lib.timezone, wf)
            paused = [c.paused_until for c in contacts if c.paused_until and c.paused_until > now]
            if paused and len(paused) == len(contacts):
                send_at = max(send_at, min(paused))  # everyone is away: wait for the first back
        replying = effect.to == "sender" and cause.message_id
        mail.enqueue(
            session, wf, now, template=effect.template, locales=[locale], to=[c.email for c in contacts],
            context=ctx, record=(rtype, record.id), token_ref=token_ref,
            thread_key=f"{rtype}:{record.id}:{lib.id}", in_reply_to=cause.message_id if replying else None,
            send_at=send_at, inbox_id=cause.inbox_id,
        )  # fmt: skip


def notify_staff(
    session: Session,
    wf: Workflow,
    record: Record | None,
    cause: Cause,
    now: datetime,
    template: str,
    reason: str,
    extra: dict | None = None,
) -> None:
    to = wf.program.mentor_address
    if not to:
        mail.suppress(
            session, now, "(staff)", template, "no staff address configured", cause.inbox_id
        )
        return
    locale = wf.program.default_locale
    ctx: dict[str, Any] = {
        "reason": reason,
        "recipient": {"name": "", "email": to},
        "partnership": None,
        "library": None,
        "a": None,
        "b": None,
    }
    ctx["score"], ctx["reasons"] = None, []
    token_ref = None
    if isinstance(record, Partnership):
        ctx |= {
            "partnership": mail.partnership_view(record),
            "a": mail.profile(record.library_a),
            "b": mail.profile(record.library_b),
        }
        ctx |= {"score": record.score, "reasons": list(record.reasons or [])}
        token_ref = f"p{record.id}"
    elif isinstance(record, Library):
        ctx["library"] = mail.profile(record)
        token_ref = f"l{record.id}"
    ctx |= extra or {}
    key = f"{machine_of(record)}:{record.id}:staff" if record is not None else f"staff:{template}"
    mail.enqueue(
        session, wf, now, template=template, locales=[locale], to=[to], context=ctx,
        record=(machine_of(record), record.id) if record is not None else None, token_ref=token_ref,
        thread_key=key, inbox_id=cause.inbox_id,
    )  # fmt: skip


def due_after(now: datetime, delta: timedelta) -> datetime:
    return now + delta
