"""Outgoing mail for a decision: who reads it, what the templates see, and the outbox rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from mailflow.dispatch import mail
from mailflow.dispatch.program import Workflow
from mailflow.dispatch.records import Cause, Record, machine_of
from mailflow.engine import actions as fx
from mailflow.engine.events import Event
from mailflow.outbox.render import blank_form, field_label
from mailflow.parse.forms import REQUIRED_MOU_FIELDS, missing
from mailflow.store.schema import Library, Partnership


def _sides(p: Partnership) -> tuple[Library, Library]:
    return p.library_a, p.library_b


def mentor_of(wf: Workflow, record: Record | None) -> str | None:
    """A partnership's own mentor, else the program's."""
    own = record.mentor if isinstance(record, Partnership) else None
    return own or wf.program.mentor_address


def _context(wf: Workflow, record: Record, reader: Library, locale: str) -> dict:
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
        "partnership": mail.partnership_view(record, wf.trial_days),
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
        "mentor": {"name": "", "email": mentor_of(wf, record) or ""},
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
        contacts = [c for lib in readers for c in mail.deliverable(lib)]
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
        ctx = _context(wf, record, readers[0], locales[0]) | attempt
        names = ", ".join(filter(None, (c.name for c in contacts)))
        ctx["recipient"] = {"name": names, "email": contacts[0].email}
        mentor = mentor_of(wf, record)
        cc = [mentor] if effect.cc_mentor and mentor else []
        mail.enqueue(
            session, wf, now, template=effect.template, locales=locales, to=[c.email for c in contacts], cc=cc,
            context=ctx, record=(rtype, record.id), token_ref=token_ref, thread_key=f"{rtype}:{record.id}:both",
            inbox_id=cause.inbox_id,
        )  # fmt: skip
        return
    for lib in readers:
        contacts = mail.deliverable(lib)
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
        ctx = _context(wf, record, lib, locale) | attempt
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
    to = mentor_of(wf, record)
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
            "partnership": mail.partnership_view(record, wf.trial_days),
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
