"""What a reply says: accept or decline, a withdrawal, or a staff command.

Only the start of the (already trimmed) new text is read: people answer first and explain
after, and whatever follows may mention "yes" or "no" in passing. An accepting word inside a
declining phrase is ignored ("不同意" is not "同意", "not interested" is not "interested"), and
one preceded by a negation ("don't agree", "n'accepte pas", "不太愿意") counts as declining.
Both signals, or neither, give None: such a reply goes to a person.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Mapping, Sequence

from mailflow.parse import forms

__all__ = [
    "detect_command",
    "detect_intent",
    "is_withdrawal",
    "prefers_informal",
    "split_pair",
]

_I = re.IGNORECASE
_MAX_LINES = 4
_MAX_CHARS = 400

_GREETING = re.compile(
    r"^\s*(?:dear|hi|hello|hey|good (?:morning|afternoon|evening)|greetings|您好|你好|尊敬的|亲爱的"
    r"|各位|hola|estimad[oa]s?|querid[oa]s?|buenos días|bonjour|bonsoir|cher|chère|madame|monsieur"
    r"|liebe[rs]?|sehr geehrte[rs]?|hallo|guten tag)\b.{0,60}$|^\s*(?:您好|你好)[！!，,。]?\s*$",
    _I,
)
# Said in favour, even though they contain a "no".
_POSITIVE_FIXED = re.compile(
    r"\bno (?:problem|objections?|worries|hesitation)\b|没问题|没有问题|没有异议|无异议|"
    r"\bsin (?:problema|objeciones?)\b|\bpas de (?:problème|souci)\b|\bkein problem\b",
    _I,
)
# Neither yes nor no, though they contain a negated accepting word.
_NEUTRAL = re.compile(
    r"\bnot (?:yet )?sure\b|\bunsure\b|\bnot decided\b|不确定|还没决定|\bno (?:estoy|estamos) segur"
    r"|\bpas (?:encore )?sûrs?\b|\bnicht sicher\b",
    _I,
)
_NEGATIVE = re.compile(
    r"\bno,? thanks?(?: you)?\b|\bnot (?:interested|at this time|now|for us|right now)\b"
    r"|\b(?:declines?|declined|declining)\b|\bwe(?:'d| would) rather not\b|\bdisagree\b"
    r"|\bnot in a position to\b|\bunable to\b|\bwe(?:'ll| will) pass\b|\bpass on this\b"
    r"|\bbut no\b[.!]?\s*$|\bunfortunately\b"
    r"|不同意|不愿意|不接受|不参加|不参与|不需要|不用了|谢谢[，,、\s]*不用|不感兴趣|没有?兴趣|拒绝|暂不|暂时不"
    r"|不可以|不行|算了|婉拒|放弃"
    r"|\bno,? gracias\b|\brechaz(?:o|amos|ar)\b|\bno (?:nos interesa|estamos interesad[oa]s)\b"
    r"|\bdeclinamos\b|\bnon,? merci\b|\b(?:je refuse|nous refusons)\b|\bpas intéressée?s?\b"
    r"|\b(?:nous )?déclin(?:ons|er)\b|\bnein,? danke\b|\bkein interesse\b|\blehnen\b.{0,30}\bab\b"
    r"|\bablehnen\b",
    _I,
)
_POSITIVE = re.compile(
    r"\byes\b|\byep\b|\bagreed?\b|\baccept(?:ed|s)?\b|\bhappy to\b|\bglad to\b|\bsounds (?:good|great)\b"
    r"|\bcount us in\b|\bwe(?:'d| would) (?:love|like) to\b|\bsure\b|\babsolutely\b|\bof course\b"
    r"|\bdefinitely\b|\bok(?:ay)?\b|\binterested\b|\bgo ahead\b|\blooks good\b|\bwe(?:'re| are) in\b"
    r"|\bwith pleasure\b|\bdelighted\b"
    r"|好的|好啊|好呀|同意|愿意|接受|可以|乐意|感兴趣|参加|没问题|无异议|赞成"
    r"|\bsí\b|\bacept(?:o|amos)\b|\bde acuerdo\b|\bclaro\b|\bcon gusto\b|\bnos interesa\b"
    r"|\bpor supuesto\b|\boui\b|\bj'accepte\b|\bnous acceptons\b|\baccept(?:e|ons)\b|\bd'accord\b"
    r"|\bavec plaisir\b|\bvolontiers\b|\bbien sûr\b|\bintéressée?s?\b"
    r"|\bja\b|\beinverstanden\b|\bstimmen\b.{0,20}\bzu\b|\bgerne?\b|\bnehmen\b.{0,30}\ban\b",
    _I,
)
# A bare yes or no opening a line: "Yes.", "No", "是的", "不。", "Si", "Non".
_LEAD_YES = re.compile(
    r"^\s*(?:(?:yes|sí|oui|ja|是的?|对|行|好)(?:[\s,.!，。！、]|$)|si(?:[,.!，。！]|$))", _I
)
_LEAD_NO = re.compile(r"^\s*(?:no|non|nein|nope|不|否)(?:[\s,.!，。！、]|$)", _I)
# A negation at most two words before an accepting word, within the same clause.
_NEGATOR = re.compile(
    r"(?:\b(?:not|never|cannot|can't|cant|don't|dont|doesn't|won't|wouldn't|no longer|unable to"
    r"|ne|pas|nicht|kein|nunca|jamais|no)\b|\bn')[ \t]*(?:[\w'-]+[ \t]+){0,2}$"
    r"|(?:不|没|未|别)[\u4e00-\u9fff]{0,2}$",
    _I,
)


def _head(text: str) -> list[str]:
    lines = [ln.strip() for ln in text.replace("\r", "").split("\n") if ln.strip()]
    while lines and _GREETING.match(lines[0]):
        lines.pop(0)
    head = lines[:_MAX_LINES]
    return [ln.replace("’", "'") for ln in head]


def _signals(line: str) -> tuple[bool, bool]:
    """(accepting, declining) signals in one line."""
    pos = bool(_LEAD_YES.match(line))
    neg = bool(_LEAD_NO.match(line)) and not _POSITIVE_FIXED.match(line.lstrip())
    if _POSITIVE_FIXED.search(line):
        pos = True
    # Commas keep a masked phrase from acting as a negation of what follows it.
    line = _NEUTRAL.sub(" , ", _POSITIVE_FIXED.sub(" , ", line))
    negative = [m.span() for m in _NEGATIVE.finditer(line)]
    neg = neg or bool(negative)
    for m in _POSITIVE.finditer(line):
        if any(start < m.end() and m.start() < end for start, end in negative):
            continue  # part of a declining phrase: "不同意", "not interested"
        if _NEGATOR.search(line[: m.start()]):
            neg = True  # "we do not agree", "je n'accepte pas", "不太愿意"
        else:
            pos = True
    return pos, neg


def detect_intent(text: str) -> str | None:
    """ "accept", "decline", or None when the opening lines say neither or both."""
    pos = neg = False
    for line in _head(text)[:_MAX_LINES]:
        p, n = _signals(line[:_MAX_CHARS])
        pos, neg = pos or p, neg or n
    if pos == neg:
        return None
    return "accept" if pos else "decline"


_WITHDRAW = re.compile(
    r"\bwithdraw(?:s|n|ing|al)?\b|\bremove (?:us|our library|our application)\b"
    r"|\btake us off\b|\bopt(?:ing)? out\b|\bunsubscribe\b|\bno longer (?:wish|want) to participate\b"
    r"|退出|撤回|撤销申请|取消申请|\bretir(?:ar|amos|o|arnos)\b|\bdarnos de baja\b"
    r"|\bretir(?:er|ons|e)\b|\bnous retirer\b|\bzurückziehen\b|\bziehen\b.{0,40}\bzurück\b",
    _I,
)


def is_withdrawal(text: str) -> bool:
    """True when the opening lines ask to leave the program or withdraw the application."""
    for line in _head(text)[: _MAX_LINES + 2]:
        line = line[:_MAX_CHARS]
        for m in _WITHDRAW.finditer(line):
            if not _NEGATOR.search(line[: m.start()]):
                return True
    return False


_MOU_WORDS = (
    r"(?:MOUs?|M\.O\.U\.|memorand(?:um|a)(?: of understanding)?|(?:formal |written )?agreement"
    r"|memorándum|memorando(?: de entendimiento)?|acuerdo formal|convenio|protocole d'accord"
    r"|mémorandum|convention|absichtserklärung)"
)
# Wanting the partnership without a memorandum: "keep it informal", "no MOU", "不签备忘录".
_INFORMAL = re.compile(
    r"\binforma(?:l|lly|les?)\b|\binformel(?:le)?s?\b|\binformell\b"
    r"|\b(?:no|without|sin|sans|ohne|pas de|pas besoin d[e'] ?)\s*(?:an?|any|un|una|el|ningún"
    rf"|une?|eine?|de)?\s*(?:formal\s+)?{_MOU_WORDS}"
    rf"|\brather not\b.{{0,30}}{_MOU_WORDS}"
    r"|\b(?:don't|do not|doesn't|does not|won't|will not|not)\s+(?:need|want|require|sign"
    rf"|have)\b.{{0,20}}{_MOU_WORDS}|\bskip (?:the )?{_MOU_WORDS}"
    rf"|\bno (?:necesitamos|queremos|firmaremos)\b.{{0,20}}{_MOU_WORDS}"
    r"|非正式|(?:不|无需|不必|不用|没必要)(?:要|想|打算|需要?|用)?(?:签署?|签订|签字)?(?:正式的?)?"
    r"(?:合作|谅解)?(?:备忘录|协议)",
    _I,
)
# Wanting the memorandum: "we agree to the MOU", "同意签署备忘录". Both signals: a person reads it.
_FORMAL = re.compile(
    rf"\b(?:agree[ds]?|accept(?:ed|s)?|sign(?:ed|ing)?|approve[ds]?)\b(?:\s+[\w'-]+){{0,3}}\s+"
    rf"{_MOU_WORDS}|\bformal (?:MOU|agreement|partnership)\b"
    r"|\b(?:firm(?:ar|amos|aremos)|aceptamos|sign(?:er|ons|erons)|acceptons)\b.{0,20}"
    rf"{_MOU_WORDS}"
    r"|\bwe(?:'ve| have)?(?: already)? signed\b"  # "we have signed it" (the MOU just sent)
    r"|(?:同意|接受|签署|签订|签字)\S{0,6}?(?:备忘录|协议)|已(?:经)?(?:签署|签字|签好|签订)",
    _I,
)
# "formal rather than informal": the informal word is the one not wanted.
_NOT_INFORMAL = re.compile(
    r"\b(?:rather than|instead of|not)\s+(?:an?\s+|just\s+)?informal(?:ly)?\b|而不是非正式", _I
)


def prefers_informal(text: str) -> bool:
    """True when the opening lines ask for the partnership without an MOU ("keep it informal").

    Form lines ("Commitment level: informal", "Goals: informal exchanges") are skipped: they
    describe the partnership, they do not answer the MOU question. A signed MOU form, or a line
    that also accepts the MOU, is not a preference for informality.
    """
    if "signatory_name" in forms.extract_fields(text, form="mou"):
        return False
    informal = formal = False
    for line in _head(text)[:_MAX_LINES]:
        line = line[:_MAX_CHARS]
        if forms.extract_fields(line, form="mou") or forms.extract_fields(line):
            continue
        if _NOT_INFORMAL.search(line):
            formal = True
            line = _NOT_INFORMAL.sub(" , ", line)
        spans = []
        for m in _INFORMAL.finditer(line):
            spans.append(m.span())
            if not _NEGATOR.search(line[: m.start()]):
                informal = True  # "we are not informal" reads nothing
        for m in _FORMAL.finditer(line):
            if any(start < m.end() and m.start() < end for start, end in spans):
                continue  # part of "不签署备忘录", "without a formal agreement"
            if not _NEGATOR.search(line[: m.start()]):
                formal = True
    return informal and not formal


def _spelling(alias: str) -> str:
    return " ".join(alias.split()).lower()


@functools.lru_cache(maxsize=32)
def _command_pattern(
    vocabulary: tuple[tuple[str, tuple[str, ...]], ...],
) -> tuple[re.Pattern[str], dict[str, str]] | None:
    """The command regex and spelling -> verb map of one vocabulary (compiled once per mapping)."""
    verb_of = {_spelling(alias): verb for verb, aliases in vocabulary for alias in aliases}
    verb_of.pop("", None)
    if not verb_of:
        return None
    # Longest first, so "skip mou" is tried before a verb "skip"; a space matches any run of
    # spaces or tabs.
    alternatives = "|".join(
        re.escape(alias).replace(r"\ ", r"[ \t]+")
        for alias in sorted(verb_of, key=len, reverse=True)
    )
    pattern = re.compile(
        rf"^[ \t/#!]*(?P<verb>{alternatives})(?:(?=[\s:：,.!。，])|$)[ \t:：,.!。，]*(?P<arg>.*)$",
        _I | re.DOTALL,
    )
    return pattern, verb_of


_PAIR_SPLIT = re.compile(r"\s+(?:with|and|&)\s+|\s*(?:和|与)\s*", _I)


def split_pair(argument: str) -> tuple[str, str] | None:
    """The two library references of a ``pair A with B`` argument, or None."""
    parts = _PAIR_SPLIT.split(argument.strip(), maxsplit=1)
    if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
        return None
    return parts[0].strip(), parts[1].strip()


def detect_command(
    text: str, verbs: Mapping[str, Sequence[str]], text_verbs: Collection[str] = ("note",)
) -> tuple[str, str] | None:
    """A staff command at the start of the new text: (verb, argument), or None.

    ``verbs`` maps each verb to its accepted spellings (matched case-insensitively). Verbs in
    ``text_verbs`` take the rest of the text and need some; other verbs take the rest of the
    first line. A verb named ``pair`` needs ``A with B``.
    """
    compiled = _command_pattern(
        tuple((verb, tuple(spellings)) for verb, spellings in verbs.items())
    )
    if compiled is None:
        return None
    pattern, verb_of = compiled
    body = text.replace("\r\n", "\n").strip()
    m = pattern.match(body)
    if not m:
        return None
    verb = verb_of.get(_spelling(m["verb"]))
    if verb is None:  # matched only under a case rule lower() does not share
        return None
    first, _, rest = m["arg"].partition("\n")
    # A note may run over lines (and may start on the next one); other arguments end with the line.
    takes_text = verb in text_verbs
    # A note is kept as written; a one-line argument (a name, an address) loses a closing stop.
    arg = f"{first}\n{rest}".strip() if takes_text else first.strip().rstrip(" .。")
    if takes_text and not arg:
        return None
    if verb == "pair" and split_pair(arg) is None:
        return None
    return verb, arg
