"""Letters: a decision's mail effects become outbox rows: who reads, in which language, threaded how.

Here, inside the transaction that made the decision, a mail gets its Message-ID, Date, threading
and reply token, and is stored as a spec (template, locales, JSON context: outbox/spec.py) that
the drainer renders when it sends it; the same spec always gives the same bytes, however often
it is retried. A context that JSON cannot carry unchanged is rendered here instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from email.utils import parseaddr
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import bindparam, select

from mailflow.dispatch import limits, lookups
from mailflow.dispatch.program import StaffMember
from mailflow.dispatch.turn import Record, Turn, machine_of, ref_of
from mailflow.engine import actions as fx
from mailflow.engine.events import Event
from mailflow.log import OUTBOX
from mailflow.outbox.compose import make_message_id, wire_address
from mailflow.outbox.render import blank_form, field_label
from mailflow.outbox.spec import is_plain, make_spec
from mailflow.parse.clean import reusable_id
from mailflow.parse.forms import MOU_FIELDS, REQUIRED_MOU_FIELDS, missing
from mailflow.parse.timezones import tzinfo_for
from mailflow.parse.tokens import make_token, staff_key, staff_ref, tag_subject
from mailflow.store.schema import (
    Contact,
    Library,
    Outbox,
    OutboxRecipient,
    Partnership,
    Suppressed,
    Timer,
)

THREAD_DEPTH = 20
VERP_KIND = "b"  # the token ref of a return path: `b<outbox id>` (parse/tokens.py)
EPOCH = date(1970, 1, 1)  # staff tokens count their last day from here
# Who has answered what, for the `unanswered`, `unsigned`, `undecided` and `accepted` readers.
ANSWERS = {"unanswered": "accepted", "unsigned": "signed", "undecided": "renew"}


# -- what the templates see (outbox/samples.py is the contract) ----------------------------------
def profile(library: Library) -> dict[str, Any]:
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
        "contact_email": (contact.email if contact else None) or f.get("contact_email"),
        "languages": languages,
        "size": f.get("size"),
        "interests": f.get("interests"),
        "communication": f.get("communication"),
        "commitment": f.get("commitment"),
        "website": f.get("website"),
        "timezone": library.timezone or f.get("timezone"),
        # Consent to the public list as recorded: "yes", "no", or None (not answered).
        "public_listing": None
        if library.public_listing is None
        else "yes"
        if library.public_listing
        else "no",
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


def mentor_of(turn: Turn, record: Record | None) -> dict[str, str]:
    """A partnership's own mentor, else the program's; with a name when the operator gave one."""
    own = record.mentor if isinstance(record, Partnership) else None
    email = own or turn.program.mentor_address or ""
    member = turn.program.member(email)
    name = member.name if member is not None else ""
    if not name and email == turn.program.mentor_address:
        name = turn.program.mentor_name
    return {"name": name, "email": email}


def named(person: dict[str, str]) -> str:
    """`Name <address>` for a header, so a reader sees who is in copy by name."""
    return f"{person['name']} <{person['email']}>" if person.get("name") else person["email"]


def side_ref(record: Record, reader: Library) -> str:
    """The token ref a library's mail carries: its own side of a partnership (`p42l7`), so the
    other library's contact can never answer with it; a library's own record is `l7`."""
    return f"{ref_of(record)}l{reader.id}" if isinstance(record, Partnership) else ref_of(record)


def deliverable(library: Library) -> list[Contact]:
    # An `unconfirmed` address was only named in a form: it gets nothing until it confirms.
    return [c for c in library.contacts if c.status not in ("failed", "former", "unconfirmed")]


def locale_for(turn: Turn, library: Library | None) -> str:
    available = turn.renderer.available_locales()
    lang = (library.language if library else None) or turn.program.default_locale
    return lang if lang in available else turn.program.default_locale


def _deadline(turn: Turn, record: Record, template: str) -> str | None:
    """The date a mail promises: when the timer its front matter names is due."""
    timer = turn.renderer.meta(template).deadline
    if not timer:
        return None
    due = turn.scheduled.get((machine_of(record), record.id, timer))
    if due is None:
        due = turn.session.scalar(
            select(Timer.due_at).where(
                Timer.record_type == machine_of(record), Timer.record_id == record.id,
                Timer.name == timer, Timer.status == "pending",
            ).order_by(Timer.due_at)
        )  # fmt: skip
    return due.date().isoformat() if due else None


def _context(turn: Turn, record: Record, reader: Library, locale: str) -> dict[str, Any]:
    if isinstance(record, Library):
        return {
            "library": profile(record),
            "missing": [{"key": k, "label": field_label(k, locale)} for k in record.missing or []],
            "form": blank_form("application", locale),
            "listed_since": record.created_at.date().isoformat(),
        }
    partner = record.library_b if reader.id == record.library_a_id else record.library_a
    data = record.data or {}
    mou = data.get("mou", {})
    side_mou = mou.get(str(reader.id), {})
    return {
        "library": profile(reader),
        "partner": profile(partner),
        "a": profile(record.library_a),
        "b": profile(record.library_b),
        "partnership": partnership_view(record, turn.wf.trial_days),
        "form": blank_form("mou", locale),
        "missing": [
            {"key": k, "label": field_label(k, locale)}
            for k in missing(side_mou, REQUIRED_MOU_FIELDS)
        ],
        "mou": {
            "a": _mou_fields(mou.get(str(record.library_a_id), {})),
            "b": _mou_fields(mou.get(str(record.library_b_id), {})),
        },
        "mou_labels": {k: field_label(k, locale) for k in MOU_FIELDS},
        "mentor": mentor_of(turn, record),
    }


def _mou_fields(side: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in side.items() if k in MOU_FIELDS}


def _readers(record: Record, event: Event, to: str) -> list[Library]:
    if isinstance(record, Library):
        return [record]
    a, b = record.library_a, record.library_b
    data = record.data or {}
    if to in ("each", "both"):
        return [a, b]
    if to in ("sender", "library"):
        return [lib for lib in (a, b) if lib.id == event.side]
    if to == "other":
        return [lib for lib in (a, b) if lib.id != event.side]
    if to == "accepted":
        return [lib for lib in (a, b) if data.get("accepted", {}).get(str(lib.id))]
    done = data.get(ANSWERS[to], {})
    return [lib for lib in (a, b) if not done.get(str(lib.id))]


# -- sending -----------------------------------------------------------------------------------
def send(turn: Turn, record: Record, event: Event, effect: fx.SendMail) -> None:
    """A `send` effect: one mail per reader (or one to both), in each reader's language."""
    rtype, token_ref = machine_of(record), ref_of(record)
    extra = {"attempt": event.sequence, "deadline": _deadline(turn, record, effect.template)}
    readers = _readers(record, event, effect.to)
    if effect.to == "both":
        contacts = [c for lib in readers for c in deliverable(lib)]
        if not contacts:
            suppress(turn, "(both libraries)", effect.template, "no reachable contact")
            return
        locales = list(dict.fromkeys(locale_for(turn, lib) for lib in readers))
        ctx = _context(turn, record, readers[0], locales[0]) | extra
        names = ", ".join(filter(None, (c.name for c in contacts)))
        ctx["recipient"] = {"name": names, "email": contacts[0].email}
        mentor = mentor_of(turn, record)
        enqueue(
            turn, template=effect.template, locales=locales, to=[c.email for c in contacts],
            cc=[named(mentor)] if effect.cc_mentor and mentor["email"] else [], context=ctx,
            record=record, token_ref=token_ref, thread_key=f"{rtype}:{record.id}:both",
        )  # fmt: skip
        return
    for lib in readers:
        contacts = deliverable(lib)
        if effect.to == "sender" and event.sender:
            contacts = [c for c in contacts if c.email == event.sender] or contacts
        if not contacts:
            suppress(turn, f"library #{lib.id}", effect.template, "no reachable contact")
            continue
        locale = locale_for(turn, lib)
        ctx = _context(turn, record, lib, locale) | extra
        ctx["recipient"] = {"name": contacts[0].name, "email": contacts[0].email}
        send_at = None
        if event.cause == "timer" and _in_working_hours(turn, record, event):
            send_at = working_time(turn, turn.now, lib.timezone)
            paused = [
                c.paused_until for c in contacts if c.paused_until and c.paused_until > turn.now
            ]
            if paused and len(paused) == len(contacts):
                send_at = max(send_at, min(paused))  # everyone is away: wait for the first back
        replying = effect.to == "sender" and turn.cause.message_id
        enqueue(
            turn, template=effect.template, locales=[locale], to=[c.email for c in contacts],
            context=ctx, record=record, token_ref=side_ref(record, lib),
            thread_key=f"{rtype}:{record.id}:{lib.id}",
            in_reply_to=turn.cause.message_id if replying else None, send_at=send_at,
        )  # fmt: skip


# Staff mail that goes to the record's mentor; every other staff mail goes to the coordinators.
MENTOR_TEMPLATES = ("staff-escalation",)


def staff_readers(turn: Turn, template: str, record: Record | None) -> list[StaffMember]:
    """Who on staff reads a mail: a partnership's escalations its mentor, the rest coordinators
    (all of them; without coordinators, the default mentor as before)."""
    program = turn.program
    if template in MENTOR_TEMPLATES and isinstance(record, Partnership):
        mentor = mentor_of(turn, record)
        if mentor["email"]:
            found = program.member(mentor["email"])
            return [found or StaffMember(mentor["email"], "mentor", mentor["name"])]
    if program.coordinators:
        return list(program.coordinators)
    fallback = mentor_of(turn, record)
    return [StaffMember(fallback["email"], "mentor", fallback["name"])] if fallback["email"] else []


def to_staff(
    turn: Turn,
    template: str,
    reason: str,
    record: Record | None = None,
    extra: dict[str, Any] | None = None,
    token_ref: str | None = None,
    readers: Sequence[StaffMember] | None = None,
) -> Outbox | None:
    """A mail to staff (`staff_readers`, or the readers given), one each in the program's
    language, each with a staff token naming its reader. Returns the first row."""
    first = None
    for reader in staff_readers(turn, template, record) if readers is None else readers:
        row = _to_staff_member(turn, template, reason, record, extra, token_ref, reader)
        first = first or row
    if first is None and not (readers or staff_readers(turn, template, record)):
        suppress(turn, "(staff)", template, "no staff address configured")
    return first


def _to_staff_member(
    turn: Turn,
    template: str,
    reason: str,
    record: Record | None,
    extra: dict[str, Any] | None,
    token_ref: str | None,
    reader: StaffMember,
) -> Outbox | None:
    mentor = mentor_of(turn, record)
    ctx: dict[str, Any] = {
        "reason": reason, "recipient": {"name": reader.name, "email": reader.address},
        "partnership": None, "library": None, "a": None, "b": None, "score": None, "reasons": [],
        "mentor": mentor,
    }  # fmt: skip
    if isinstance(record, Partnership):
        ctx |= {
            "partnership": partnership_view(record, turn.wf.trial_days),
            "a": profile(record.library_a), "b": profile(record.library_b),
            "score": record.score, "reasons": list(record.reasons or []),
        }  # fmt: skip
    elif isinstance(record, Library):
        ctx["library"] = profile(record)
    ctx |= extra or {}
    key = f"{machine_of(record)}:{record.id}:staff" if record is not None else f"staff:{template}"
    key += f":{reader.address.lower()}"  # each reader's own thread
    return enqueue(
        turn, template=template, locales=[turn.program.default_locale], to=[reader.address],
        context=ctx, record=record, token_ref=token_ref or (ref_of(record) if record else None),
        thread_key=key, staff_reader=reader.address,
    )  # fmt: skip


def _in_working_hours(turn: Turn, record: Record, event: Event) -> bool:
    """Mail a timer causes waits for the reader's working hours, unless the timer says not."""
    states = turn.machine(record).states.values()
    return all(t.working_hours for s in states for t in s.timers if t.name == event.name)


def working_time(turn: Turn, at: datetime, tz_name: str | None) -> datetime:
    """The first moment at or after `at` inside the library's working hours, on a weekday."""
    tz = tzinfo_for(tz_name or "") if tz_name else None
    if tz is None:
        try:
            tz = ZoneInfo(turn.program.default_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            tz = ZoneInfo("UTC")
    local = at.astimezone(tz)
    start, end = turn.program.work_start, turn.program.work_end
    for _ in range(8):
        if local.weekday() < 5 and start <= local.time() < end:
            return local.astimezone(at.tzinfo)
        if local.weekday() < 5 and local.time() < start:
            local = local.replace(hour=start.hour, minute=start.minute, second=0, microsecond=0)
            continue
        local = (local + timedelta(days=1)).replace(
            hour=start.hour, minute=start.minute, second=0, microsecond=0
        )
    return local.astimezone(at.tzinfo)


# Built once (every mail asks): the thread's latest Message-IDs, newest first.
_THREAD = (
    select(Outbox.message_id)
    .where(Outbox.thread_key == bindparam("thread_key"))
    .order_by(Outbox.id.desc())
    .limit(THREAD_DEPTH)
)


def _thread(turn: Turn, thread_key: str) -> tuple[str | None, list[str]]:
    cached = lookups.of(turn.session)
    known = cached.thread(turn.session, thread_key) if cached is not None else None
    if known is not None:  # a batch's sender's own thread (lookups.py)
        ids = known[-THREAD_DEPTH:]
    else:  # what this batch queued is written first (lookups.insert_rows)
        ids = list(turn.session.scalars(_THREAD, {"thread_key": thread_key}))
        ids.reverse()
    return (ids[-1] if ids else None), ids


def enqueue(
    turn: Turn,
    *,
    template: str,
    locales: Sequence[str],
    to: Sequence[str],
    cc: Sequence[str] = (),
    context: dict[str, Any],
    record: Record | None,
    token_ref: str | None,
    thread_key: str,
    in_reply_to: str | None = None,
    send_at: datetime | None = None,
    staff_reader: str | None = None,
) -> Outbox | None:
    """Store one mail (its spec, or its bytes); the drainer sends it after this commits.

    A mail that cannot be composed (an address the mail format cannot carry, a header that
    would break a line) is not sent: it is recorded as suppressed and staff are told, and the
    message that caused it is processed as usual (None is returned).
    None too when the loop limits (dispatch/limits.py) stop it: a Suppressed row says why.
    staff_reader: the mail goes to this staff member: its reply token is a staff token naming
    them (parse/tokens.py), under the staff key, expiring after `staff.token_days`.
    """
    program = turn.program
    ctx = {
        "program": {"name": program.name, "address": program.program_address, "website": program.website},
        "locale": locales[0],
        "attempt": 1,
        "deadline": None,
        **context,
    }  # fmt: skip
    last, references = _thread(turn, thread_key)
    # The sender's Message-ID as we may reuse it (ASCII, no spaces or brackets), or none.
    in_reply_to = reusable_id(in_reply_to)
    if in_reply_to:
        references = [*references, in_reply_to][-THREAD_DEPTH:]
        last = in_reply_to
    key = f"{ref_of(record)}.{turn.ids()[:12]}" if record is not None else turn.ids()
    tag, reply_to = None, None
    if token_ref and program.reply_token == "subject":
        # No sub-addressing: replies come to the plain address and are known by the Message-ID
        # they answer (which names the token's ref: correlate.reply_ref) or the subject tag.
        key = f"{token_ref}.{turn.ids()[:12]}"
        # The tag names the record only (`p12`, not one side's `p12l3`): it is a hint, never proof.
        tag = re.sub(r"^(p\d+)l\d+$", r"\1", token_ref)
    elif token_ref or staff_reader is not None:  # a staff mail always names its reader
        reply_to = program.reply_address(_token(turn, token_ref, staff_reader))
    message_id = make_message_id(key, program.domain)
    spec = make_spec(
        template=template, locales=list(locales), context=ctx, to=list(to), cc=list(cc), tag=tag,
        reply_to=reply_to, in_reply_to=last, references=references, date=turn.now,
    )  # fmt: skip
    composer = turn.wf.composer
    # The drainer renders the mail when it sends it (outbox/spec.py), unless its context
    # would not come back from JSON unchanged: then it is rendered now, as it always was.
    deferred = is_plain(ctx)
    try:
        if deferred:
            composer.headers_fit(spec, message_id)
            raw, subject, locale = b"", "", ",".join(dict.fromkeys(locales))
        else:
            rendered = composer.render(spec)
            subject = tag_subject(rendered.subject, tag) if tag else rendered.subject
            raw = composer.compose(spec, message_id, rendered, subject)
            locale = rendered.locale
    except ValueError as exc:  # compose()'s refusals, UnicodeEncodeError included
        not_composed(turn, template, [*to, *cc], record, str(exc))
        return None
    bare = [parseaddr(a)[1] or a for a in (*to, *cc)]
    why = limits.why_not(turn, template, bare, (spec, message_id) if deferred else raw)
    if why is not None:
        for address in sorted({a.lower() for a in bare}):
            suppress(turn, address, template, why)
        return None
    recipients = sorted({wire_address(a).lower() for a in bare})
    values: dict[str, Any] = {
        # In a batch's dispatch, its id now (lookups.new_id): the return path names it.
        "id": lookups.new_id(turn.session, Outbox),
        "message_id": message_id,
        "record_type": machine_of(record) if record is not None else None,
        "record_id": record.id if record is not None else None,
        "template": template,
        "locale": locale,
        "sender": program.program_address,
        "recipients": recipients,
        "thread_key": thread_key,
        "subject": subject,
        "raw": raw,
        "spec": spec if deferred else None,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": max(send_at or turn.now, turn.now),
        "inbox_id": turn.cause.inbox_id,
        "created_at": turn.now,
    }
    if values["id"] is not None:  # a batch's dispatch: written now, past the unit of work
        if program.verp and program.reply_token == "subaddress":
            values["sender"] = _verp_sender(program, values["id"])
        row = Outbox(**values)
        lookups.insert_rows(turn.session, Outbox, [values])
        lookups.insert_rows(
            turn.session, OutboxRecipient, [{"outbox_id": row.id, "address": a} for a in recipients]
        )
    else:
        row = Outbox(**values, addressees=[OutboxRecipient(address=a) for a in recipients])
        turn.session.add(row)
        if program.verp and program.reply_token == "subaddress":
            turn.session.flush()  # the id comes from the insert
            row.sender = _verp_sender(program, row.id)
    if (cached := lookups.of(turn.session)) is not None:
        cached.queued(row)
    OUTBOX.debug("queued %s <%s> to %s", template, message_id, ", ".join(row.recipients))
    return row


def _verp_sender(program: Any, outbox_id: int) -> str:
    """VERP: the return path names the outbox row, so a bounce is tied to it even unreadable."""
    return str(program.reply_address(make_token(program.secret, f"{VERP_KIND}{outbox_id}")))


def _token(turn: Turn, token_ref: str | None, staff_reader: str | None) -> str:
    program = turn.program
    if staff_reader is None:
        assert token_ref is not None
        return make_token(program.secret, token_ref)
    last_day = (turn.now + timedelta(days=program.staff_token_days)).date()
    ref = staff_ref(token_ref, staff_reader, (last_day - EPOCH).days)
    return make_token(staff_key(program.secret), ref)


def not_composed(
    turn: Turn, template: str, recipients: Sequence[str], record: Record | None, why: str
) -> None:
    """A mail that could not be composed: suppressed with the reason, an open item for staff,
    and (unless it was itself a mail to staff) a notice saying what was not sent and why."""
    from mailflow.dispatch import attention  # attention sends through this module

    shown = ", ".join(recipients)[:300]
    reason = f"could not compose {template} to {shown}: {why}"[:2000]
    for recipient in recipients or ["(none)"]:
        suppress(turn, recipient[:320], template, reason)
    attention.open_item(
        turn, "not-composed", reason, record, {"template": template, "recipients": [*recipients]}
    )
    if not template.startswith("staff-"):
        to_staff(turn, "staff-notice", reason, record)


def suppress(turn: Turn, recipient: str, template: str | None, reason: str) -> None:
    lookups.insert_later(
        turn.session, Suppressed, inbox_id=turn.cause.inbox_id, recipient=recipient,
        template=template, reason=reason, created_at=turn.now,
    )  # fmt: skip
    OUTBOX.debug("not sending %s to %s: %s", template, recipient, reason)
