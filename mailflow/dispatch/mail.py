"""Turn a decision's mail effects into outbox rows: who, in which language, threaded how.

Rendering and composing happen here, inside the transaction that made the decision, so the
outbox row holds the exact bytes (and Message-ID) that will be sent, however often it is retried.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.dispatch.program import Workflow
from mailflow.log import OUTBOX
from mailflow.outbox.compose import compose, make_message_id
from mailflow.parse.forms import MOU_FIELDS
from mailflow.parse.tokens import make_token
from mailflow.store.schema import Contact, Library, Outbox, Partnership, Suppressed

THREAD_DEPTH = 20


def profile(library: Library) -> dict[str, Any]:
    """A library as the templates see it (samples.py is the contract)."""
    f = library.fields or {}
    languages = [c.strip() for c in str(f.get("languages", "")).split(",") if c.strip()]
    contact = next(iter(deliverable(library)), None)
    return {
        "id": library.id,
        "name": library.name,
        "library_type": library.library_type or f.get("library_type"),
        "country": library.country,
        "city": library.city,
        "contact_name": f.get("contact_name") or (contact.name if contact else None),
        "contact_email": f.get("contact_email") or (contact.email if contact else None),
        "languages": languages,
        "size": f.get("size"),
        "interests": f.get("interests"),
        "communication": f.get("communication"),
        "commitment": f.get("commitment"),
        "website": f.get("website"),
        "timezone": library.timezone or f.get("timezone"),
    }


def partnership_view(p: Partnership, trial_days: int) -> dict[str, Any]:
    start = p.active_at or p.trial_at
    review = p.review_at or (p.trial_at + timedelta(days=trial_days) if p.trial_at else None)
    return {
        "id": p.id,
        "state": p.state,
        "trial_days": trial_days,
        "start_date": start.date().isoformat() if start else None,
        "review_date": review.date().isoformat() if review else None,
        "informal": p.informal,
    }


def locale_for(wf: Workflow, library: Library | None) -> str:
    available = wf.renderer.available_locales() if wf.renderer else []
    lang = (library.language if library else None) or wf.program.default_locale
    return lang if lang in available else wf.program.default_locale


def deliverable(library: Library) -> list[Contact]:
    return [c for c in library.contacts if c.status != "failed"]


def working_time(at: datetime, tz_name: str | None, wf: Workflow) -> datetime:
    """The first moment at or after `at` inside the library's working hours, on a weekday."""
    try:
        tz = ZoneInfo(tz_name or wf.program.default_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo(wf.program.default_timezone)
    local = at.astimezone(tz)
    start, end = wf.program.work_start, wf.program.work_end
    for _ in range(8):
        if local.weekday() < 5 and start <= local.time() < end:
            return local.astimezone(at.tzinfo)
        if local.weekday() < 5 and local.time() < start:
            local = local.replace(hour=start.hour, minute=start.minute, second=0, microsecond=0)
            continue
        nxt = (local + timedelta(days=1)).replace(
            hour=start.hour, minute=start.minute, second=0, microsecond=0
        )
        local = nxt
    return local.astimezone(at.tzinfo)


def thread_headers(session: Session, thread_key: str) -> tuple[str | None, list[str]]:
    ids = list(
        session.scalars(
            select(Outbox.message_id)
            .where(Outbox.thread_key == thread_key)
            .order_by(Outbox.id.desc())
            .limit(THREAD_DEPTH)
        )
    )
    ids.reverse()
    return (ids[-1] if ids else None), ids


def enqueue(
    session: Session,
    wf: Workflow,
    now: datetime,
    *,
    template: str,
    locales: Sequence[str],
    to: Sequence[str],
    cc: Sequence[str] = (),
    context: dict[str, Any],
    record: tuple[str, int] | None,
    token_ref: str | None,
    thread_key: str,
    in_reply_to: str | None = None,
    send_at: datetime | None = None,
    inbox_id: int | None = None,
) -> Outbox:
    assert wf.renderer is not None, "a Renderer is needed to send mail"
    program = wf.program
    ctx = {
        "program": {
            "name": program.name,
            "address": program.program_address,
            "website": program.website,
        },
        "locale": locales[0],
        **context,
    }
    if len(set(locales)) > 1:
        rendered = wf.renderer.render_bilingual(template, locales, ctx)
    else:
        rendered = wf.renderer.render(template, locales[0], ctx)
    last, references = thread_headers(session, thread_key)
    if in_reply_to:
        references = [*references, in_reply_to][-THREAD_DEPTH:]
        last = in_reply_to
    key = f"{record[0][0]}{record[1]}.{uuid.uuid4().hex[:12]}" if record else uuid.uuid4().hex
    message_id = make_message_id(key, program.domain)
    reply_to = program.reply_address(make_token(program.secret, token_ref)) if token_ref else None
    raw = compose(
        sender=f"{program.name} <{program.program_address}>",
        to=list(to),
        cc=list(cc),
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        message_id=message_id,
        date=now,
        in_reply_to=last,
        references=references,
        reply_to=reply_to,
        auto_submitted=True,
        origin=program.domain,
    )
    row = Outbox(
        message_id=message_id,
        record_type=record[0] if record else None,
        record_id=record[1] if record else None,
        template=template,
        locale=rendered.locale,
        sender=program.program_address,
        recipients=sorted({*(a.lower() for a in to), *(a.lower() for a in cc)}),
        thread_key=thread_key,
        subject=rendered.subject,
        raw=raw,
        status="pending",
        attempts=0,
        next_attempt_at=max(send_at or now, now),
        inbox_id=inbox_id,
        created_at=now,
    )
    session.add(row)
    OUTBOX.debug("queued %s <%s> to %s", template, message_id, ", ".join(row.recipients))
    return row


def suppress(
    session: Session,
    now: datetime,
    recipient: str,
    template: str | None,
    reason: str,
    inbox_id: int | None,
) -> None:
    session.add(
        Suppressed(
            inbox_id=inbox_id, recipient=recipient, template=template, reason=reason, created_at=now
        )
    )
    OUTBOX.debug("not sending %s to %s: %s", template, recipient, reason)


def mou_labels(locale: str) -> dict[str, str]:
    from mailflow.outbox.render import field_label

    return {k: field_label(k, locale) for k in MOU_FIELDS}
