"""Is a mail authenticated for its From address? DKIM verified here, or a trusted host's verdict.

Two ways count, both DMARC-aligned with the From domain:
- a DKIM signature whose `d=` domain aligns with the From domain, verified with `dkimpy`. The DNS
  lookup is passed in (`dnsfunc`), so this module does no I/O of its own: the composition root
  hands it dkimpy's resolver, tests a function that returns the test key;
- the topmost `Authentication-Results` header, written by a receiving host the operator trusts
  (its authserv-id), saying `dmarc=pass` for the From domain or an aligned `dkim=pass`. Only the
  topmost counts: headers below it were written before our trusted host saw the mail, by anyone.
"""

from __future__ import annotations

import email
import re
from collections.abc import Callable, Collection
from email.message import Message

__all__ = ["DnsFunc", "aligned", "authenticated_by"]

DnsFunc = Callable[..., bytes | str | None]

_COMMENT = re.compile(r"\([^()]*\)")
_TAG = re.compile(rb"(?:^|;)\s*d\s*=\s*([^;\s]+)", re.IGNORECASE)


def aligned(domain: str, from_domain: str) -> bool:
    """Relaxed alignment, simply: the same domain, or one a parent of the other (never a TLD)."""
    d, f = domain.strip().lower().rstrip("."), from_domain.strip().lower().rstrip(".")
    if not d or not f:
        return False
    if d == f:
        return True
    shorter, longer = (d, f) if len(d) < len(f) else (f, d)
    return "." in shorter and longer.endswith("." + shorter)


def authenticated_by(
    raw: bytes,
    from_address: str,
    *,
    dnsfunc: DnsFunc | None,
    trusted_authserv_ids: Collection[str] = (),
) -> str | None:
    """How the mail is authenticated for `from_address` (words for the history), or None."""
    from_domain = from_address.rpartition("@")[2].lower()
    if not from_domain:
        return None
    msg = email.message_from_bytes(raw)
    if dnsfunc is not None:
        how = _dkim(raw, msg, from_domain, dnsfunc)
        if how:
            return how
    return _authentication_results(msg, from_domain, trusted_authserv_ids)


def _dkim(raw: bytes, msg: Message, from_domain: str, dnsfunc: DnsFunc) -> str | None:
    signatures = msg.get_all("DKIM-Signature") or []
    for index, value in enumerate(signatures):
        found = _TAG.search(re.sub(rb"\s+", b"", str(value).encode("ascii", "replace")))
        domain = found.group(1).decode("ascii", "replace") if found else ""
        if not aligned(domain, from_domain):
            continue
        import dkim  # here: most mail carries no aligned signature, and most workers verify none

        try:
            ok = dkim.DKIM(raw).verify(idx=index, dnsfunc=dnsfunc)
        except Exception:  # noqa: BLE001 - any broken signature or key is simply not a pass
            ok = False
        if ok:
            return f"dkim d={domain} verified"
    return None


def _authentication_results(msg: Message, from_domain: str, trusted: Collection[str]) -> str | None:
    headers = msg.get_all("Authentication-Results") or []
    if not headers or not trusted:
        return None
    # Only the topmost: the header our trusted receiving host added last, above all others.
    value = _COMMENT.sub(" ", " ".join(str(headers[0]).split()))
    authserv, *results = [part.strip() for part in value.split(";")]
    authserv_id = authserv.split()[0].lower() if authserv.split() else ""
    if authserv_id not in {t.strip().lower() for t in trusted}:
        return None
    for result in results:
        words = result.split()
        if not words or "=" not in words[0]:
            continue
        method, _, verdict = words[0].lower().partition("=")
        props = dict(w.lower().split("=", 1) for w in words[1:] if "=" in w)
        if verdict != "pass":
            continue
        if method == "dmarc" and props.get("header.from", "").strip('"') == from_domain:
            return f"{authserv_id}: dmarc=pass"
        if method == "dkim":
            signer = props.get("header.d") or props.get("header.i", "").rpartition("@")[2]
            if aligned(signer, from_domain):
                return f"{authserv_id}: dkim=pass d={signer}"
    return None
