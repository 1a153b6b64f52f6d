"""Bounce notifications that sending services deliver as JSON in a mail body.

Amazon SES (through an SNS e-mail subscription, or event publishing), the event webhooks of
SendGrid, Mandrill, Mailjet, Brevo and SparkPost, Mailgun's and Postmark's, relayed to a
mailbox. Each says outright whether
a notification is a bounce and whether it is permanent; a delivery, open or complaint
notification is recognised and is no bounce.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mailflow.parse.dsn import clean_address
from mailflow.parse.mailheaders import safe_getaddresses

_MAX_JSON = 512 * 1024


@dataclass(frozen=True)
class Notification:
    """A recognised notification. bounced False: a service event that is no bounce."""

    bounced: bool
    recipients: tuple[str, ...] = ()
    permanent: bool | None = None
    statuses: tuple[str, ...] = ()
    message_ids: tuple[str, ...] = ()


def _address(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    pairs = safe_getaddresses([value])
    return clean_address(pairs[0][1]) if pairs and pairs[0][1] else clean_address(value)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _message_id(value: Any) -> str | None:
    """A Message-ID as a service quotes it ("<id@host>" or bare), None for anything else."""
    if not isinstance(value, str):
        return None
    value = value.strip().strip("<>")
    return value if value.count("@") == 1 and not any(c.isspace() for c in value) else None


def _ses(doc: dict[str, Any]) -> Notification | None:
    kind = doc.get("notificationType") or doc.get("eventType")
    if not isinstance(kind, str):
        return None
    mail = _dict(doc.get("mail"))
    ids: list[str] = []
    common = _dict(mail.get("commonHeaders"))
    if isinstance(common.get("messageId"), str):
        ids.append(common["messageId"].strip().strip("<>"))
    headers = mail.get("headers")
    for header in headers if isinstance(headers, list) else []:
        if isinstance(header, dict) and str(header.get("name", "")).lower() == "message-id":
            ids.append(str(header.get("value", "")).strip().strip("<>"))
    if kind.lower() != "bounce":
        return Notification(False)
    bounce = _dict(doc.get("bounce"))
    listed = bounce.get("bouncedRecipients")
    rows = [r for r in (listed if isinstance(listed, list) else []) if isinstance(r, dict)]
    recipients = {a for r in rows if (a := _address(r.get("emailAddress")))}
    statuses = tuple(dict.fromkeys(str(r["status"]) for r in rows if r.get("status")))
    kind_of = str(bounce.get("bounceType", "")).lower()
    # "Undetermined": SES could not tell; the status codes may.
    permanent = True if kind_of == "permanent" else False if kind_of == "transient" else None
    if permanent is None and statuses:
        permanent = statuses[0].startswith("5")
    return Notification(True, tuple(sorted(recipients)), permanent, statuses, tuple(ids))


_HARD_EVENTS = {"hard_bounce", "dropped", "hardbounce"}
_SOFT_EVENTS = {"soft_bounce", "deferred", "blocked", "softbounce", "deferral", "delay"}
_BOUNCE_EVENTS = _HARD_EVENTS | _SOFT_EVENTS | {"bounce", "bounced", "out_of_band", "reject"}
# SparkPost's bounce classes that mean the address will not work (the rest pass).
_SPARKPOST_HARD = {"1", "10", "25", "26", "30", "90"}


def _event(row: dict[str, Any]) -> tuple[str, str | None, bool] | None:
    """(event, address, hard) of one webhook event row: SendGrid, Mandrill, Mailjet, Brevo,
    SparkPost. None when the row is no such event."""
    msys = _dict(row.get("msys"))
    if msys:  # SparkPost: {"msys": {"message_event": {"type": "bounce", ...}}}
        row = next((v for v in msys.values() if isinstance(v, dict)), {})
    name = row.get("event") or row.get("type")
    if not isinstance(name, str):
        return None
    name = name.lower()
    raw = row.get("email") or row.get("recipient") or row.get("rcpt_to")
    raw = raw or _dict(row.get("msg")).get("email")  # Mandrill
    if raw is None:
        return None
    kind = str(row.get("type", "")).lower() if "event" in row else ""
    if name in _HARD_EVENTS:
        hard = True
    elif name in _SOFT_EVENTS or kind == "blocked":  # SendGrid: "bounce" of type "blocked"
        hard = False
    elif isinstance(row.get("hard_bounce"), bool):  # Mailjet
        hard = row["hard_bounce"]
    elif "bounce_class" in row:  # SparkPost
        hard = str(row["bounce_class"]) in _SPARKPOST_HARD
    else:
        hard = True
    return name, _address(raw), hard


def _events(rows: list[Any]) -> Notification | None:
    """A webhook's event rows relayed by mail (a batch, or one event)."""
    events = [e for r in rows if isinstance(r, dict) and (e := _event(r)) is not None]
    if not events:
        return None
    failed = [e for e in events if e[0] in _BOUNCE_EVENTS]
    if not failed:
        return Notification(False)
    hard = [e for e in failed if e[2]]
    chosen = hard or failed
    recipients = {e[1] for e in chosen if e[1]}
    statuses = tuple(
        dict.fromkeys(
            str(r["status"])
            for r in rows
            if isinstance(r, dict) and r.get("status") and _address(r.get("email")) in recipients
        )
    )
    # Brevo's "message-id", SendGrid's "smtp-id": the Message-ID of the mail sent.
    ids = (
        _message_id(r.get("message-id") or r.get("smtp-id")) for r in rows if isinstance(r, dict)
    )
    return Notification(
        True,
        tuple(sorted(recipients)),
        bool(hard),
        statuses,
        tuple(dict.fromkeys(i for i in ids if i)),
    )


def _mailgun(doc: dict[str, Any]) -> Notification | None:
    data = doc.get("event-data")
    if not isinstance(data, dict) or not isinstance(data.get("event"), str):
        return None
    if data["event"].lower() not in ("failed", "bounced", "rejected"):
        return Notification(False)
    address = _address(data.get("recipient"))
    severity = str(data.get("severity", "")).lower()
    permanent = True if severity == "permanent" else False if severity == "temporary" else None
    code = _dict(data.get("delivery-status")).get("code")
    if permanent is None and isinstance(code, int) and 400 <= code < 600:
        permanent = code >= 500  # no severity: the SMTP reply decides
    headers = _dict(_dict(data.get("message")).get("headers"))
    found = _message_id(headers.get("message-id"))
    return Notification(
        True, (address,) if address else (), permanent, message_ids=(found,) if found else ()
    )


def _postmark(doc: dict[str, Any]) -> Notification | None:
    if str(doc.get("RecordType", "")).lower() != "bounce":
        return Notification(False) if "RecordType" in doc else None
    address = _address(doc.get("Email"))
    kind = str(doc.get("Type", "")).lower()
    soft = ("softbounce", "transient", "dnserror", "autoresponder", "spamnotification")
    permanent = False if kind in soft else True if kind else None
    return Notification(True, (address,) if address else (), permanent)


def _resend(doc: dict[str, Any]) -> Notification | None:
    """Resend's webhook: {"type": "email.bounced", "data": {"to": [...], "bounce": {...}}}."""
    kind = doc.get("type")
    data = doc.get("data")
    if not (isinstance(kind, str) and kind.startswith("email.") and isinstance(data, dict)):
        return None
    if kind not in ("email.bounced", "email.delivery_delayed"):
        return Notification(False)  # sent, delivered, opened, clicked, complained
    to = data.get("to")
    recipients = {a for r in (to if isinstance(to, list) else [to]) if (a := _address(r))}
    kind_of = str(_dict(data.get("bounce")).get("type", "")).lower()
    permanent = (
        False
        if kind == "email.delivery_delayed" or kind_of == "transient"
        else True
        if kind_of == "permanent"
        else None
    )
    return Notification(True, tuple(sorted(recipients)), permanent)


def _read(doc: Any, depth: int = 0) -> Notification | None:
    if isinstance(doc, list):
        return _events(doc)
    if not isinstance(doc, dict):
        return None
    # SNS wraps the SES notification as a JSON string in "Message".
    if doc.get("Type") == "Notification" and isinstance(doc.get("Message"), str) and depth < 2:
        try:
            inner = json.loads(doc["Message"][:_MAX_JSON])
        except (ValueError, RecursionError):  # deep nesting is hostile, not a notification
            return None
        return _read(inner, depth + 1)
    for reader in (_ses, _mailgun, _postmark, _resend):
        if (found := reader(doc)) is not None:
            return found
    return _events([doc])


def notification(text: str) -> Notification | None:
    """The notification a mail body holds, or None when the body is no such JSON document."""
    body = text.strip()
    if not body or body[0] not in "[{" or len(body) > _MAX_JSON:
        return None
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):  # deep nesting is hostile, not a notification
        return None
    return _read(doc)
