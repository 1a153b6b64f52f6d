"""Bounce detection: is a mail a delivery failure report, whom did it fail, and for good?

Layers, most trusted first:
1. JSON notifications of sending services (bouncejson.py): they state everything.
2. RFC 3464 / RFC 6533 status fields (dsn.py): per recipient, Original-Recipient before
   Final-Recipient; a failed block whose address is unreadable (X.400, a pipe, a local name) is
   still a failure, its address looked for in the report's text.
3. The report's prose (bouncetext.py): who sent it, its subject and opening words, the addresses
   it names, its status codes and diagnostic words.
4. flufl.bounce's detectors, for the addresses of formats the prose reading finds nothing in.
5. The returned original's To/Cc, when nothing names the failed address.
See docs/parse-bounces.md.
"""

from __future__ import annotations

import re
from email.message import Message

from flufl.bounce import all_failures

from mailflow.parse import bouncejson, bouncetext, dsn
from mailflow.parse.clean import NAMES
from mailflow.parse.facts import Bounce
from mailflow.parse.mailheaders import safe_getaddresses
from mailflow.parse.message import parse_bytes

_FLUFL_MAX_BYTES = 256 * 1024
# A Message-ID quoted in a report's text ("Message-ID: <...>", Exchange's "Original message ID").
# One "@" and possessive runs: "<a@a@a@..." must not backtrack quadratically.
_QUOTED_ID = re.compile(r"message[- _]?id\s*[:=]?\s*<([^<>\s@]++@[^<>\s@]++)>", re.I)
# Words by which receivers say they refused the content, not the address.
_SPAM_VERDICT = re.compile(
    r"\bspam\b|junk mail|content (was )?rejected|message content|unacceptable content"
    r"|blocked by (policy|filter)|policy (violation|rejection)|virus|malware|blacklist|blocklist"
    r"|spamhaus",
    re.I,
)


def detect_bounce(msg: Message | bytes) -> Bounce | None:
    """Return the failed recipients, whether it is permanent, and the returned mail's ids.

    `msg` may be raw bytes or a Message from message.parse_bytes(). Permanent and temporary
    failures in one report give the permanent ones only (a delay is not news beside them).
    `permanent` is None only for a service's JSON notification that does not say.
    """
    if isinstance(msg, bytes | bytearray):
        msg = parse_bytes(bytes(msg))
    # Most mail shows no sign of a report in its headers: only a JSON body is then looked at.
    suspect = bouncetext.may_be_bounce(msg) or any(
        p.get_content_type() in dsn.STATUS_TYPES for p in dsn.report_parts(msg)
    )
    text = bouncetext.report_text(msg) if suspect else bouncetext.json_body(msg)
    note = bouncejson.notification(text)
    if note is not None:
        if not note.bounced:
            return None
        return Bounce(
            note.recipients,
            note.permanent,
            message_ids=note.message_ids,
            statuses=note.statuses,
        )
    if not suspect:
        return None
    found = _detect(msg, text)
    return _with_references(found, msg, text) if found is not None else None


def _block_permanence(r: dsn.Recipient) -> bool | None:
    if r.temporary_action:
        return False  # "delayed": the reporter is still trying, whatever code it quotes
    if r.status:
        return r.status.startswith("5")
    if r.diagnostic and (said := bouncetext.permanence(r.diagnostic)) is not None:
        return said
    if r.action.startswith("expired"):
        return False  # gave up after retrying a passing condition
    return True if r.action.startswith(("failed", "fail", "error")) else None


def _detect(msg: Message, text: str) -> Bounce | None:
    report = msg.get_content_type() == "multipart/report"
    looks = bouncetext.looks_like_bounce(msg, text)
    blocks = dsn.recipients(msg, text_fields=looks)
    failed = [r for r in blocks if r.failed]
    if blocks and not failed and msg.get("x-failed-recipients") is None:
        return None  # every recipient delivered, relayed or expanded
    if failed:
        delivered = {r.address for r in blocks if r.address and not r.failed}
        return _from_blocks(msg, text, failed, delivered)
    report_type = str(msg.get_param("report-type", "") or "").lower() if report else ""
    if report and "delivery-status" not in report_type:
        return None  # a read receipt (MDN) or an abuse report (ARF): no delivery failure
    # A delivery-status report is a failure report even when its status part is missing or
    # names nobody (truncated, or fields only for the message).
    if not (looks or report):
        return None
    if bouncetext.is_challenge(msg, text):
        return None
    addresses = _named_addresses(msg, text)
    permanent = bouncetext.permanence(text)
    if not addresses:
        addresses, flufl_permanent = _flufl(msg)
        if permanent is None:
            permanent = flufl_permanent
    if not addresses:
        addresses = bouncetext.original_recipients(msg, _whole_text(msg))
    if not addresses and (listed := bouncetext.list_of_manager(msg)):
        addresses = [listed]  # a list refusing a post that names the list nowhere else
    if permanent is None:
        # A failure report with no code and no reason: the reporter gave up (a delay or a
        # passing condition says so, and was read above).
        permanent = True
    return Bounce(tuple(sorted(set(addresses))), permanent)


def _from_blocks(
    msg: Message, text: str, failed: list[dsn.Recipient], delivered: set[str]
) -> Bounce:
    permanent: set[str] = set()
    temporary: set[str] = set()
    unread: list[bool] = []
    context = text + "\n" + "\n".join(r.diagnostic for r in failed)
    for r in failed:
        said = _block_permanence(r)
        if said is None:
            said = bouncetext.permanence(context)
        if said is None:
            said = True  # failed, with no code and no reason: the reporter gave up
        if r.address is None:
            unread.append(said)
        else:
            (temporary if said is False else permanent).add(r.address)
    if unread:
        # Fields that name no mailbox: the addresses the text names, else the returned To.
        known = permanent | temporary | delivered
        named = [a for a in _named_addresses(msg, context) if a not in known]
        named = named or [a for a in bouncetext.original_recipients(msg) if a not in known]
        (permanent if any(s is not False for s in unread) else temporary).update(named)
    if permanent:
        return Bounce(tuple(sorted(permanent)), True)
    if temporary:
        return Bounce(tuple(sorted(temporary)), False)
    return Bounce((), any(s is not False for s in unread))


def _named_addresses(msg: Message, text: str) -> list[str]:
    """Failed addresses the report names: in its prose, else in X-Failed-Recipients (Exim).

    Where the returned original is there, addresses it was sent to are preferred: a report
    may name other parties (a forward target, a contact address for help).
    """
    found = bouncetext.text_recipients(msg, text)
    if not found:
        header = bouncetext.header_text(msg, "x-failed-recipients")
        found = [a for _, raw in safe_getaddresses([header]) if (a := dsn.clean_address(raw))]
    if len(found) > 1:
        sent_to = set(bouncetext.original_recipients(msg))
        if ours := [a for a in found if a in sent_to]:
            return ours
    return found


def _size(msg: Message) -> int:
    return sum(len(p) for part in dsn.report_parts(msg) if isinstance(p := part.get_payload(), str))


def _flufl(msg: Message) -> tuple[list[str], bool | None]:
    """flufl.bounce's verdict: (addresses, permanent). Its detectors read every body line
    many times over: not on a mail larger than any report (a returned attachment)."""
    if _size(msg) > _FLUFL_MAX_BYTES:
        return [], None
    try:
        temp_raw, perm_raw = all_failures(msg)
    except Exception:  # a detector choking on odd mail must not lose the message
        return [], None
    perm = [a for r in perm_raw if (a := dsn.clean_address(r.decode("utf-8", "replace")))]
    temp = [a for r in temp_raw if (a := dsn.clean_address(r.decode("utf-8", "replace")))]
    if perm:
        return perm, True
    return (temp, False) if temp else ([], None)


def _whole_text(msg: Message) -> str:
    """A text-only report with the returned original quoted after it (for its To line)."""
    data = msg.get_payload(decode=True) if not msg.is_multipart() else None
    return data[:200_000].decode("utf-8", "replace") if isinstance(data, bytes) else ""


def _returned_ids(msg: Message, text: str) -> tuple[str, ...]:
    """Message-IDs of the returned original: its attached headers first, then quoted in text."""
    found: list[str] = []
    original = bouncetext.original_message(msg)
    if original is not None:
        value = str(original.get("message-id", "") or "").strip()
        if m := re.fullmatch(r"<?([^<>\s@]++@[^<>\s@]++)>?", value):
            found.append(m.group(1))
    for block in dsn.status_blocks(msg):  # Gmail: X-Original-Message-ID in the status part
        if m := _QUOTED_ID.search(f"message-id: {block.get('x-original-message-id', '')}"):
            found.append(m.group(1))
    whole = _whole_text(msg) or text
    found.extend(m.group(1) for m in _QUOTED_ID.finditer(whole[:200_000]))
    return tuple(dict.fromkeys(found))


def _with_references(found: Bounce, msg: Message, text: str) -> Bounce:
    """The bounce with what ties it to a mail (returned Message-IDs) and why it failed."""
    statuses = [m.group(0) for m in dsn.STATUS.finditer(text)]
    diagnostics = text
    for block in dsn.status_blocks(msg):
        statuses += [m.group(0) for m in dsn.STATUS.finditer(str(block.get("status", "")))]
        diagnostics += "\n" + str(block.get("diagnostic-code", ""))
    return Bounce(
        found.recipients,
        found.permanent,
        message_ids=_returned_ids(msg, text),
        statuses=tuple(dict.fromkeys(statuses)),
        # Addresses and host names say nothing about a verdict ("spam@lib.example.org").
        spam_verdict=bool(_SPAM_VERDICT.search(NAMES.sub(" ", diagnostics))),
    )
