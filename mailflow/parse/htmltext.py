"""HTML -> readable text, and the text of a .docx held in memory. Pure; never raises.

Blocks are laid out as a browser shows them (one line per block, a blank line around
paragraphs, lists and tables), and a quoting <blockquote> becomes "> " lines, so the reply
trimmer reads an HTML-only reply as it reads a plain one.

The HTML converter is stdlib-based rather than html2text: html2text writes Markdown and
escapes "1." as "1\\." and "-" as "\\-", which corrupts form values and staff commands,
renders table-based forms as Markdown tables, and is several times slower.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import cast
from xml.etree import ElementTree

_BLOCK = {
    "p", "div", "section", "article", "header", "footer", "blockquote", "pre", "table",
    "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "form",
    "address", "center", "fieldset", "figure", "main", "nav", "title",
}  # fmt: skip
# Blocks a browser sets off with a margin: a blank line before and after.
_SPACED = {"p", "ul", "ol", "dl", "table", "pre", "figure", "h1", "h2", "h3", "h4", "h5", "h6"}
_SKIP = {"style", "script", "head", "noscript", "template", "svg"}
# A quoting <blockquote> opens and closes with these (private-use characters, removed from the
# mail's own text first); html_to_text turns the lines between them into "> " lines, as a
# plain-text client would, so the reply trimmer tells the quote from a bottom-posted answer.
_QUOTE_OPEN, _QUOTE_CLOSE = "\ue000", "\ue001"
# Block boundaries, resolved after parsing as a browser lays them out: a block starts on a new
# line (however many blocks open or close there), a paragraph after a blank line; only <br>
# adds lines of its own. So Gmail's one <div> per line gives one line each, not a blank
# line between every two.
_LINE, _PARA = "\ue002", "\ue003"
_MARKS = _QUOTE_OPEN + _QUOTE_CLOSE + _LINE + _PARA
_BREAKS = re.compile(f"([{_LINE}{_PARA}])")
_MARK_CHARS = re.compile(f"[{_MARKS}]")
_SPACES = re.compile(r"\s+")
_BLANK = " \t\xa0" + _QUOTE_OPEN + _QUOTE_CLOSE
# 100,000 nested blockquotes must not write 100,000 marks on each line: deeper levels share one.
_MAX_QUOTE_MARKS = 8
_NO_BORDER = re.compile(r"border\s*:\s*none", re.I)
_MAX_HTML = 2 * 1024 * 1024  # anything larger is not a human-written mail body


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0
        self.pre = 0
        self.quotes: list[bool] = []  # per open <blockquote>: does it quote?
        self.links: list[
            tuple[str, int]
        ] = []  # (href, index into parts where the link text starts)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append(f"{_LINE}- ")
        elif tag == "tr":
            self.parts.append(_LINE)
        elif tag in ("td", "th"):
            self.parts.append("\t")
        elif tag == "a":
            self.links.append((dict(attrs).get("href") or "", len(self.parts)))
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.parts.append(alt)
        elif tag == "blockquote":
            # Gmail's and Apple Mail's "indent" is a blockquote with no border: not a quote.
            quotes = not _NO_BORDER.search(dict(attrs).get("style") or "")
            self.quotes.append(quotes)
            self.parts.append(f"{_LINE}{_QUOTE_OPEN}" if quotes else _LINE)
        elif tag in _BLOCK:
            self.parts.append(_PARA if tag in _SPACED else _LINE)
            if tag == "pre":
                self.pre += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _SKIP:
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag == "a" and self.links:
            href, start = self.links.pop()
            label = "".join(self.parts[start:]).strip()
            target = href[7:] if href.lower().startswith("mailto:") else href
            # Keep the address of a link unless the text already shows it.
            if target and not target.startswith(("#", "javascript:")) and target not in label:
                self.parts.append(f" ({target})")
        elif tag == "blockquote":
            quotes = self.quotes.pop() if self.quotes else False
            self.parts.append(f"{_QUOTE_CLOSE}{_LINE}" if quotes else _LINE)
        elif tag in _BLOCK:
            self.parts.append(_PARA if tag in _SPACED else _LINE)
            if tag == "pre":
                self.pre = max(0, self.pre - 1)

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        data = _MARK_CHARS.sub("", data)
        self.parts.append(data if self.pre else _SPACES.sub(" ", data))


# An inline image's data: URI can be megabytes inside one tag; its bytes are no text.
_DATA_URI = re.compile(r"data:[^\"'\s>]{64,}", re.I)
# HTMLParser rescans from every "<" that has no ">" after it, and from every "<!--" that has
# no "-->": 100 kB of "<a" took 48 s. A real tag closes within this many characters.
MAX_TAG = 4096


def defuse(html: str) -> str:
    """HTML whose parsing time grows linearly: comments, style and script blocks cut out
    (a stray </style> can also leave HTMLParser in CDATA mode), and a "<" that opens no tag
    within MAX_TAG characters written as text."""
    html = _cut_blocks(_DATA_URI.sub("data:", html))
    out: list[str] = []
    start = 0
    close = -1
    while (lt := html.find("<", start)) >= 0:
        if close < lt:
            close = html.find(">", lt)
        out.append(html[start:lt])
        out.append("<" if 0 <= close - lt <= MAX_TAG else "&lt;")
        start = lt + 1
    out.append(html[start:])
    return "".join(out)


def _cut_blocks(html: str) -> str:
    """html without <!-- comments --> and <style>/<script> blocks, in one pass (str.find, no
    backtracking); an unclosed one runs to the end."""
    lower = html.lower()
    out: list[str] = []
    pos = 0
    blocks = {"<!--": "-->", "<style": "</style", "<script": "</script"}
    found = {opener: lower.find(opener) for opener in blocks}  # each searched again only
    while True:  # when passed, so the whole cut stays one pass
        for opener, at in found.items():
            if 0 <= at < pos:
                found[opener] = lower.find(opener, pos)
        live = [(at, opener) for opener, at in found.items() if at >= 0]
        if not live:
            break
        begin, opener = min(live)
        out.append(html[pos:begin])
        out.append(" ")
        stop = lower.find(blocks[opener], begin + len(opener))
        if stop < 0:
            return "".join(out)
        pos = stop + len(blocks[opener])
        if opener != "<!--":
            gt = lower.find(">", pos)
            pos = len(html) if gt < 0 else gt + 1
    out.append(html[pos:])
    return "".join(out)


def html_to_text(html: str) -> str:
    """Readable plain text from an HTML body: blocks on their own lines, links kept."""
    html = defuse(html[:_MAX_HTML])
    parser = _TextExtractor()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # HTMLParser is lenient, but a bad mail must still give text
        return re.sub(r"\s+", " ", re.sub(r"<[^>]*>", " ", html)).strip()
    text = _resolve_breaks("".join(parser.parts)).replace("\xa0", " ")
    lines = [line.strip(" ") for line in text.split("\n")]
    lines = [re.sub(r"^\t+|\t+$", "", re.sub(r" *\t *", "\t", line)) for line in lines]
    if _QUOTE_OPEN in text:
        lines = _quote_lines(lines)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _resolve_breaks(text: str) -> str:
    """The block-boundary marks turned into newlines: a line break where a line has text, a
    blank line before and after a paragraph; marks at the start of the text write nothing."""
    out: list[str] = []
    newlines = 2  # at the start nothing needs separating
    for piece in _BREAKS.split(text):
        if piece in (_LINE, _PARA):
            need = 1 if piece == _LINE else 2
            if newlines < need:
                out.append("\n" * (need - newlines))
                newlines = need
            continue
        out.append(piece)
        filled = piece.rstrip(_BLANK)
        if filled.strip(_BLANK + "\n"):
            newlines = len(filled) - len(filled.rstrip("\n"))
        else:
            newlines += piece.count("\n")
    return "".join(out)


def _quote_lines(lines: list[str]) -> list[str]:
    """Lines inside quoting blockquotes prefixed with "> " per level; blank lines inside a
    quote become one ">" line, so the quote stays one block."""
    out: list[str] = []
    depth = 0
    for line in lines:
        # Marks before the line's text set its level; marks after it, the next line's.
        k = 0
        while k < len(line) and line[k] in _BLANK:
            if line[k] == _QUOTE_OPEN:
                depth += 1
            elif line[k] == _QUOTE_CLOSE:
                depth = max(0, depth - 1)
            k += 1
        level = depth
        rest = line[k:]
        depth = max(0, depth + rest.count(_QUOTE_OPEN) - rest.count(_QUOTE_CLOSE))
        text = rest.replace(_QUOTE_OPEN, "").replace(_QUOTE_CLOSE, "").strip(" ")
        if not level:
            out.append(text)
        elif text:
            out.append(f"{'> ' * min(level, _MAX_QUOTE_MARKS)}{text}")
        elif out and out[-1].startswith(">") and out[-1] != ">" * min(level, _MAX_QUOTE_MARKS):
            out.append(">" * min(level, _MAX_QUOTE_MARKS))
    while out and out[-1].startswith(">") and not out[-1].strip("> "):
        out.pop()
    # a blank quote line only between two quoted lines
    return [
        line
        for n, line in enumerate(out)
        if line.strip("> ") or not line or (n + 1 < len(out) and out[n + 1].startswith(">"))
    ]


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_MAX_DOCX = 8 * 1024 * 1024  # compressed attachment size we bother with
_MAX_XML = 16 * 1024 * 1024  # uncompressed document.xml (zip bombs)
# Element nesting in document.xml: Word writes ~10 levels (a table in a table ~20); a 2 kB
# file can nest paragraphs 100,000 deep. Deeper is not a form; its text is not read.
MAX_XML_DEPTH = 64
MAX_DOCX_TEXT = 256 * 1024  # characters of text taken from one document


def docx_text(data: bytes) -> str | None:
    """Paragraph text of word/document.xml from in-memory .docx bytes, or None.

    One streaming pass (no tree, no per-paragraph walk of its descendants): time and memory
    grow with the size of the document, whatever its shape.
    """
    if len(data) > _MAX_DOCX:
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            info = archive.getinfo("word/document.xml")
            if info.file_size > _MAX_XML:
                return None
            xml = archive.read(info)
        if b"<!DOCTYPE" in xml or b"<!ENTITY" in xml:
            return None  # entity tricks have no place in a Word document
        return _docx_paragraphs(xml)
    except Exception:  # not a zip, no document.xml, bad XML: no text, no error
        return None


def _docx_paragraphs(xml: bytes) -> str | None:
    parser: ElementTree.XMLPullParser[ElementTree.Element] = ElementTree.XMLPullParser(
        events=("start", "end")
    )
    paragraphs: list[str] = []
    open_paragraphs: list[list[str]] = []  # a paragraph nested in another is its own line
    depth = size = 0
    step = 64 * 1024
    for offset in range(0, len(xml), step):
        parser.feed(xml[offset : offset + step])
        # start and end events carry elements
        events = cast(Iterator[tuple[str, ElementTree.Element]], parser.read_events())
        for event, node in events:
            if event == "start":
                depth += 1
                if depth > MAX_XML_DEPTH:
                    return None
                if node.tag == f"{_W}p":
                    open_paragraphs.append([])
                continue
            depth -= 1
            if node.tag == f"{_W}p" and open_paragraphs:
                paragraphs.append("".join(open_paragraphs.pop()))
            elif open_paragraphs and node.tag == f"{_W}t" and node.text:
                open_paragraphs[-1].append(node.text)
                size += len(node.text)
            elif open_paragraphs and node.tag == f"{_W}tab":
                open_paragraphs[-1].append("\t")
            elif open_paragraphs and node.tag in (f"{_W}br", f"{_W}cr"):
                open_paragraphs[-1].append("\n")
            node.clear()  # keep no tree: only the open paragraphs' text
        if size > MAX_DOCX_TEXT:
            break
    return "\n".join(paragraphs).strip()[:MAX_DOCX_TEXT]
