"""The new text of a reply: quoted history, signatures and disclaimers removed.

mail-parser-reply was evaluated and not used: it strips every line's indentation (which the form
parser needs for wrapped values), treats any line starting with ``- `` as the start of a
signature (which deletes bulleted forms), misses QQ Mail, Foxmail and 163 headers, and keeps
``>`` lines that have no attribution above them. Its header patterns informed the ones below.

The scan is line-based with precompiled patterns. A top-posted reply ends at the first
attribution line ("On ... wrote:", "在 ... 写道：") or history block (``-----Original Message-----``,
``From:/Sent:``, ``发件人:/发送时间:``). When nothing precedes the attribution and the quote is
``>``-prefixed (bottom-posting, inline answers), the unquoted lines after it are the new text.
"""

from __future__ import annotations

import re

__all__ = ["trim_reply"]

_I = re.IGNORECASE

_QUOTED = re.compile(r"^[ \t]*>")

# Attribution lines, one per client family. Gmail wraps long ones over two or three lines.
_ATTRIBUTION = re.compile(
    r"^\s*(?:"
    r"On\s.{1,250}?\bwrote\s*:"  # Gmail, Apple Mail, Thunderbird
    r"|Le\s.{1,250}?\ba\s+écrit\s*:"  # French
    r"|El\s.{1,250}?\bescribió\s*:"  # Spanish
    r"|Am\s.{1,250}?\bschrieb\b.{0,250}:"  # German
    r"|Em\s.{1,250}?\bescreveu\s*:"  # Portuguese
    r"|Il\s.{1,250}?\bha\s+scritto\s*:"  # Italian
    r"|Op\s.{1,250}?\bschreef\b.{0,250}:"  # Dutch
    r"|.{0,250}写道\s*[:：]"  # 163/126 ("在 ... 写道："), Gmail in Chinese ("... 于...写道：")
    r"|.{0,250}(?:寫道|書きました)\s*[:：]"
    r")\s*$",
    _I,
)
_ATTRIBUTION_KEYWORD = re.compile(r"^\s*(?:On|Le|El|Am|Em|Il|Op|在)\s", _I)
_ATTRIBUTION_START = re.compile(r"^\s*(?:On|Le|El|Am|Em|Il|Op|在)\s|@", _I)
# "Anna Li wrote:" (older Thunderbird) only counts when a quote follows.
_BARE_WROTE = re.compile(r"^\s*\S.{0,80}\s(?:wrote|a écrit|escribió|schrieb)\s*:\s*$", _I)

# History that follows unquoted.
# QQ Mail's plain part keeps a literal "&nbsp;" around "原始邮件".
_SEPARATOR = re.compile(
    r"^\s*-{2,}(?:\s|&nbsp;)*(?:Original(?:\s+Message)?|原始邮件|原始郵件|回复的原邮件"
    r"|Message d'origine|Mensaje original|Ursprüngliche Nachricht|Mensagem original"
    r"|Messaggio originale)(?:\s|&nbsp;)*-{2,}\s*$",
    _I,
)
_HEAD_FROM = re.compile(r"^[\s*]*(?:From|发件人|寄件者|寄件人|De|Von|Van|Da|От)[\s*]*[:：]", _I)
_HEAD_OTHER = re.compile(
    r"^[\s*]*(?:Sent|Date|To|Subject|Cc|发送时间|日期|时间|收件人|主题|抄送|寄件日期|收件者|主旨"
    r"|Envoyé|À|Objet|Enviado(?: el)?|Fecha|Para|Asunto|Gesendet|Datum|An|Betreff)[\s*]*[:：]",
    _I,
)
_RULE = re.compile(r"^\s*(?:[_=-]{3,}|(?:\*\s*){3,})\s*$")

# Signatures and phone taglines: everything from here on is not the message.
_SIGNATURE = re.compile(
    r"^(?:--\s?"
    r"|(?:Sent|Envoyé|Enviado|Gesendet|Inviato|Verzonden)\s+(?:from|de|desde|depuis|do|von|da|vanaf)"
    r"\s+(?:my|mon|ma|mi|meu|meinem|mio|mijn)\s+\S.{0,40}"
    r"|Sent from (?:Mail|Outlook|Yahoo Mail|Gmail|my mobile)\b.{0,40}"
    r"|Sent (?:via|with) .{1,40}"
    r"|Get Outlook for (?:iOS|Android).{0,40}"
    r"|Von meinem .{1,40} gesendet"
    r"|发自我的.{1,20}|来自我的.{1,20}|从我的.{1,20}发送|来自网易邮箱大师|来自.{1,12}邮箱.{0,12}"
    r"|发自.{1,12}邮箱.{0,12}|发自\s*(?:WPS|钉钉|企业微信).{0,12}"
    r")\s*$",
    _I,
)
_DISCLAIMER = re.compile(
    r"^[\s*\[【]*(?:"
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
    r")",
    _I,
)
_BLANK_RUNS = re.compile(r"\n{3,}")


def _attribution_len(lines: list[str], i: int) -> int:
    """Number of lines (1-3) of an attribution starting at line i, or 0."""
    line = lines[i]
    if not line.strip():
        return 0
    if _ATTRIBUTION.match(line):
        return 1
    if _ATTRIBUTION_START.search(line):
        joined = line
        for extra in (1, 2):
            nxt = lines[i + extra] if i + extra < len(lines) else ""
            if not nxt.strip() or (_ATTRIBUTION_KEYWORD.match(nxt) and _ATTRIBUTION.match(nxt)):
                break  # a blank line ends it; a complete attribution below stands on its own
            joined = f"{joined.rstrip()} {nxt.strip()}"
            if _ATTRIBUTION.match(joined):
                return extra + 1
    if _BARE_WROTE.match(line) and _quote_follows(lines, i + 1):
        return 1
    return 0


def _quote_follows(lines: list[str], j: int) -> bool:
    while j < len(lines) and not lines[j].strip():
        j += 1
    return j < len(lines) and bool(_QUOTED.match(lines[j]))


def _history_starts(lines: list[str], i: int) -> bool:
    """True when unquoted history (separator or a From:/Sent: header block) starts at line i."""
    line = lines[i]
    if _SEPARATOR.match(line):
        return True
    if _RULE.match(line):
        # Outlook puts a rule of underscores above its header block.
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        return j < len(lines) and _header_block(lines, j)
    return _header_block(lines, i)


def _header_block(lines: list[str], i: int) -> bool:
    if not _HEAD_FROM.match(lines[i]):
        return False
    # A lone "From:" could be prose; a header block has another header within a few lines.
    return any(_HEAD_OTHER.match(line) for line in lines[i + 1 : i + 6])


def trim_reply(text: str) -> tuple[str, bool]:
    """Return (the new text of a reply, True), or (the whole stripped text, False) if none is left."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[str] = []
    has_content = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if _QUOTED.match(line):
            i += 1
            continue
        n = _attribution_len(lines, i)
        if n:
            if has_content or not _quote_follows(lines, i + n):
                break  # top-posted: the rest is history
            i += n  # bottom-posted or inline answers: skip the attribution, keep reading
            continue
        if _history_starts(lines, i) or _SIGNATURE.match(line.strip()):
            break
        if has_content and _DISCLAIMER.match(line):
            break
        out.append(line.rstrip())
        has_content = has_content or bool(line.strip())
        i += 1
    # Rules and blank lines left dangling by a cut signature or disclaimer.
    while out and (not out[-1].strip() or _RULE.match(out[-1])):
        out.pop()
    new = _BLANK_RUNS.sub("\n\n", "\n".join(out)).strip()
    if not new.strip():
        return text.strip(), False
    return new, True
