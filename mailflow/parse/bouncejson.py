"""Bounce notifications that sending services deliver as JSON in a mail body.

Amazon SES (through an SNS e-mail subscription, or event publishing), SendGrid's event webhook,
Mailgun's webhook and Postmark's bounce webhook, relayed to a mailbox. Each says outright whether
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


def _sendgrid(events: list[Any]) -> Notification | None:
    rows = [e for e in events if isinstance(e, dict) and isinstance(e.get("event"), str)]
    if not rows or not all("email" in e for e in rows):
        return None
    failed = [e for e in rows if e["event"].lower() in ("bounce", "dropped", "deferred")]
    if not failed:
        return Notification(False)
    # "bounce" of type "blocked" and "deferred" are soft; a hard bounce or a drop is permanent.
    hard = [
        e
        for e in failed
        if e["event"].lower() == "dropped"
        or (e["event"].lower() == "bounce" and str(e.get("type", "bounce")).lower() == "bounce")
    ]
    chosen = hard or failed
    recipients = {a for e in chosen if (a := _address(e.get("email")))}
    statuses = tuple(dict.fromkeys(str(e["status"]) for e in chosen if e.get("status")))
    return Notification(True, tuple(sorted(recipients)), bool(hard), statuses)


def _mailgun(doc: dict[str, Any]) -> Notification | None:
    data = doc.get("event-data")
    if not isinstance(data, dict) or not isinstance(data.get("event"), str):
        return None
    if data["event"].lower() not in ("failed", "bounced", "rejected"):
        return Notification(False)
    address = _address(data.get("recipient"))
    severity = str(data.get("severity", "")).lower()
    permanent = True if severity == "permanent" else False if severity == "temporary" else None
    return Notification(True, (address,) if address else (), permanent)


def _postmark(doc: dict[str, Any]) -> Notification | None:
    if str(doc.get("RecordType", "")).lower() != "bounce":
        return Notification(False) if "RecordType" in doc else None
    address = _address(doc.get("Email"))
    kind = str(doc.get("Type", "")).lower()
    soft = ("softbounce", "transient", "dnserror", "autoresponder", "spamnotification")
    permanent = False if kind in soft else True if kind else None
    return Notification(True, (address,) if address else (), permanent)


def _read(doc: Any, depth: int = 0) -> Notification | None:
    if isinstance(doc, list):
        return _sendgrid(doc)
    if not isinstance(doc, dict):
        return None
    # SNS wraps the SES notification as a JSON string in "Message".
    if doc.get("Type") == "Notification" and isinstance(doc.get("Message"), str) and depth < 2:
        try:
            inner = json.loads(doc["Message"][:_MAX_JSON])
        except (ValueError, RecursionError):  # deep nesting is hostile, not a notification
            return None
        return _read(inner, depth + 1)
    for reader in (_ses, _mailgun, _postmark):
        if (found := reader(doc)) is not None:
            return found
    return None


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
