"""Signed reply tokens carried in the reply address: ``sisters+p42.k3j5x0abcd@program.example``.

A token is ``ref.sig`` where ``ref`` names a record (``p42`` a partnership, ``l7`` a library) and
``sig`` is the start of an HMAC over it, so a token cannot be guessed or moved to another record.
Everything is lower-case [a-z0-9.] so it survives in an e-mail local part and through MTAs that
lower-case addresses.

Keys rotate: the current secret signs; verification also accepts the retired keys still within
their grace period. Callers pass every key that may verify (``Keys``), current first.

Two namespaces (``parse_ref``):
- library tokens, under the program secret: ``l7``, ``p42l7`` (library 7's side of partnership
  42: one side can never answer for the other), ``p42`` (a mail to both sides), ``k3`` (a
  library's confirmation), ``b12`` (the return path of outbox row 12: VERP, bounces only);
- staff tokens, under a key of their own (``staff_key``): ``<record>s<member>e<day>``, e.g.
  ``p42skq3ae20600``: the record (or none), the staff member it was sent to (``member_tag``) and
  the day it expires (days since 1970-01-01). A library's token never verifies as a staff token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mailflow.parse.mailheaders import safe_getaddresses

__all__ = [
    "SIG_LENGTH",
    "SUBJECT_TAG",
    "Keys",
    "Ref",
    "find_token",
    "make_token",
    "member_tag",
    "origin_mark",
    "parse_ref",
    "staff_key",
    "staff_keys",
    "staff_ref",
    "subject_tag",
    "tag_subject",
    "verify_origin",
    "verify_token",
]

# One key, or the keys that verify (the current one and retired ones still in their grace).
Keys = bytes | Sequence[bytes]

SIG_LENGTH = 10  # 10 base32 characters = 50 bits: far beyond guessing by mail
_REF_RE = re.compile(r"[a-z0-9]{1,32}")
_TOKEN_RE = re.compile(rf"([a-z0-9]{{1,32}})\.([a-z2-7]{{{SIG_LENGTH}}})")


# Where sub-addressing does not reach the mailbox (mail.reply_token = subject), the record a mail
# is about travels in its subject as ``[SL-p12]``. Unsigned: a hint, never proof (docs/security.md).
SUBJECT_TAG = "SL"
_SUBJECT_TAG_RE = re.compile(
    rf"\[{SUBJECT_TAG}-([a-z][0-9]{{1,12}}(?:l[0-9]{{1,9}})?)\]", re.IGNORECASE
)


def tag_subject(subject: str, ref: str) -> str:
    """The subject with its ``[SL-ref]`` tag (once, however often it is answered)."""
    tag = f"[{SUBJECT_TAG}-{ref}]"
    return subject if tag.lower() in subject.lower() else f"{subject} {tag}".strip()


def subject_tag(subject: str) -> str | None:
    """The ref a subject's last ``[SL-ref]`` tag names (lower-case), or None."""
    found = _SUBJECT_TAG_RE.findall(subject or "")
    return found[-1].lower() if found else None


def _signature(secret: bytes, ref: str) -> str:
    digest = hmac.new(secret, ref.encode("ascii"), hashlib.sha256).digest()
    return base64.b32encode(digest).decode("ascii").rstrip("=").lower()[:SIG_LENGTH]


def make_token(secret: bytes, ref: str) -> str:
    """Return ``ref.sig`` for a short ascii ref such as ``"p42"`` ([a-z0-9] only)."""
    if not _REF_RE.fullmatch(ref):
        raise ValueError(f"token ref must be 1-32 characters of [a-z0-9], got {ref!r}")
    return f"{ref}.{_signature(secret, ref)}"


def _each(keys: Keys) -> Sequence[bytes]:
    return (keys,) if isinstance(keys, bytes) else keys


def verify_token(keys: Keys, token: str) -> str | None:
    """Return the ref of a genuine token, or None if it is malformed or no key signed it."""
    # Some MTAs lower- or upper-case local parts; the alphabet is case-free by design.
    m = _TOKEN_RE.fullmatch(token.strip().lower())
    if not m:
        return None
    ref, sig = m.groups()
    # Every key is tried (no early exit), so timing does not tell which key signed.
    good = [hmac.compare_digest(sig, _signature(key, ref)) for key in _each(keys)]
    return ref if any(good) else None


# -- what a ref names -----------------------------------------------------------------------------
_LIBRARY_REF = re.compile(r"([npclkb])(\d{1,9})(?:l(\d{1,9}))?")
_STAFF_REF = re.compile(r"(?:([npcl])(\d{1,9}))?s([a-z2-7]{4})e(\d{1,6})")
_STAFF_LABEL = b"mailflow staff reply tokens v1"


@dataclass(frozen=True)
class Ref:
    """What a verified token names: a record kind letter and id, the library's side, and for
    staff tokens the member and expiry day (days since 1970-01-01)."""

    kind: str | None  # p partnership, l library, n item, c staff confirmation, k library's, b VERP
    id: int | None
    side: int | None = None  # the library a partnership token was sent to
    member: str | None = None  # staff tokens only: member_tag of the staff member
    expires_day: int | None = None

    @property
    def staff(self) -> bool:
        return self.member is not None


def parse_ref(ref: str) -> Ref | None:
    """The parts of a token's ref (either namespace), or None for a ref of no known shape."""
    if m := _LIBRARY_REF.fullmatch(ref):
        kind, number, side = m.groups()
        if side is not None and kind != "p":
            return None
        return Ref(kind, int(number), int(side) if side else None)
    if m := _STAFF_REF.fullmatch(ref):
        kind, number, member, day = m.groups()
        return Ref(kind, int(number) if number else None, None, member, int(day))
    return None


def staff_key(secret: bytes) -> bytes:
    """The staff tokens' own key, derived from the program secret under a label of its own."""
    return hmac.new(secret, _STAFF_LABEL, hashlib.sha256).digest()


def staff_keys(keys: Keys) -> list[bytes]:
    """The staff keys that verify, one per program key (current first, then retired ones)."""
    return [staff_key(key) for key in _each(keys)]


def member_tag(address: str) -> str:
    """Four characters naming a staff member in a token (from the address, case-free)."""
    digest = hashlib.sha256(address.strip().lower().encode("utf-8")).digest()
    return base64.b32encode(digest).decode("ascii")[:4].lower()


def staff_ref(record_ref: str | None, address: str, expires_day: int) -> str:
    """The ref of a staff token: the record (or none), the member, the last day it acts."""
    return f"{record_ref or ''}s{member_tag(address)}e{expires_day}"


def _addr_specs(value: str) -> list[str]:
    # Accept bare addresses as well as header values ("Name <a@b>, c@d").
    return [addr for _name, addr in safe_getaddresses([value]) if addr]


def find_token(addresses: Iterable[str], program_address: str) -> tuple[str | None, str | None]:
    """Find ``local+TOKEN@domain`` among ``addresses`` where ``local@domain`` is the program address.

    Returns (the raw token text, lower-cased, the address it was found in), or (None, None).
    The first match wins. The token is not verified here: see ``verify_token``.
    """
    program = program_address.strip().lower()
    if "@" not in program:
        return None, None
    p_local, p_domain = program.rsplit("@", 1)
    for value in addresses:
        for addr in _addr_specs(value):
            addr = addr.strip().lower()
            if "@" not in addr:
                continue
            local, domain = addr.rsplit("@", 1)
            base, sep, tag = local.partition("+")
            if sep and tag and base == p_local and domain == p_domain:
                return tag, addr
    return None, None


def _origin_mac(secret: bytes, message_id: str) -> str:
    # A namespace of its own: an origin mark is never a valid reply-token signature.
    msg = b"x-mailflow-origin\x00" + message_id.strip().strip("<>").encode("utf-8", "replace")
    return base64.b32encode(hmac.new(secret, msg, hashlib.sha256).digest()[:20]).decode().lower()


def origin_mark(domain: str, secret: bytes, message_id: str) -> str:
    """The X-Mailflow-Origin value of our mail: ``<domain>; <HMAC over its Message-ID>``."""
    return f"{domain}; {_origin_mac(secret, message_id)}"


def verify_origin(keys: Keys, value: str | None, message_id: str | None) -> bool:
    """Whether an X-Mailflow-Origin value is our own mark for this Message-ID (not just named)."""
    if not value or not message_id:
        return False
    _domain, sep, mac = value.rpartition(";")
    mac = mac.strip().lower()
    return bool(sep) and any(
        [hmac.compare_digest(mac, _origin_mac(key, message_id)) for key in _each(keys)]
    )
