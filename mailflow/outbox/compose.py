"""Turn a rendered mail into the exact bytes the outbox stores and the drainer sends.

The bytes are final: a retry sends them unchanged, so the Message-ID is fixed here (derived
from the outbox key by `make_message_id`) and never regenerated later.

The message is written directly rather than through `email.message.EmailMessage`: its
header objects cost ~4 ms a mail, more than sending it. What we emit is a small, fixed shape
(one text part, or text + HTML alternatives) and the tests parse it back with the stdlib.
"""

from __future__ import annotations

import binascii
import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from email.errors import HeaderParseError
from email.header import Header, decode_header, make_header
from email.utils import format_datetime
from types import MappingProxyType

from mailflow.parse.tokens import origin_mark

CRLF = "\r\n"
LINE = 78  # RFC 5322's recommended line length; folding keeps headers under it

# Recipients' clients thread on a handful of recent ids; very long References headers get
# truncated or rejected by some MTAs, so keep the root-most context only via the last ids.
MAX_REFERENCES = 20

_NO_HEADERS: Mapping[str, str] = MappingProxyType({})
_ATOMS = re.compile(r"^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ ]+$")  # display names that need no quotes
_NAME_ADDR = re.compile(r"\s*(.*?)\s*<([^<>]*)>\s*")
_ADDR_SPEC = re.compile(r"[^\s<>(),;:@\"]+@[A-Za-z0-9.\-\[\]:]+")  # plus isascii(): no SMTPUTF8
# RFC 6531/6532: a UTF-8 local part (李明@图书馆.中国); the mail then needs SMTPUTF8.
_UTF8_ADDR_SPEC = re.compile(r"[^\s<>(),;:@\"\\\x00-\x1f\x7f]+@[^\s<>(),;:@\"\\\x00-\x1f\x7f\[\]]+")
_FIELD_NAME = re.compile(r"^[!-9;-~]+$")  # RFC 5322 ftext: printable ASCII except ':'
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]+")  # outside dot-atom-text
# Headers compose() owns; an extra header with one of these names would make a second copy.
_OWN = frozenset(
    {
        "from",
        "to",
        "cc",
        "subject",
        "date",
        "message-id",
        "in-reply-to",
        "references",
        "reply-to",
        "auto-submitted",
        "x-auto-response-suppress",
        "x-mailflow-origin",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
    }
)


def _checked(name: str, value: str) -> str:
    # A CR or LF in a header value would let user input start a new header (or the body).
    if "\r" in value or "\n" in value or "\x00" in value:
        raise ValueError(f"header injection in {name}")
    return value


def header_text(value: str) -> str:
    """Text as a reader would see it, RFC 2047 encoded words decoded.

    Library text may hold encoded words (`=?utf-8?b?5p2t5bee?=` typed into a form, or copied
    from a subject); copied verbatim into our headers, a mail client would decode them there,
    showing whatever (CR, LF, other headers' look-alikes) they carry under our name.
    """
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except (LookupError, UnicodeError, HeaderParseError):
        return value  # undecodable: compose() wraps it whole in an encoded word of its own


def _bare_id(name: str, value: str) -> str:
    value = _checked(name, value).strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1]
    if not value or not value.isascii() or any(c in value for c in "<> \t"):
        raise ValueError(f"malformed message id in {name}: {value!r}")
    return value


def wire_address(address: str) -> str:
    """The address as it travels: an IDN domain as A-labels (xn--) when the local part is
    ASCII, so no SMTPUTF8 is needed; a UTF-8 local part is kept as is (SMTPUTF8 only then)."""
    local, at, domain = address.strip().rpartition("@")
    if not at or domain.isascii() or not local.isascii():
        return address.strip()
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError:
        return address.strip()  # compose() refuses it, with the reason


def make_message_id(outbox_key: str, domain: str) -> str:
    """A Message-ID (without angle brackets) that is the same every time for one key.

    The readable part is the key with unsafe characters replaced; the hash of the whole key
    keeps two keys that sanitise or truncate alike from colliding.
    """
    _checked("outbox_key", outbox_key)
    domain = _checked("domain", domain).strip().strip(".")
    if not domain or _ID_UNSAFE.search(domain):
        raise ValueError(f"bad domain for a Message-ID: {domain!r}")
    readable = _ID_UNSAFE.sub("-", outbox_key).strip(".-")[:40].strip(".-") or "x"
    readable = re.sub(r"\.{2,}", ".", readable)  # dot-atom: no empty atoms
    digest = hashlib.sha256(f"{outbox_key}\x00{domain}".encode()).hexdigest()[:12]
    return f"mailflow.{readable}.{digest}@{domain}"


def compose(
    *,
    sender: str,
    to: Sequence[str],
    cc: Sequence[str] = (),
    subject: str,
    text: str,
    html: str | None,
    message_id: str,
    date: datetime,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    reply_to: str | None = None,
    auto_submitted: bool = True,
    origin: str,
    origin_secret: bytes | None = None,
    extra_headers: Mapping[str, str] = _NO_HEADERS,
) -> bytes:
    """The wire bytes (CRLF) of one outgoing mail: text/plain, or multipart/alternative.

    The same arguments always give the same bytes (the MIME boundary derives from the id).
    """
    if not to:
        raise ValueError("a mail needs at least one To address")
    if date.tzinfo is None:
        raise ValueError("date must be timezone-aware")
    mid = _bare_id("Message-ID", message_id)
    headers = [
        _addresses("From", [sender]),
        _addresses("To", to),
    ]
    if cc:
        headers.append(_addresses("Cc", cc))
    if reply_to:
        headers.append(_addresses("Reply-To", [reply_to]))
    headers.append(_unstructured("Subject", subject))
    headers.append(f"Date: {format_datetime(date)}")
    headers.append(f"Message-ID: <{mid}>")
    if in_reply_to:
        headers.append(f"In-Reply-To: <{_bare_id('In-Reply-To', in_reply_to)}>")
    refs = [f"<{_bare_id('References', r)}>" for r in references if r and r.strip()]
    if refs:
        headers.append(_fold("References", refs[-MAX_REFERENCES:], " "))
    if auto_submitted:
        # RFC 3834: well-behaved responders stay silent. Exchange ignores it and wants its own
        # header; "OOF, AutoReply" rather than "All", because "All" also asks it to suppress
        # non-delivery reports, and bounces are how we learn an address is dead.
        headers.append("Auto-Submitted: auto-generated")
        headers.append("X-Auto-Response-Suppress: OOF, AutoReply")
    # Signed over the Message-ID, so mailflow drops only its own mail coming back, never a
    # stranger's mail that merely carries the header.
    mark = origin_mark(origin, origin_secret, mid) if origin_secret is not None else origin
    headers.append(_unstructured("X-Mailflow-Origin", mark))
    for name, value in extra_headers.items():
        if not _FIELD_NAME.match(name):
            raise ValueError(f"bad header name {name!r}")
        if name.lower() in _OWN:
            raise ValueError(f"header {name} is set by compose(); pass it as an argument")
        headers.append(_unstructured(name, value))
    headers.append("MIME-Version: 1.0")

    if html is None:
        parts = [*headers, *_text_part("plain", text)]
        return _encoded(CRLF.join(parts))
    boundary = "=_mailflow_" + hashlib.sha256(mid.encode()).hexdigest()[:24]
    # "=_" cannot occur in quoted-printable output, so the boundary never collides with a body.
    parts = [
        *headers,
        f'Content-Type: multipart/alternative;{CRLF} boundary="{boundary}"',
        "",
        f"--{boundary}",
        *_text_part("plain", text),
        f"--{boundary}",
        *_text_part("html", html),
        f"--{boundary}--",
        "",
    ]
    return _encoded(CRLF.join(parts))


def _encoded(message: str) -> bytes:
    # ASCII but for a UTF-8 address (RFC 6532), the one thing that cannot be encoded-word'ed.
    return message.encode("utf-8")


def _text_part(subtype: str, body: str) -> list[str]:
    # Quoted-printable keeps the UTF-8 body 7-bit clean for old relays and still readable.
    data = body.replace("\r\n", "\n").replace("\r", "\n")
    if not data.endswith("\n"):
        data += "\n"
    encoded = binascii.b2a_qp(data.encode("utf-8"), istext=True).decode("ascii")
    return [
        f'Content-Type: text/{subtype}; charset="utf-8"',
        "Content-Transfer-Encoding: quoted-printable",
        "",
        encoded.replace("\n", CRLF),  # ends with CRLF; the join adds the delimiter's own CRLF
    ]


def _addresses(name: str, values: Sequence[str]) -> str:
    rendered = []
    for value in values:
        # One address per item, so a display name may hold a comma ("Lopez, Maria <m@x>").
        match = _NAME_ADDR.fullmatch(_checked(name, value))
        display, spec = match.groups() if match else ("", value.strip())
        if len(display) > 1 and display[0] == display[-1] == '"':
            display = display[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        spec = wire_address(spec)
        pattern = _ADDR_SPEC if spec.isascii() else _UTF8_ADDR_SPEC
        if not pattern.fullmatch(spec) or "\ufffd" in spec:
            raise ValueError(f"bad address in {name}: {spec!r}")
        rendered.append(f"{_display_name(name, display)} <{spec}>" if display else spec)
    return _fold(name, rendered, ", ")


def _display_name(name: str, display: str) -> str:
    display = _checked(name, header_text(display))
    if not display.isascii() or "=?" in display:
        # RFC 2047 encoded words (e.g. =?utf-8?b?546L5Li9?=), folded between words if long.
        return Header(display, "utf-8").encode(linesep=CRLF)
    if _ATOMS.match(display):
        return display
    escaped = display.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _unstructured(name: str, value: str) -> str:
    # Checked before and after decoding: an encoded word may carry a CR or LF too.
    value = _checked(name, header_text(_checked(name, value)))
    if not value.isascii() or "=?" in value:
        return f"{name}: " + Header(value, "utf-8", header_name=name).encode(linesep=CRLF)
    return _fold(name, value.split(" "), " ")


def _fold(name: str, items: Sequence[str], sep: str) -> str:
    """`name: item<sep>item...`, breaking the line before an item that would pass LINE."""
    out = f"{name}:"
    for n, item in enumerate(items):
        current = len(out) - out.rfind("\n") - 1  # items may already span lines
        if n and current + len(sep) + len(item) > LINE:
            out += sep.rstrip() + CRLF + " " + item  # unfolding gives back exactly `sep`
        else:
            out += (sep if n else " ") + item
    return out
