"""HTML -> readable text, and the text of a .docx held in memory. Pure; never raises.

The HTML converter is stdlib-based rather than html2text: html2text writes Markdown and
escapes "1." as "1\\." and "-" as "\\-", which corrupts form values and staff commands,
renders table-based forms as Markdown tables, and is several times slower.
"""

from __future__ import annotations

import io
import re
import zipfile
from html.parser import HTMLParser
from xml.etree import ElementTree

_BLOCK = {
    "p", "div", "section", "article", "header", "footer", "blockquote", "pre", "table",
    "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "form",
    "address", "center", "fieldset", "figure", "main", "nav", "title",
}  # fmt: skip
_SKIP = {"style", "script", "head", "noscript", "template", "svg"}
_MAX_HTML = 2 * 1024 * 1024  # anything larger is not a human-written mail body


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0
        self.pre = 0
        self.links: list[
            tuple[str, int]
        ] = []  # (href, index into parts where the link text starts)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag == "tr":
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append("\t")
        elif tag == "a":
            self.links.append((dict(attrs).get("href") or "", len(self.parts)))
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.parts.append(alt)
        elif tag in _BLOCK:
            self.parts.append("\n\n" if tag == "p" else "\n")
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
        elif tag in _BLOCK:
            self.parts.append("\n\n" if tag == "p" else "\n")
            if tag == "pre":
                self.pre = max(0, self.pre - 1)

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        self.parts.append(data if self.pre else re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """Readable plain text from an HTML body: blocks on their own lines, links kept."""
    html = html[:_MAX_HTML]
    # A stray </style> in a mail can leave HTMLParser inside CDATA mode; cut these out first.
    html = re.sub(r"(?is)<(style|script)\b.*?</\1\s*>", " ", html)
    parser = _TextExtractor()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # HTMLParser is lenient, but a bad mail must still give text
        return re.sub(r"\s+", " ", re.sub(r"<[^>]*>", " ", html)).strip()
    text = "".join(parser.parts).replace("\xa0", " ")
    lines = [line.strip(" ") for line in text.split("\n")]
    lines = [re.sub(r"^\t+|\t+$", "", re.sub(r" *\t *", "\t", line)) for line in lines]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_MAX_DOCX = 8 * 1024 * 1024  # compressed attachment size we bother with
_MAX_XML = 16 * 1024 * 1024  # uncompressed document.xml (zip bombs)


def docx_text(data: bytes) -> str | None:
    """Paragraph text of word/document.xml from in-memory .docx bytes, or None."""
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
        root = ElementTree.fromstring(xml)
    except Exception:  # not a zip, no document.xml, bad XML: no text, no error
        return None
    paragraphs: list[str] = []
    for para in root.iter(f"{_W}p"):
        chunks: list[str] = []
        for node in para.iter():
            if node.tag == f"{_W}t" and node.text:
                chunks.append(node.text)
            elif node.tag == f"{_W}tab":
                chunks.append("\t")
            elif node.tag in (f"{_W}br", f"{_W}cr"):
                chunks.append("\n")
        paragraphs.append("".join(chunks))
    return "\n".join(paragraphs).strip()
