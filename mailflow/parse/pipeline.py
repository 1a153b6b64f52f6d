"""Compose the parse steps: decode, detect bounces and auto-replies, trim, read fields, classify."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence

from mailflow.parse import autoreply, bounce, forms, intents, language, message, reply, tokens
from mailflow.parse.clean import MAX_PARSED_BYTES
from mailflow.parse.facts import DecodedMessage, Facts
from mailflow.parse.prose import fill_fields, wants_partner

# The header mailflow puts on everything it sends, so its own mail is dropped if it comes back.
# It carries an HMAC over the Message-ID: only a verified one marks our own mail.
OWN_HEADER = "x-mailflow-origin"

_APPLICATION_SUBJECT = re.compile(
    r"appl(y|ication)|sister\s+librar|partner\s+librar|申请|姐妹图书馆|友好图书馆|solicitud|candidature",
    re.I,
)
# An application is a form with at least this many recognised application fields.
_MIN_FORM_FIELDS = 3


def parse_message(
    raw: bytes,
    *,
    program_address: str,
    secret: tokens.Keys | None,
    staff: Sequence[str] = (),
    commands: Mapping[str, Sequence[str]] | None = None,
    text_verbs: Collection[str] = ("note",),
) -> Facts:
    """Everything parse/ can tell about one message. secret None: tokens are not verified.

    ``secret`` is the key, or the keys, a token or origin mark may verify with (current first).

    ``commands`` is the staff vocabulary (verb -> spellings); a message from a staff address
    is read as a command only against it, so None means no message is a command.
    """
    truncated = len(raw) > MAX_PARSED_BYTES
    if truncated:  # the text and forms come first; the rest is attachments' bytes
        raw = raw[:MAX_PARSED_BYTES].rpartition(b"\n")[0] or raw[:MAX_PARSED_BYTES]
    parsed = message.parse_bytes(raw)  # parsed once; decoding and bounce detection share it
    decoded = message.decode_message(parsed)
    bounced = bounce.detect_bounce(parsed)
    is_auto, until = (False, None) if bounced else autoreply.detect_auto_reply(decoded)
    reply_text, trimmed = reply.trim_reply(decoded.text)

    raw_token, _ = tokens.find_token((*decoded.to, *decoded.cc, *decoded.reply_to), program_address)
    verified: str | None = None  # the ref a genuine token carries
    token: str | None = None
    if raw_token and secret is None:
        token = raw_token.lower()
    elif raw_token and secret is not None:
        verified = _verified_ref(secret, raw_token)
        token = raw_token.lower() if verified else None

    body_for_fields = reply_text
    for _name, text in decoded.attachment_texts:
        body_for_fields += "\n" + text
    # A [SL-p12] subject tag (mail.reply_token = subject) marks a reply too, for clients that
    # drop In-Reply-To; correlation believes it only where the sender is that record's contact.
    threaded = bool(
        token or decoded.in_reply_to or decoded.references or tokens.subject_tag(decoded.subject)
    )
    app_fields = forms.extract_fields(body_for_fields, form="application")
    mou_fields = forms.extract_fields(body_for_fields, form="mou") if threaded else {}
    fields = {**app_fields, **mou_fields}

    intent = intents.detect_intent(reply_text)
    command = None
    sender = decoded.from_.address
    if commands and sender and sender in {s.lower() for s in staff}:
        found = intents.detect_command(reply_text, commands, text_verbs)
        command = " ".join(part for part in found if part) if found else None

    kind = _classify(
        decoded,
        bounced=bounced is not None,
        auto=is_auto,
        command=command,
        threaded=threaded,
        withdrawal=intents.is_withdrawal(reply_text),
        app_fields=app_fields,
        letter=wants_partner(reply_text, decoded.subject),
    )
    if kind == "application":  # a letter instead of (or besides) the form fills only the gaps
        fields = fill_fields(fields, decoded.text, *(t for _n, t in decoded.attachment_texts))
    lang = language.detect_language(reply_text or decoded.text or decoded.subject)
    defects = list(decoded.defects)
    if truncated:
        defects.append("truncated:message")
    if raw_token and secret is None:
        defects.append("token-unverified")
    elif raw_token and not verified:
        defects.append("forged-token")
    if not trimmed:
        defects.append("reply-trim-kept-whole-text")
    return Facts(
        message_id=decoded.message_id,
        from_=decoded.from_,
        to=decoded.to,
        subject=decoded.subject,
        date=decoded.date,
        kind=kind,
        text=decoded.text,
        reply_text=reply_text,
        reply_trimmed=trimmed,
        language=lang,
        attachments=decoded.attachments,
        bounce=bounced,
        auto_reply=is_auto,
        auto_reply_until=until,
        token=token,
        token_forged=bool(raw_token and secret is not None and not verified),
        in_reply_to=decoded.in_reply_to,
        references=decoded.references,
        fields=fields,
        intent=intent if kind in ("reply", "unknown") else None,
        command=command,
        defects=tuple(defects),
        mailflow_own=_own(decoded, secret),
        to_addresses=decoded.to_addresses,
        cc_addresses=decoded.cc_addresses,
        reply_to_addresses=decoded.reply_to_addresses,
        body_charset=decoded.body_charset,
    )


def _verified_ref(secret: tokens.Keys, raw_token: str) -> str | None:
    """A token's ref, verified in its own namespace: a library token under the program keys,
    a staff token under the staff keys; a ref of the other namespace's shape never verifies."""
    ref = tokens.verify_token(secret, raw_token)
    if ref is not None:
        parts = tokens.parse_ref(ref)
        return ref if parts is None or not parts.staff else None
    ref = tokens.verify_token(tokens.staff_keys(secret), raw_token)
    parts = tokens.parse_ref(ref) if ref is not None else None
    return ref if parts is not None and parts.staff else None


def _own(decoded: DecodedMessage, secret: tokens.Keys | None) -> bool:
    """Our own mail come back: the origin mark verifies (without a secret: the header is there)."""
    value = decoded.header(OWN_HEADER)
    if secret is None:
        return value is not None
    return tokens.verify_origin(secret, value, decoded.message_id)


def _classify(
    decoded: DecodedMessage,
    *,
    bounced: bool,
    auto: bool,
    command: str | None,
    threaded: bool,
    withdrawal: bool,
    app_fields: dict[str, str],
    letter: bool = False,
) -> str:
    if bounced:
        return "bounce"
    if auto:
        return "auto_reply"
    if command:
        return "command"
    if withdrawal:
        return "withdrawal"
    if threaded:
        return "reply"
    if (
        len(app_fields) >= _MIN_FORM_FIELDS
        or letter
        or _APPLICATION_SUBJECT.search(decoded.subject)
    ):
        return "application"
    return "unknown"
