"""Bounce detection: RFC 3464 DSNs and the non-standard ones (flufl.bounce)."""

from __future__ import annotations

import re
from email.message import Message

from flufl.bounce import all_failures

from mailflow.parse.charsets import decode_header_value
from mailflow.parse.facts import Bounce
from mailflow.parse.mailheaders import safe_getaddresses
from mailflow.parse.message import parse_bytes, walk

_DAEMON_LOCALPARTS = {"mailer-daemon", "mailer_daemon", "mailerdaemon", "mail-daemon", "postmaster"}
_DAEMON_NAMES = re.compile(r"mail delivery (subsystem|system|service)|mailer.daemon", re.I)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered mail|returned mail|mail delivery fail|delivery status notification"
    r"|delivery (status )?fail|failure notice|non.?deliver|could not be delivered|delivery delayed"
    r"|delayed mail|warning: could not send|mail system error|unzustellbar|non remis"
    r"|no se puede entregar|系统退信|退信|投递失败|未送达|無法傳遞",
    re.I,
)
_STATUS = re.compile(r"\b([245])\.\d{1,3}\.\d{1,3}\b")
_SMTP_REPLY = re.compile(r"\b([45])\d\d[ -]")
_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
# A Message-ID quoted in a report's text ("Message-ID: <...>", Exchange's "Original message ID").
_QUOTED_ID = re.compile(r"message[- _]?id\s*[:=]?\s*<([^<>\s]+@[^<>\s]+)>", re.I)
# Addresses and host names (a dotted name with a letter: not a status code like 5.7.1).
# Both start only at the start of a word (unanchored, a long word backtracks quadratically).
NAMES = re.compile(r"(?<!\S)[^\s@]++@\S+|(?<![\w-])(?=[\w-]*[^\W\d_])[\w-]++(?:\.[\w-]+)+\b")
# Words by which receivers say they refused the content, not the address.
_SPAM_VERDICT = re.compile(
    r"\bspam\b|junk mail|content (was )?rejected|message content|blocked by (policy|filter)"
    r"|policy (violation|rejection)|virus|malware|blacklist|blocklist|spamhaus",
    re.I,
)


def _clean(address: str) -> str | None:
    address = address.strip().strip("<>").strip().lower()
    return address if _ADDRESS.match(address) else None


def _body(part: Message) -> bytes:
    """A leaf part's body with its transfer encoding undone; b"" when it has none."""
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _dsn_blocks(msg: Message) -> list[Message]:
    """The per-message and per-recipient field blocks of every message/delivery-status part."""
    blocks: list[Message] = []
    for part in walk(msg):
        if part.get_content_type() != "message/delivery-status":
            continue
        payload = part.get_payload()
        if isinstance(payload, list):
            blocks.extend(b for b in payload if isinstance(b, Message))
        elif isinstance(payload, str):  # unparsed (e.g. base64-encoded) status: parse it
            for chunk in re.split(rb"\r?\n\s*\r?\n", _body(part)):
                blocks.append(parse_bytes(chunk.strip() + b"\n"))
    return blocks


def _from_dsn(msg: Message) -> tuple[set[str], set[str], bool]:
    """(permanent failures, temporary failures, saw any recipient block) from RFC 3464 fields."""
    permanent: set[str] = set()
    temporary: set[str] = set()
    seen = False
    for block in _dsn_blocks(msg):
        recipient = str(block.get("final-recipient") or block.get("original-recipient") or "")
        if not recipient:
            continue
        seen = True
        address = _clean(recipient.split(";", 1)[-1])
        action = str(block.get("action", "")).strip().lower()
        status = _STATUS.search(str(block.get("status", "")))
        if address is None or action.startswith(("delivered", "relayed", "expanded")):
            continue
        if status and status.group(1) == "2":
            continue
        # Status class decides when present; otherwise Action: failed is permanent.
        if status:
            (permanent if status.group(1) == "5" else temporary).add(address)
        elif action.startswith(("fail", "error")):
            permanent.add(address)
        elif action.startswith("delayed"):
            temporary.add(address)
    return permanent, temporary, seen


def _looks_like_bounce(msg: Message) -> bool:
    """From a mailer daemon, a delivery-status report, or a null sender with a bounce subject."""
    if msg.get_content_type() == "multipart/report":
        report = str(msg.get_param("report-type", "") or "").lower()
        if report == "delivery-status":
            return True
    name, address = next(iter(safe_getaddresses([str(msg.get("from", ""))])), ("", ""))
    local = address.split("@", 1)[0].lower()
    subject = decode_header_value(str(msg.get("subject", "")))
    if local in _DAEMON_LOCALPARTS - {"postmaster"} or _DAEMON_NAMES.search(name or address):
        return True
    bounce_subject = bool(_BOUNCE_SUBJECT.search(subject))
    null_sender = str(msg.get("return-path", "")).strip() == "<>"
    return bounce_subject and (local == "postmaster" or null_sender)


def _body_text(msg: Message, limit: int = 200_000) -> str:
    """Human-readable text parts (not the returned original), for status codes."""
    chunks: list[str] = []
    for part in walk(msg):
        if (
            part.get_content_maintype() == "text"
            and part.get_content_type() != "text/rfc822-headers"
        ):
            data = part.get_payload(decode=True)
            if isinstance(data, bytes):
                chunks.append(data[:limit].decode("utf-8", "replace"))
        elif part.get_content_type() == "message/rfc822":
            break  # the original message follows; its text is not about the failure
    return "\n".join(chunks)


def _permanence_from_text(text: str) -> bool | None:
    classes = {m.group(1) for m in _STATUS.finditer(text)} | {
        m.group(1) for m in _SMTP_REPLY.finditer(text)
    }
    if "5" in classes:
        return True
    return False if "4" in classes else None


# Where a bounce's own text names the failed address. Used when flufl finds nothing: its
# heuristics reject any domain with a hyphen ("bibliotheque-nord.example.fr").
_TEXT_RECIPIENTS = (
    re.compile(r"RCPT TO:\s*<([^<>\s]+@[^<>\s]+)>", re.I),
    re.compile(r"^\s*<([^<>\s]+@[^<>\s]+)>:", re.M),  # Postfix, qmail: "<addr>: host said"
    re.compile(r"^[ \t]+([^\s@<>]+@[^\s@<>]+)[ \t]*$", re.M),  # Exim, Gmail: indented address
    re.compile(r"(?:delivered to|message to|recipient:?)\s+<?([^\s@<>]+@[^\s@<>]+?)>?[\s,.]", re.I),
)
# The returned original starts here in text-only bounces; addresses after it are not failures.
_ORIGINAL_FOLLOWS = re.compile(
    r"^[ \t]*-{2,}[^\n]*(message|original|copy|原始邮件|原邮件)[^\n]*$", re.I | re.M
)


def _text_recipients(text: str) -> set[str]:
    cut = _ORIGINAL_FOLLOWS.search(text)
    text = text[: cut.start()] if cut else text
    return {
        a
        for pattern in _TEXT_RECIPIENTS
        for m in pattern.finditer(text)
        if (a := _clean(m.group(1)))
    }


def _original_recipient(msg: Message) -> str | None:
    """The single To of the returned original, when the bounce names no recipient itself."""
    for part in walk(msg):
        if part.get_content_type() in ("message/rfc822", "text/rfc822-headers"):
            payload = part.get_payload()
            original = payload[0] if isinstance(payload, list) and payload else None
            if not isinstance(original, Message):
                original = parse_bytes(_body(part))
            pairs = safe_getaddresses(
                [str(v) for v in original.get_all("to", []) + original.get_all("cc", [])]
            )
            found = {a for _, addr in pairs if (a := _clean(addr))}
            return found.pop() if len(found) == 1 else None
    return None


def _returned_ids(msg: Message) -> tuple[str, ...]:
    """Message-IDs of the returned original: its attached headers first, then quoted in text."""
    found: list[str] = []
    for part in msg.walk():
        if part.get_content_type() in ("message/rfc822", "text/rfc822-headers"):
            payload = part.get_payload()
            original = payload[0] if isinstance(payload, list) and payload else None
            if not isinstance(original, Message):
                original = parse_bytes(_body(part))
            value = str(original.get("message-id", "") or "").strip()
            if m := re.fullmatch(r"<?([^<>\s]+@[^<>\s]+?)>?", value):
                found.append(m.group(1))
        elif part.get_content_maintype() == "text":
            text = _body(part)[:200_000].decode("utf-8", "replace")
            found.extend(m.group(1) for m in _QUOTED_ID.finditer(text))
    return tuple(dict.fromkeys(found))


def _with_references(found: Bounce, msg: Message) -> Bounce:
    """The bounce with what ties it to a mail (returned Message-IDs) and why it failed."""
    text = _body_text(msg)
    statuses = [m.group(0) for m in _STATUS.finditer(text)]
    for block in _dsn_blocks(msg):
        statuses += [m.group(0) for m in _STATUS.finditer(str(block.get("status", "")))]
        text += "\n" + str(block.get("diagnostic-code", ""))
    return Bounce(
        found.recipients,
        found.permanent,
        message_ids=_returned_ids(msg),
        statuses=tuple(dict.fromkeys(statuses)),
        # Addresses and host names say nothing about a verdict ("spam@lib.example.org").
        spam_verdict=bool(_SPAM_VERDICT.search(NAMES.sub(" ", text))),
    )


def detect_bounce(msg: Message | bytes) -> Bounce | None:
    """Return the failed recipients, whether it is permanent, and the returned mail's ids.

    `msg` may be raw bytes or a Message from message.parse_bytes(). Permanent and temporary
    failures in one report give the permanent ones only (a delay is not news beside them).
    """
    if isinstance(msg, bytes | bytearray):
        msg = parse_bytes(bytes(msg))
    found = _detect(msg)
    return _with_references(found, msg) if found is not None else None


def _detect(msg: Message) -> Bounce | None:
    permanent, temporary, seen = _from_dsn(msg)
    if permanent:
        return Bounce(tuple(sorted(permanent)), True)
    if temporary:
        return Bounce(tuple(sorted(temporary)), False)
    if seen:
        return None  # a DSN with only successful deliveries (e.g. a relay notice)
    clearly = _looks_like_bounce(msg)
    # flufl's heuristics match phrases that a person may quote; only trust them on mail that
    # looks like a bounce or carries Exim's X-Failed-Recipients.
    if not clearly and msg.get("x-failed-recipients") is None:
        return None
    try:
        temp_raw, perm_raw = all_failures(msg)
    except Exception:  # a detector choking on odd mail must not lose the message
        temp_raw, perm_raw = frozenset(), frozenset()
    perm = {a for r in perm_raw if (a := _clean(r.decode("ascii", "replace")))}
    temp = {a for r in temp_raw if (a := _clean(r.decode("ascii", "replace")))}
    if perm or temp:
        stated = _permanence_from_text(_body_text(msg))
        permanent_flag = stated if stated is not None else bool(perm)
        return Bounce(tuple(sorted(perm or temp)), permanent_flag)
    if not clearly:
        return None
    text = _body_text(msg)
    if found := _text_recipients(text):
        return Bounce(tuple(sorted(found)), _permanence_from_text(text))
    if (original := _original_recipient(msg)) is not None:
        return Bounce((original,), _permanence_from_text(text))
    return Bounce((), None)
