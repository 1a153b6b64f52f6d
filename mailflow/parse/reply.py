"""The new text of a reply: quoted history, signatures and disclaimers removed.

Libraries evaluated (docs/parse-replies.md has the figures): mail-parser-reply scores below these
rules on the golden set (tests/data/replies/golden); it strips every line's indentation (the form
parser needs it for wrapped values), treats any line starting with ``- `` as a signature (which
deletes bulleted forms) and knows no Chinese webmail headers. talon pulls scikit-learn, numpy and
lxml for a classifier pickled in 2017, has had no release since and scores lower still; neither
is a dependency (bench/reply_score.py compares them from a throwaway venv).

The scan is line-based with precompiled patterns (reply_patterns.py, signatures.py):

- ``>`` (also ``＞`` and an escaped ``&gt;``) and ``|`` quoted lines are never new text;
  unquoted lines between quotes are (inline answers, bottom-posting). An HTML body reaches
  here with its blockquotes already turned into ``>`` lines (htmltext.py).
- A top-posted reply ends at the first attribution ("On ... wrote:", its translations, wrapped
  over up to four lines), "Original Message"/forward separator, header block (From:/Sent:,
  translated, bold or plain; GroupWise's ``>>> ... >>>``; Lotus Notes' bare-key block),
  help-desk marker or list footer. An attribution with nothing new
  above it and a quote below it is skipped instead: the answer is below.
- Signatures follow one convention for every language (signatures.py): ``-- ``, mobile taglines,
  and a closing followed by a name are removed. Disclaimers after the text are removed.
- The writer's lines are kept as written (indentation, blank lines); only trailing spaces and
  the blank lines around removed parts go.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailflow.parse import reply_patterns as rp
from mailflow.parse.signatures import is_signature_line, is_tagline, signature_start

__all__ = ["ReplyParts", "split_reply", "trim_reply"]

_I = re.IGNORECASE

MAX_LINES = 10_000  # hostile input: a reply's new text is read from the first lines only

# A ">" that closes an address Gmail wrapped ("Anna <a@b.example\n>:") is not a quote.
_ADDRESS_CLOSE = re.compile(
    r">\s*(?:\)\s*)?(?:[:：]\s*$|(?:wrote|schrieb|a\s+écrit|escribió|escreveu|ha\s+scritto"
    r"|schreef|skrev|kirjoitti|napisał|пишет|написал|пише|写道|寫道))"
)


def _is_quoted(line: str) -> bool:
    """A ``>`` (or ``＞``) line, or a ``|`` line not also ending in ``|`` (that is a table row)."""
    text = line.lstrip(" \t")
    if text.startswith("＞"):  # Japanese clients may quote with a full-width sign
        return True
    if text.startswith("&gt;"):  # a client that escaped its quote marks twice
        return True
    if text.startswith(">"):
        return not (_ADDRESS_CLOSE.match(text[:200]) or rp.is_groupwise_header(text))
    text = text.rstrip()
    return text.startswith("|") and (text == "|" or not text.endswith("|"))


_QUOTE_MARKS = re.compile(r"^[ \t]*(?:[>＞][ \t]?)+")
_RULE = re.compile(r"^\s*(?:[_=-]{3,}|\*(?:\s*\*){2,})\s*$")
# "-----Původní zpráva-----" in a language the separator table lacks: left at the end of the new
# text when the header block below it was cut, it goes with it.
_DASHED_TITLE = re.compile(r"^\s*-{3,}[^-\n]{1,60}-{3,}\s*$")
_DISCLAIMER = re.compile(
    r"^[\s*\[【]*+(?:"
    r"(?:CONFIDENTIALITY|LEGAL)\s+(?:NOTICE|NOTE|WARNING)|CONFIDENTIALITY\s*:"
    r"|PRIVILEGED\s+(?:AND|&)\s+CONFIDENTIAL|DISCLAIMER\s*(?::|$)"
    r"|This (?:e-?mail|message|communication|transmission)\b.{0,120}\b(?:confidential|privileged"
    r"|intended (?:only|solely) for)"
    r"|The information (?:contained )?in this (?:e-?mail|message|communication)"
    r"|If you (?:are not the intended recipient|have received this (?:e-?mail|message) in error)"
    r"|免责声明|保密声明|保密提示|【保密】|本邮件(?:及其附件)?(?:含有|包含|可能包含|仅供|内容)"
    r"|此邮件(?:及其附件)?(?:含有|包含|仅供)"
    r"|AVISO (?:LEGAL|DE CONFIDENCIALIDAD)|Este (?:mensaje|correo)\b.{0,120}\bconfidencial"
    r"|AVERTISSEMENT|Ce (?:message|courriel|e-mail)\b.{0,120}\bconfidenti"
    r"|Diese E-Mail\b.{0,120}\bvertraulich|Vertraulichkeitshinweis|Haftungsausschluss"
    # "This message ... confidential" in more languages: a mail word, then the confidential
    # word within the sentence.
    r"|(?:De\s+informatie\s+(?:verzonden\s+)?(?:met|in)\s+dit|Dit|Deze|Questo|Questa|Il\s+presente|Le\s+informazioni"
    r"\s+contenute\s+in\s+questo|Esta|Este|A\s+informação\s+contida\s+nest[ae]|Ta|Niniejsza|Treść\s+tej"
    r"|Detta|Denne|Dette|Tämä|Tento|Toto|Это|Данное|Настоящее|Цей|Bu|Αυτό\s+το|Το\s+παρόν|Acest|Această"
    r"|Email\s+này|Thư\s+này|E-?mail\s+ini|Pesan\s+ini)\s+"
    r"(?:e-?mail\S*|mail\S*|messaggio|messaggi|mensagem|mensaje|correo|wiadomość|wiadomośc\S*|meddelande\S*"
    r"|e-?post\S*|besked\S*|melding\S*|sähköposti\S*|viesti\S*|zpráva|správa|сообщение|письмо"
    r"|повідомлення|лист|ileti|mesaj\S*|μήνυμα|email|e-mail)\b.{0,160}?"
    r"(?:vertrouwelijk|riservat|confidenzial|confidencial|sigilos|privilegiad|pouf|konfidentiell"
    r"|fortrolig|luottamuksellis|důvěrn|dôvern|конфиденциальн|конфіденційн|gizli|εμπιστευτικ"
    r"|confidențial|confidential|bảo\s+mật|rahasia)"
    r"|(?:本|この)(?:メール|電子メール)(?:および添付ファイル)?(?:は|には).{0,60}(?:機密|秘密)"
    # print and virus-scan notices
    r"|P?\s*Please\s+consider\s+the\s+environment\s+before\s+printing|Think\s+before\s+you\s+print"
    r"|(?:Bitte\s+)?denken\s+Sie\s+an\s+die\s+Umwelt|Pensez\s+à\s+l'environnement\s+avant\s+d'imprimer"
    r"|Antes\s+de\s+imprimir|Pensa\s+all'ambiente\s+prima\s+di\s+stampare|Denk\s+aan\s+het\s+milieu"
    r"|This\s+e-?mail\s+(?:has\s+been|was)\s+scanned\s+(?:by|for)"
    # meeting invitations pasted below the answer, privacy-law footers
    r"|Microsoft\s+Teams(?:\s+|-)(?:meeting|Besprechung|Meeting|réunion|reunión|riunione|vergadering)"
    r"|Join\s+Zoom\s+Meeting|Zoom-Meeting\s+beitreten|Join\s+with\s+Google\s+Meet"
    r"|(?:Ai\s+sensi\s+del|In\s+accordance\s+with|Conformément\s+au|De\s+acuerdo\s+con\s+(?:el|la)|Gemäß)"
    r"\b.{0,80}?\b(?:GDPR|RGPD|DSGVO|DS-GVO|2016/679|196/2003|D\.?\s?Lgs)"
    r")",
    _I,
)
# External-sender banners that mail gateways put above the text.
_BANNER = re.compile(
    r"^[\s*\[]*+(?:CAUTION|WARNING|ATTENTION|EXTERNAL(?:\s+E-?MAIL)?|\[EXTERNAL\]|ACHTUNG|VORSICHT"
    r"|ATTENZIONE|ATENCIÓN|PRECAUCIÓN|LET\s+OP|VARNING|ADVARSEL|HUOMIO|UWAGA|ВНИМАНИЕ|УВАГА|注意|警告)"
    r"[\s*\]:：!-]*(?:This|Diese|Ce|Cette|Este|Esta|Questa|Questo|Deze|Dette|Detta|Tämä|Ta|Это|Цей|此|本)?"
    r"[^\n]{0,200}\b(?:outside|extern|external|externe|externa|esterna|exterior|utanför|utenfor|uden\s+for"
    r"|ulkopuolelta|spoza|извне|внешн|ззовні|зовнішн)",
    re.IGNORECASE,
)
# Bidi controls Gmail and Outlook wrap around Hebrew and Arabic attributions and names: no text.
_BIDI = dict.fromkeys(
    map(ord, "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff")
)
_ATTR_MAX_LINES = 4  # Gmail wraps long attributions; four lines covers long names and addresses


@dataclass(frozen=True, slots=True)
class ReplyParts:
    """A reply split up: the new text, the signature cut from it, and whether anything was left."""

    text: str
    signature: str
    trimmed: bool


_SENTENCE_END = re.compile(r"[.?!:;。？！：]\W*$")


def _is_wrap_fragment(quoted: str, line: str) -> bool:
    """``line`` continues the long quoted line above it (it is not an inline answer)."""
    text = line.strip()
    return (
        bool(text)
        and len(quoted.rstrip()) >= 60
        and not _SENTENCE_END.search(quoted[-8:])
        and text[0].islower()
    )


class _Lines:
    """The message's lines with what the scan asks about them often, computed once."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.quoted = [_is_quoted(line) for line in lines]
        # A quote the replier's client re-wrapped leaves the end of a long line unquoted,
        # between two quoted lines: that fragment is quote too.
        for j in range(1, len(lines) - 1):
            if (
                self.quoted[j - 1]
                and self.quoted[j + 1]
                and _is_wrap_fragment(lines[j - 1], lines[j])
            ):
                self.quoted[j] = True
        self.attribution: dict[int, int] = {}
        # next_filled[j]: index of the first non-blank line at or after j (len(lines) if none)
        self.next_filled = [len(lines)] * (len(lines) + 1)
        for j in range(len(lines) - 1, -1, -1):
            self.next_filled[j] = j if lines[j].strip() else self.next_filled[j + 1]

    def quote_follows(self, j: int) -> bool:
        if j >= len(self.lines):
            return False
        k = self.next_filled[j]
        return k < len(self.lines) and self.quoted[k]


def _attribution_len(m: _Lines, i: int) -> int:
    """Number of lines (1-4) of an attribution starting at line i, or 0."""
    if i not in m.attribution:  # asked again for the line after a quote (inline answers)
        m.attribution[i] = _find_attribution(m, i)
    return m.attribution[i]


def _find_attribution(m: _Lines, i: int) -> int:
    lines = m.lines
    if not lines[i].strip() or len(lines[i]) > 400:
        return 0
    parts: list[str] = []
    skipped_blank = False
    for k in range(_ATTR_MAX_LINES + 1):  # + the one blank line that may be skipped
        j = i + k
        if j >= len(lines) or m.quoted[j] or len(parts) == _ATTR_MAX_LINES:
            break
        if not lines[j].strip():
            # Polymail breaks "On <date> Anna\n\n<a@b> wrote:" with a blank line.
            if skipped_blank or not parts or not rp.starts_like_attribution(parts[0]):
                break
            skipped_blank = True
            continue
        parts.append(lines[j].strip())
        if sum(map(len, parts)) > 500:
            break
        if not rp.can_end_attribution(lines[j]):
            continue
        follows = m.quote_follows(j + 1)
        if not rp.is_attribution(" ".join(parts), follows):
            if len(parts) == 1:
                return 0  # a line that could end an attribution but is none starts no wrapped one
            continue
        if len(parts) == 1:
            return k + 1
        rest = " ".join(parts[1:])
        if rp.can_start_wrapped_attribution(parts[0], rest, rp.is_attribution(rest, follows)):
            return k + 1
        return 0
    return 0


def _answer_after_quote(m: _Lines, j: int) -> bool:
    """After the quote that starts at or after line j, does the writer answer (inline replies)?"""
    lines = m.lines
    while j < len(lines) and (m.quoted[j] or not lines[j].strip() or _RULE.match(lines[j])):
        j += 1
    if j >= len(lines):
        return False
    line = lines[j]
    return not (
        _attribution_len(m, j)
        or _history_starts(lines, j)
        or is_signature_line(line)
        or _DISCLAIMER.match(line)
    )


def _header_block(lines: list[str], i: int) -> bool:
    """A From:/Sent:/To:/Subject: block (any language) starts at line i."""
    if not rp.is_header_line(lines[i]):
        return False
    if rp.is_one_line_header_block(lines[i]):
        return True
    window = lines[i : i + 7]
    headers = [line for line in window if rp.is_header_line(line) or rp.is_from_header(line)]
    # A lone "From:" could be prose ("From: 9am / To: 5pm"); a block has a sender and two more
    # headers, or one more and an address.
    # Hotmail and some webmails start the block with "Date:" and may leave out "From:".
    if not (any(rp.is_from_header(line) for line in headers) or rp.is_date_header(lines[i])):
        return False
    return len(headers) >= 3 or (len(headers) == 2 and any("@" in line for line in headers))


def _history_starts(lines: list[str], i: int) -> bool:
    line = lines[i]
    if rp.is_separator(line) or rp.is_marker(line):
        return True
    if rp.is_from_header(line) and line.lstrip().startswith("|"):
        return True
    if rp.is_groupwise_header(line) or rp.is_notes_header(lines, i):
        return True
    return _header_block(lines, i)


def _block_end(lines: list[str], i: int) -> int:
    """The line after the separator / header block starting at line i (its paragraph)."""
    end = min(len(lines), i + 12)
    j = i + 1
    while j < end and lines[j].strip():
        j += 1
    return j


def _skip_paragraph(lines: list[str], i: int) -> int:
    while i < len(lines) and lines[i].strip():
        i += 1
    return i


def _cut_disclaimer(out: list[str]) -> list[str]:
    for n, line in enumerate(out):
        if n and _DISCLAIMER.match(line) and any(x.strip() for x in out[:n]):
            return out[:n]
    return out


def _tidy(out: list[str]) -> list[str]:
    # Rules and blank lines left dangling by a cut separator, signature or disclaimer.
    end = len(out)
    while end and (not out[end - 1].strip() or _RULE.match(out[end - 1])):
        end -= 1
    start = 0
    while start < end and not out[start].strip():
        start += 1
    return out[start:end]


def split_reply(text: str) -> ReplyParts:
    """Split a reply's plain text into its new text and signature (see the module docstring)."""
    raw = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")[:MAX_LINES]
    # The scan reads the lines without bidi controls; the new text keeps them as written.
    bidi = any(chr(c) in text for c in _BIDI)
    lines = [line.translate(_BIDI) for line in raw] if bidi else raw
    m = _Lines(lines)
    out: list[str] = []
    has_content = False
    in_quote = False
    cut_at_history = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if m.quoted[i]:
            in_quote = True
            i += 1
            continue
        if in_quote and not line.strip() and out and not out[-1].strip():
            i += 1  # one blank line stands for the quote that was removed, not two
            continue
        in_quote = False
        if not has_content and _BANNER.match(line[:300]):
            i = _skip_paragraph(lines, i)  # "CAUTION: This email originated from outside ..."
            continue
        n = _attribution_len(m, i)
        if n == 1 and (at := rp.shared_attribution_start(line, m.quote_follows(i + 1))):
            out.append(line[:at].rstrip())  # "Sounds good On Wed, ... wrote:"
            break
        if n:
            if not m.quote_follows(i + n):
                cut_at_history = True
                break  # history that follows unquoted
            if has_content and not _answer_after_quote(m, i + n):
                break  # top-posted: the rest is history
            i += n  # bottom-posted or inline answers: the answer is below the quote
            continue
        if _history_starts(lines, i):
            j = _block_end(lines, i)
            if (
                not has_content
                and not rp.is_forward_separator(line)
                and m.quote_follows(j)
                and _answer_after_quote(m, j)
            ):
                i = j  # an Outlook block above a quote, the answer below it (bottom-posted)
                continue
            cut_at_history = True
            last = next((k for k in range(len(out) - 1, -1, -1) if out[k].strip()), None)
            if last is not None and _DASHED_TITLE.match(out[last]):
                del out[last:]  # the separator above the block, in a language not listed
            break  # with nothing new above it, a forward: the whole text is kept (trimmed False)
        out.append(raw[i].rstrip())
        has_content = has_content or bool(line.strip())
        i += 1
    out = _tidy(_cut_disclaimer(out))
    signature = ""
    cut = signature_start(out)
    if cut is not None:
        signature = "\n".join(out[cut:]).strip()
        out = _tidy(out[:cut])
    filled = [line for line in out if line.strip()]
    if len(filled) == 1 and not signature and is_tagline(filled[0]):
        signature, out = filled[0].strip(), []  # "Sent from my iPhone" over a quote: no answer
    new = "\n".join(out).strip()
    if not new and cut_at_history:
        # A forward (or unquoted history) with nothing above it: what was forwarded is the
        # message, and may carry a form. Apple Mail's HTML forward quotes it (a blockquote):
        # the quote marks go, so its "Name: value" lines read as a form.
        whole = text.strip()
        if any(m.quoted):
            whole = "\n".join(_QUOTE_MARKS.sub("", line) for line in whole.split("\n"))
        return ReplyParts(whole, "", False)
    if not new:
        # Only quotes: nothing new. The quote is the program's own mail; reading it would
        # take its "Reply yes if ..." for an answer.
        return ReplyParts("", signature, False)
    return ReplyParts(new, signature, True)


def trim_reply(text: str) -> tuple[str, bool]:
    """Return (the new text of a reply, True), or (text, False) when nothing new is left.

    With nothing new, text is "" for a mail of only quotes, and the whole stripped text for a
    forward or unquoted history with nothing above it (what was forwarded is the message).
    """
    parts = split_reply(text)
    return parts.text, parts.trimmed
