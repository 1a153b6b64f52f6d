"""MIME decoding: bytes -> DecodedMessage. Never raises on bad bytes; problems become defects."""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from email import errors
from email.message import Message
from email.parser import BytesParser
from email.policy import Compat32
from urllib.parse import quote, unquote_to_bytes

from mailflow.parse.charsets import (
    clean_label,
    decode_bytes,
    decode_header_value,
    unescape_surrogates,
)
from mailflow.parse.clean import (
    MAX_CONTAINERS,
    MAX_HEADERS,
    MAX_MIME_DEPTH,
    MAX_TEXT,
    cap,
    clean,
)
from mailflow.parse.facts import Address, Attachment, DecodedMessage
from mailflow.parse.htmltext import docx_text, html_to_text
from mailflow.parse.mailheaders import (
    ANGLE_ID,
    MalformedHeaderLineDefect,
    msg_id,
    named_address_list,
    parse_date,
    repair_header_block,
    sender,
)


class _RawCompat32(Compat32):
    """compat32 (tolerant, lazy, fast) but header values keep raw 8-bit as surrogates.

    Stock compat32 turns such values into Header objects that replace the bytes with U+FFFD
    (e.g. a GBK filename); keeping them lets charsets.py decode the bytes properly.
    """

    def header_fetch_parse(self, name: str, value: str) -> str:
        return value


_POLICY = _RawCompat32()


_CONTAINER = re.compile(rb"^(content-type:[ \t]*)(multipart|message)/", re.I | re.M)


def limit_containers(raw: bytes) -> tuple[bytes, bool]:
    """raw with the multipart/* and message/* parts past MAX_CONTAINERS declared as opaque
    text (text/x-nested-*: neither a body nor an attachment), and whether any were."""
    if (
        raw.count(b"ultipart/")
        + raw.count(b"ULTIPART/")
        + raw.count(b"essage/")
        + raw.count(b"ESSAGE/")
        <= MAX_CONTAINERS
    ):
        return raw, False  # the cheap count: most mail has a handful
    seen = 0

    def neutralise(found: re.Match[bytes]) -> bytes:
        nonlocal seen
        seen += 1
        if seen <= MAX_CONTAINERS:
            return found.group(0)
        return found.group(1) + b"text/x-nested-" + found.group(2) + b"-"

    limited = _CONTAINER.sub(neutralise, raw)
    return limited, seen > MAX_CONTAINERS


def parse_bytes(raw: bytes) -> Message:
    """Parse raw bytes into an email Message (header block repaired); never raises."""
    raw, too_many = limit_containers(raw)
    repaired, repairs = repair_header_block(raw)
    if too_many:
        repairs.append(errors.MessageDefect("deep-nesting:mime"))
    try:
        msg = BytesParser(policy=_POLICY).parsebytes(repaired)
    except RecursionError:
        # MIME nested past what the feedparser's recursion survives (~300 levels): keep the
        # headers (sender, subject, ids) and take the body as opaque text.
        msg = BytesParser(policy=_POLICY).parsebytes(repaired, headersonly=True)
        msg.set_type("text/plain")
        repairs.append(errors.MessageDefect("deep-nesting:mime"))
    except Exception as exc:  # the feedparser is lenient; this is a last resort
        msg = Message(policy=_POLICY)
        msg.set_payload(raw.decode("windows-1252", errors="replace"))
        repairs.append(errors.MessageDefect(f"unparseable:{type(exc).__name__}"))
    msg.defects.extend(repairs)
    _guess_boundaries(msg)
    return msg


# A delimiter line as RFC 2046 allows it (1-70 characters, no trailing space).
_DELIMITER_LINE = re.compile(rb"^--([\x21-\x7e](?:[ -~]{0,68}[\x21-\x7e])?)[ \t]*\r?$", re.M)


_GUESS_BUDGET = 12 * 1024 * 1024


def _guess_boundaries(msg: Message) -> None:
    """A multipart part without a (usable) boundary parameter is read with the first delimiter
    line of its body as its boundary; otherwise its parts and their delimiters would be one
    text (`guessed-boundary`). Nested parts too; no deeper than MAX_MIME_DEPTH."""
    stack: list[tuple[Message, int]] = [(msg, 0)]
    budget = _GUESS_BUDGET  # bytes parsed again: nested guesses must not parse 10 MB 40 times
    while stack:
        part, depth = stack.pop()
        if part.is_multipart():
            payload = part.get_payload()
            if isinstance(payload, list) and depth < MAX_MIME_DEPTH:
                stack.extend((sub, depth + 1) for sub in payload if isinstance(sub, Message))
            continue
        if part.get_content_maintype() != "multipart" or part.get_boundary():
            continue  # a boundary the body does not use: nothing better to go on
        try:  # the bytes as sent: get_payload() would decode them with the part's charset
            body = part.get_payload(decode=True)
        except Exception:  # a broken part stays as it is
            continue
        if not isinstance(body, bytes) or len(body) > budget:
            continue
        found = _DELIMITER_LINE.search(body, 0, 64 * 1024)
        if found is None:
            continue
        budget -= len(body)
        boundary = found.group(1).removesuffix(b"--")
        ctype = part.get_content_type().encode("ascii", "replace")  # digest: message/rfc822
        head = b"Content-Type: " + ctype + b'; boundary="' + boundary + b'"\r\n\r\n'
        try:
            again = BytesParser(policy=_POLICY).parsebytes(head + body)
        except (UnicodeError, RecursionError):
            continue
        if isinstance(again.get_payload(), list):
            part.set_payload(again.get_payload())
            part.set_param("boundary", boundary.decode("ascii"))
            msg.defects.append(errors.MessageDefect("guessed-boundary"))
            stack.append((part, depth))


def decode(raw: bytes) -> DecodedMessage:
    """Decode headers (RFC 2047/2231), pick the main text (HTML-only -> text), list attachments.

    Charset fallback chain: declared label (gb2312/gbk -> gb18030, big5 -> big5hkscs, ...),
    then UTF-8, then charset detection, then windows-1252 with replacement.
    """
    decoded = decode_message(parse_bytes(raw))
    if not raw or raw.isspace():  # no copy of a 20 MB mail just to test for emptiness
        return _with_defect(decoded, "empty-input")
    return decoded


def _with_defect(msg: DecodedMessage, defect: str) -> DecodedMessage:
    return replace(msg, defects=(defect, *msg.defects))


def _param(part: Message, name: str, header: str = "content-type") -> tuple[str | None, str]:
    """(charset or None, value) of a MIME parameter; RFC 2231 values come back as raw bytes.

    When a parameter is given both ways (`filename="x"; filename*=UTF-8''...`), the RFC 2231
    one wins (RFC 6266 4.3: the plain one is the fallback for old readers)."""
    raw_value = str(part.get(header, ""))
    if name not in raw_value.lower():
        return None, ""  # the common case, without parsing every parameter
    if "*1" in raw_value and (pieces := _continued(raw_value, name)) is not None:
        return pieces
    try:
        values = [v for k, v in part.get_params([], header) if k.lower() == name]
    except Exception:
        return None, ""
    value = next((v for v in values if isinstance(v, tuple)), values[0] if values else "")
    if isinstance(value, tuple):  # RFC 2231: (charset, language, latin-1 str of the bytes)
        raw = str(value[2]).encode("latin-1", "surrogateescape")
        return value[0] or "utf-8", decode_bytes(raw, value[0] or "utf-8")
    return None, str(value or "")


_PIECE = re.compile(
    r"""(?:^|;)\s*([\w.-]+)\*(\d{1,3})(\*?)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))""", re.S
)
_CHARSET_LANG = re.compile(r"^([\w.:-]*)'[\w-]*'")


def _continued(value: str, name: str) -> tuple[str | None, str] | None:
    """An RFC 2231 parameter in numbered pieces (`name*0*=utf-8''%E5...; name*1*=...`), joined
    before its %-escapes are undone: mailers cut pieces mid-character or even mid-escape, put
    the charset on every piece, mix encoded and plain pieces, or send them out of order."""
    pieces: dict[int, tuple[bool, str]] = {}
    for found in _PIECE.finditer(re.sub(r"\r?\n[ \t]", " ", value)):
        if found.group(1).lower() == name:
            text = found.group(4) if found.group(4) is not None else found.group(5)
            pieces.setdefault(int(found.group(2)), (bool(found.group(3)), text))
    if len(pieces) < 2:
        return None
    charset: str | None = None
    joined = ""
    for _, (encoded, text) in sorted(pieces.items()):
        if encoded:
            if (lead := _CHARSET_LANG.match(text)) is not None:
                charset = charset or lead.group(1) or None
                text = text[lead.end() :]
            joined += text
        else:
            joined += quote(text.encode("utf-8", "surrogateescape"), safe=" ")
    raw = unquote_to_bytes(joined)
    if charset is None and not any(encoded for encoded, _ in pieces.values()):
        return None, raw.decode("utf-8", "surrogateescape")  # plain pieces: RFC 2047 may follow
    return charset or "utf-8", decode_bytes(raw, charset or "utf-8")


def _filename(part: Message, hint: str | None) -> str | None:
    for header, name in (("content-disposition", "filename"), ("content-type", "name")):
        encoded, value = _param(part, name, header)
        if value:
            if encoded is None:  # RFC 2047 in quotes (Outlook, QQ) or raw 8-bit
                value = decode_header_value(value, hint=hint)
            value = re.split(r"[\\/]", value.strip())[-1].strip()  # "C:\fakepath\x.docx"
            if len(value) > 2 and value[0] == value[-1] == "'":
                value = value[1:-1]  # filename='x.pdf': quoted the shell's way
            return value or None
    return None


def _charset(part: Message) -> str | None:
    _, value = _param(part, "charset")
    return clean_label(unescape_surrogates(value)) if value else None


def walk(msg: Message) -> Iterator[Message]:
    """Every part, depth first, like `Message.walk` but without recursion and not below
    MAX_MIME_DEPTH (see `too_deep`)."""
    stack: list[tuple[Message, int]] = [(msg, 0)]
    while stack:
        current, depth = stack.pop()
        yield current
        payload = current.get_payload() if current.is_multipart() else None
        if isinstance(payload, list) and depth < MAX_MIME_DEPTH:
            stack.extend((sub, depth + 1) for sub in reversed(payload) if isinstance(sub, Message))


def too_deep(msg: Message) -> bool:
    """True when parts lie below MAX_MIME_DEPTH (they are not decoded)."""
    stack: list[tuple[Message, int]] = [(msg, 0)]
    while stack:
        current, depth = stack.pop()
        payload = current.get_payload() if current.is_multipart() else None
        if isinstance(payload, list) and payload:
            if depth >= MAX_MIME_DEPTH:
                return True
            stack.extend((sub, depth + 1) for sub in payload if isinstance(sub, Message))
    return False


def _leaves(part: Message) -> Iterator[tuple[Message, Message | None]]:
    """Leaf parts with their parent; message/* parts are leaves (their text is not ours).

    Parts below MAX_MIME_DEPTH are skipped: nesting that deep is an attack, not a letter.
    """
    stack: list[tuple[Message, Message | None, int]] = [(part, None, 0)]
    while stack:
        current, parent, depth = stack.pop()
        if current.get_content_maintype() == "multipart" and current.is_multipart():
            payload = current.get_payload()
            if isinstance(payload, list) and depth < MAX_MIME_DEPTH:
                stack.extend(
                    (sub, current, depth + 1)
                    for sub in reversed(payload)
                    if isinstance(sub, Message)
                )
        else:
            yield current, parent


def _unflow(text: str, delsp: bool) -> str:
    """RFC 3676 format=flowed: join soft-broken lines of the same quote depth."""
    out: list[str] = []
    buf: str | None = None
    depth_buf = 0
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        content = content[1:] if content.startswith(" ") else content  # space-stuffing
        flowed = content.endswith(" ") and content != "-- "
        if flowed and delsp:
            content = content[:-1]
        if buf is not None and depth != depth_buf:
            out.append(">" * depth_buf + (" " if depth_buf else "") + buf)
            buf = None
        buf, depth_buf = (buf or "") + content, depth
        if not flowed:
            out.append(">" * depth + (" " if depth else "") + buf)
            buf = None
    if buf is not None:
        out.append(">" * depth_buf + (" " if depth_buf else "") + buf)
    return "\n".join(out)


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([\w.:-]+)""", re.I)


def _part_text(part: Message, data: bytes, defects: list[str]) -> str:
    if len(data) > 4 * MAX_TEXT:  # a 30 MB text part: decode no more than can be kept
        data = data[: 4 * MAX_TEXT].rpartition(b"\n")[0] or data[: 4 * MAX_TEXT]
        defects.append("truncated:text")
    label = _charset(part)
    if label is None and part.get_content_subtype() == "html":
        meta = _META_CHARSET.search(data[:4096])
        label = clean_label(meta.group(1).decode("ascii")) if meta else None
    text = decode_bytes(data, label, defects)
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # NUL: clean() records it
    if _param(part, "format")[1].lower() == "flowed":
        text = _unflow(text, _param(part, "delsp")[1].lower() == "yes")
    return text


# Transfer encodings as mailers misspell them ("base-64", "quoted_printable", " BASE64 "); the
# feedparser decodes only the exact names and hands anything else over still encoded.
_CTE_TYPO = re.compile(
    r"^[\W_]*(?:(?P<b64>base[\W_]*64)|(?P<qp>quoted[\W_]*printable|q[\W_]*p))[\W_]*$", re.I
)


def _fix_transfer_encoding(part: Message) -> None:
    cte = part.get("content-transfer-encoding")
    if cte is None:
        return
    value = str(cte)
    if value in ("7bit", "8bit", "base64", "quoted-printable", "binary"):
        return
    typo = _CTE_TYPO.match(value)
    if typo:
        part.replace_header(
            "content-transfer-encoding", "base64" if typo.group("b64") else "quoted-printable"
        )


def _payload(part: Message) -> bytes:
    """Decoded payload bytes; called once per part (a 20 MB attachment is decoded once)."""
    try:
        _fix_transfer_encoding(part)
        data = part.get_payload(decode=True)
        if isinstance(data, bytes):
            return data
        payload = part.get_payload()  # message/* parts hold Message objects
        subs = payload if isinstance(payload, list) else [payload]
        return b"".join(sub.as_bytes() for sub in subs if isinstance(sub, Message))
    except Exception:
        return b""


def _is_attachment(part: Message, filename: str | None) -> bool:
    ctype = part.get_content_type()
    maintype = "text" if ctype.startswith("multipart/") else ctype.split("/")[0]
    try:
        disposition = part.get_content_disposition()
    except Exception:
        disposition = None
    return disposition == "attachment" or bool(filename) or maintype != "text"


def _charset_hint(msg: Message) -> str | None:
    """Raw 8-bit headers are usually in the body's charset; use it as a decoding hint."""
    return next((c for p in walk(msg) if (c := _charset(p)) and c not in ("us-ascii",)), None)


# Built-in table only (MimeTypes() does not read /etc/mime.types): the same name everywhere.
_TYPES = mimetypes.MimeTypes()
_EXTENSIONS = {
    "message/delivery-status": ".txt",
    "message/disposition-notification": ".txt",
    "text/rfc822-headers": ".txt",
    "text/calendar": ".ics",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
}


def unnamed(n: int, content_type: str) -> str:
    """The stable name of an unnamed part: `part-<n><ext>`, n its 1-based place among the
    message's leaf parts (depth first, as every MIME reader walks them), ext from its type."""
    if content_type == "application/ms-tnef":
        return "winmail.dat"  # Outlook's one name for it, which every reader shows
    ext = _EXTENSIONS.get(content_type) or _TYPES.guess_extension(content_type, strict=False)
    return f"part-{n}{ext or '.bin'}"


def _listed(msg: Message, hint: str | None) -> Iterator[tuple[Message, Message | None, str | None]]:
    """Leaf parts with their parent and, for attachments, their name (given or `unnamed`);
    the name is None for the parts that are the message's text."""
    for n, (part, parent) in enumerate(_leaves(msg), 1):
        filename = _filename(part, hint)
        if _is_attachment(part, filename):
            yield part, parent, filename or unnamed(n, part.get_content_type())
        else:
            yield part, parent, None


def attachment(raw: bytes, n: int) -> tuple[Attachment, bytes] | None:
    """The n-th attachment of a mail, numbered as `DecodedMessage.attachments`, and its bytes."""
    msg = parse_bytes(raw)
    parts = [(p, f) for p, _, f in _listed(msg, _charset_hint(msg)) if f is not None]
    if not 0 <= n < len(parts):
        return None
    part, filename = parts[n]
    data = _payload(part)
    return Attachment(filename, part.get_content_type(), len(data)), data


@dataclass
class _Body:
    text: str = ""
    html: str | None = None
    charset: str = ""  # declared charset of the part the text came from
    attachments: list[Attachment] = field(default_factory=list)
    attachment_texts: list[tuple[str, str]] = field(default_factory=list)


def _body(msg: Message, hint: str | None, defects: list[str]) -> _Body:
    out = _Body()
    text_parts: list[str] = []
    text_parent: Message | None = None
    html_charset = ""
    for part, parent, filename in _listed(msg, hint):
        ctype = part.get_content_type()
        if filename is not None:
            data = _payload(part)
            out.attachments.append(Attachment(filename, ctype, len(data)))
            lower = filename.lower()
            if ctype == "text/plain" or lower.endswith(".txt"):
                out.attachment_texts.append((filename, _part_text(part, data, defects)))
            elif (lower.endswith(".docx") or ctype.endswith("wordprocessingml.document")) and (
                extracted := docx_text(data)
            ) is not None:
                out.attachment_texts.append((filename, extracted))
        elif ctype in ("text/plain", "text/html") or ctype.startswith("multipart/"):
            if ctype == "text/html":
                if out.html is None:
                    out.html = _part_text(part, _payload(part), defects)
                    html_charset = _charset(part) or ""
            elif not text_parts:
                text_parts.append(_part_text(part, _payload(part), defects))
                text_parent = parent
                out.charset = _charset(part) or ""
            elif (
                parent is not None
                and parent is text_parent
                and parent.get_content_subtype() == "mixed"
            ):
                # Apple Mail splits one body around inline images into sibling text parts.
                text_parts.append(_part_text(part, _payload(part), defects))
    out.text = "\n".join(text_parts).strip()
    if not out.text and out.html:
        out.text = html_to_text(out.html)
        out.charset = html_charset
    return out


def _defect_names(msg: Message) -> list[str]:
    names: list[str] = ["deep-nesting:mime"] if too_deep(msg) else []
    for part in walk(msg):
        for defect in getattr(part, "defects", []):
            if type(defect) is errors.MessageDefect and defect.args:
                names.append(str(defect.args[0]))
            elif isinstance(defect, MalformedHeaderLineDefect):
                names.append("malformed-header-line")
            else:
                names.append(type(defect).__name__)
    return names


def decode_message(msg: Message) -> DecodedMessage:
    """Decode an already parsed Message (see parse_bytes); never raises."""
    try:
        return _decode_message(msg)
    except Exception as exc:  # every step is guarded; this keeps the promise if one is not
        return DecodedMessage(
            None, Address(""), (), (), (), "", None, None, (), (), "", None, (), (),
            (f"decode-error:{type(exc).__name__}",),
        )  # fmt: skip


def _decode_message(msg: Message) -> DecodedMessage:
    defects: list[str] = []
    hint = _charset_hint(msg)
    raw_headers = [(str(k).strip().lower(), str(v)) for k, v in msg.raw_items()]
    first: dict[str, str] = {}
    for key, value in raw_headers:
        first.setdefault(key, value)
    if len(raw_headers) > MAX_HEADERS:
        defects.append("too-many-headers")
        raw_headers = raw_headers[:MAX_HEADERS]
    headers = tuple(
        (key, decode_header_value(value, defects, key, hint).strip()) for key, value in raw_headers
    )
    message_id = msg_id(unescape_surrogates(first.get("message-id", "")))
    if message_id is None:
        defects.append("no-message-id")
    try:
        body = _body(msg, hint, defects)
    except Exception as exc:  # a body we cannot walk still leaves the headers usable
        defects.append(f"body-error:{type(exc).__name__}")
        body = _Body()
    text, html, attachments, attachment_texts = (
        body.text, body.html, body.attachments, body.attachment_texts
    )  # fmt: skip
    if not text.strip():
        defects.append("empty-body")
    subject = decode_header_value(first.get("subject", ""), defects, "subject", hint)
    in_reply_to = first.get("in-reply-to")
    refs = unescape_surrogates(first.get("references", ""))
    from_ = sender(first.get("from"), hint, defects)

    def line(value: str | None, field: str) -> str:
        return clean(value or "", field, defects)

    def ids(value: str | None, field: str) -> str | None:
        # Kept as sent (the raw bytes stay in the inbox); only what cannot be stored goes.
        return line(value, field) or None if value else None

    def named(field: str) -> tuple[Address, ...]:
        found = named_address_list(first.get(field), hint, field, defects)
        return tuple(Address(line(a.address, field), line(a.name, field)) for a in found)

    to, cc, reply_to = named("to"), named("cc"), named("reply-to")

    return DecodedMessage(
        message_id=ids(message_id, "message-id"),
        from_=Address(line(from_.address, "from"), line(from_.name, "from")),
        to=tuple(a.address for a in to),
        cc=tuple(a.address for a in cc),
        reply_to=tuple(a.address for a in reply_to),
        subject=" ".join(line(subject, "subject").split()),
        date=parse_date(first.get("date"), defects),
        in_reply_to=ids(msg_id(unescape_surrogates(in_reply_to)), "in-reply-to")
        if in_reply_to
        else None,
        references=tuple(
            r for r in (ids(r, "references") for r in ANGLE_ID.findall(refs) or refs.split()) if r
        ),
        headers=tuple((line(k, "headers"), line(v, "headers")) for k, v in headers),
        text=clean(cap(text, "text", defects), "text", defects, multiline=True),
        html=clean(cap(html, "html", defects), "html", defects, multiline=True)
        if html is not None
        else None,
        attachments=tuple(
            replace(a, filename=line(a.filename, "filename")) if a.filename else a
            for a in attachments
        ),
        attachment_texts=tuple(
            (
                line(name, "filename"),
                clean(cap(body, "attachment", defects), "attachment", defects, multiline=True),
            )
            for name, body in attachment_texts
        ),
        defects=tuple(dict.fromkeys([*defects, *_defect_names(msg)])),
        to_addresses=to,
        cc_addresses=cc,
        reply_to_addresses=reply_to,
        body_charset=line(body.charset, "body-charset"),
    )
