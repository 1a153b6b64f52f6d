"""Queries for the report -> plain dicts. Nothing here formats for a locale; templates do."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailflow.engine.definition import Machine
from mailflow.report.i18n import country_key
from mailflow.report.metrics import funnel, month_series, response_hours, timings
from mailflow.store.schema import (
    Activity,
    AttentionItem,
    Contact,
    InboxMessage,
    Library,
    MessageFacts,
    Partnership,
)

__all__ = ["dashboard_data", "public_data", "scrub"]

# dispatch.turn.Outcomes codes of mail that was not allowed to act as sent (report reads no
# dispatch, so the codes are written here).
UNAUTHENTICATED_OUTCOMES = ("staff-unconfirmed", "staff-refused", "unconfirmed")
STORY_LENGTH = 280  # an activity report this long is a story worth showing
_EMAIL = re.compile(r"[^\s<>()\[\],;:\"']+@[^\s<>()\[\],;:\"']+")
_PHONE = re.compile(r"\+?\d(?:[\s().-]*\d){7,}")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.I)


def scrub(value: Any) -> str:
    """Public text with no contact details: addresses, phone numbers and links are removed."""
    text = _EMAIL.sub("…", str(value or ""))
    text = _URL.sub("…", _PHONE.sub("…", text))
    return " ".join(text.replace("@", " ").split())


def _languages(value: Any) -> list[str]:
    codes = value.split(",") if isinstance(value, str) else list(value or ())
    return [c.strip().lower() for c in codes if str(c).strip()]


def public_data(session: Session, listed: Sequence[str]) -> dict[str, Any]:
    """The "Libraries Seeking Sisters" list: seeking, not hidden, and consenting to be listed
    (a library that did not answer is not listed); no contact detail at all."""
    rows = session.scalars(
        select(Library).where(
            Library.state.in_(listed),
            Library.hidden.is_(False),
            Library.public_listing.is_(True),
        )
    ).all()
    by_country: dict[str, list[dict[str, Any]]] = {}
    for lib in rows:
        fields = lib.fields or {}
        # Only these keys leave the database: the public page never sees a contact field.
        entry = {
            "name": scrub(lib.name),
            "type": scrub(lib.library_type or fields.get("library_type")),
            "city": scrub(lib.city or fields.get("city")),
            "languages": _languages(fields.get("languages")),
            "interests": scrub(fields.get("interests")),
            "since": lib.created_at.date().isoformat(),
        }
        by_country.setdefault(country_key(lib.country or fields.get("country")), []).append(entry)
    countries = [
        {"key": key, "libraries": sorted(libs, key=lambda e: (e["city"], e["name"]))}
        for key, libs in sorted(by_country.items(), key=lambda kv: kv[0].casefold())
    ]
    return {"count": len(rows), "countries": countries}


def _counts(values: list[str]) -> list[tuple[str, int]]:
    return sorted(Counter(values).items(), key=lambda kv: (-kv[1], kv[0]))


def _pair(p: Partnership) -> str:
    return f"{p.library_a.name} – {p.library_b.name}"


def dashboard_data(
    session: Session, machines: Mapping[str, Machine], now: datetime, *, latest: int = 20
) -> dict[str, Any]:
    """Every indicator of the staff dashboard; which states count as what, the rules' tags say."""
    states = list(machines["partnership"].states)
    live, attention = (
        machines["partnership"].tagged("live"),
        machines["partnership"].tagged("attention"),
    )
    listed, partnered = (
        machines["library"].tagged("listed"),
        machines["library"].tagged("partnered"),
    )
    libraries = session.scalars(select(Library)).all()
    partnerships = session.scalars(select(Partnership)).all()
    by_state = Counter(p.state for p in partnerships)
    lib_states = Counter(lib.state for lib in libraries)
    stalled = [
        {"id": p.id, "pair": _pair(p), "state": p.state, "since": p.updated_at, "mentor": p.mentor}
        for p in sorted(partnerships, key=lambda p: p.updated_at)
        if p.state in attention
    ]
    bounced = [
        {
            "email": c.email,
            "library": c.library.name,
            "status": c.status,
            "bounces": c.bounce_count,
            "last": c.last_bounce_at,
        }
        for c in session.scalars(
            select(Contact).where(Contact.status != "ok").order_by(Contact.email)
        )
    ]
    # The needs-a-person queue: every open item, the latest first (staff resolve them by mail).
    open_items = AttentionItem.resolved_at.is_(None)
    needs_count = session.scalar(select(func.count()).select_from(AttentionItem).where(open_items))
    needs_rows = [
        {
            "id": item.id,
            "received": item.created_at,
            "from": f.from_address if f is not None else "",
            "subject": f.subject if f is not None else "",
            "reason": item.reason,
        }
        for item, f in session.execute(
            select(AttentionItem, MessageFacts)
            .outerjoin(MessageFacts, MessageFacts.inbox_id == AttentionItem.inbox_id)
            .where(open_items)
            .order_by(AttentionItem.created_at.desc(), AttentionItem.id.desc())
            .limit(latest)
        )
    ]
    # Forged or unauthenticated mail that wanted to act (a staff command, a library's
    # withdrawal, yes or no) and was held for confirmation or refused, in the last 30 days.
    unauthenticated = session.scalar(
        select(func.count())
        .select_from(MessageFacts)
        .join(InboxMessage, InboxMessage.id == MessageFacts.inbox_id)
        .where(
            MessageFacts.outcome_code.in_(UNAUTHENTICATED_OUTCOMES),
            InboxMessage.received_at > now - timedelta(days=30),
        )
    )
    activities = session.scalars(select(Activity).order_by(Activity.created_at)).all()
    months = Counter(a.created_at.strftime("%Y-%m") for a in activities if a.kind != "note")
    names = {p.id: _pair(p) for p in partnerships}
    stories = [
        {"pair": names.get(a.partnership_id, ""), "date": a.created_at, "text": a.text.strip()}
        for a in reversed(activities)
        if a.kind == "success-story" or (a.kind == "report" and len(a.text) >= STORY_LENGTH)
    ][:10]
    return {
        "now": now,
        "summary": {
            "libraries": len(libraries),
            "seeking": sum(lib_states.get(s, 0) for s in listed),
            "partnered": sum(lib_states.get(s, 0) for s in partnered),
            "live_partnerships": sum(by_state.get(s, 0) for s in live),
            "needs_person": needs_count or 0,
            "bounced": len(bounced),
            "unauthenticated": unauthenticated or 0,
        },
        "by_country": _counts([country_key(lib.country) or "?" for lib in libraries]),
        "by_type": _counts([lib.library_type or "?" for lib in libraries]),
        "library_states": _counts([lib.state for lib in libraries]),
        "partnership_states": {s: by_state.get(s, 0) for s in states},
        "funnel": funnel(session, partnerships),
        "timings": timings(partnerships),
        "response": response_hours(session),
        "activities": month_series(dict(months), now),
        "stalled": stalled,
        "bounced": bounced,
        "needs_person": {"count": needs_count or 0, "latest": needs_rows},
        "stories": stories,
    }
