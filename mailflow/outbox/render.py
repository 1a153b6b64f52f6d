"""Mail templates: subject and plain text from ``<locale>/<name>.txt.j2``, plus an HTML part.

The HTML part comes from ``<locale>/<name>.html.j2`` (a body fragment) when there is one, else
it is built from the text; either way ``_layout.html.j2`` wraps it. Template folders are searched
in order, so an operator's ``templates/`` overrides the packaged defaults file by file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import groupby
from pathlib import Path
from typing import Any

import jinja2
import yaml
from markupsafe import Markup, escape

from mailflow.errors import ConfigError
from mailflow.outbox.compose import header_text
from mailflow.outbox.frontmatter import (
    META_KEYS,
    FrontMatterError,
    TemplateMeta,
    key_line,
    parse_front_matter,
)
from mailflow.parse.forms import APPLICATION_FIELDS, FIELD_LABELS, MOU_FIELDS
from mailflow.resources import default_templates

__all__ = [
    "DEFAULT_TEMPLATES", "META_KEYS", "Rendered", "Renderer", "TemplateMeta", "blank_form", "field_label", "join_labels",
    "language_name", "language_names", "library_type", "long_date", "text_to_html",
]  # fmt: skip

DEFAULT_TEMPLATES = default_templates()
LAYOUT = "_layout.html.j2"
Context = Mapping[str, Any]

_LANGUAGES = {  # code -> (English name, Chinese name)
    "en": ("English", "英语"), "zh": ("Chinese", "中文"), "es": ("Spanish", "西班牙语"),
    "fr": ("French", "法语"), "de": ("German", "德语"), "pt": ("Portuguese", "葡萄牙语"),
    "ja": ("Japanese", "日语"), "ru": ("Russian", "俄语"), "ar": ("Arabic", "阿拉伯语"),
    "it": ("Italian", "意大利语"), "sw": ("Swahili", "斯瓦希里语"), "ko": ("Korean", "韩语"),
}  # fmt: skip
_TYPES = {  # forms.normalise_library_type's values -> (English, Chinese)
    "public": ("public library", "公共图书馆"), "academic": ("academic library", "高校图书馆"),
    "school": ("school library", "学校图书馆"), "special": ("special library", "专业图书馆"),
    "national": ("national library", "国家图书馆"),
}  # fmt: skip
_MONTHS = "January February March April May June July August September October November December"
_RTL = {"ar", "he", "fa", "ur"}
_LINK = re.compile(
    r"(?P<url>https?://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+)"
    r"|(?P<email>[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)"
)


@dataclass(frozen=True)
class Rendered:
    """One mail, ready for the outbox. ``locale`` is what was used ("en,zh" when bilingual)."""

    subject: str
    text: str
    html: str
    locale: str


def language_name(code: str, locale: str = "en") -> str:
    """The name of an ISO 639-1 language in English or Chinese; unknown codes as written."""
    names = _LANGUAGES.get(code.strip().lower())
    return names[locale.startswith("zh")] if names else code


def language_names(codes: str | Iterable[str] | None, locale: str = "en") -> str:
    """``["es", "en"]`` or ``"es,en"`` -> "Spanish, English" / "西班牙语、英语"."""
    if isinstance(codes, str):
        codes = codes.split(",")
    return join_labels([language_name(c, locale) for c in codes or () if c.strip()], locale)


def library_type(value: str | None, locale: str = "en") -> str:
    """ "public" -> "public library" / "公共图书馆"; anything else as written."""
    names = _TYPES.get((value or "").strip().lower())
    return names[locale.startswith("zh")] if names else (value or "")


def join_labels(items: Iterable[Any], locale: str = "en") -> str:
    """Join with the list separator readers of ``locale`` expect (Chinese uses "、")."""
    return ("、" if locale.startswith("zh") else ", ").join(str(i) for i in items)


def long_date(value: str | date | None, locale: str = "en") -> str:
    """An ISO date written out ("1 March 2026", "2026年3月1日"): 03/01 means two different days."""
    if not value:
        return ""
    d = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    zh = f"{d.year}年{d.month}月{d.day}日"
    return zh if locale.startswith("zh") else f"{d.day} {_MONTHS.split()[d.month - 1]} {d.year}"


def _show(value: object) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(value) + "]"
    return "none" if value is None else repr(value)


def oneline(value: Any) -> str:
    """Decode encoded words, collapse whitespace: user input must not break a header line."""
    return " ".join(header_text(str(value)).split())


def quote(value: Any) -> str:
    """Prefix every line with "> ", as a mail client quotes."""
    return "\n".join(f"> {line}".rstrip() for line in str(value).strip().splitlines())


def field_label(key: str, locale: str = "en") -> str:
    """The form label of an application or MOU field in ``locale`` (English when unknown)."""
    return FIELD_LABELS.get(locale, FIELD_LABELS["en"]).get(key, key)


def blank_form(kind: str, locale: str) -> str:
    """The empty application (``kind="application"``) or MOU (``"mou"``) form, one label a line."""
    keys = {"application": APPLICATION_FIELDS, "mou": MOU_FIELDS}[kind]  # KeyError: unknown kind
    colon = "：" if locale.startswith("zh") else ": "
    return "\n".join(f"{field_label(k, locale)}{colon}" for k in keys)


def _linkify(line: str) -> str:
    """One line as escaped HTML, links made clickable (a plain str: Markup's own joins and
    % formatting escape each piece again, and cost most of the rendering time)."""
    if "@" not in line and "http" not in line and "www." not in line:
        return str(escape(line))  # most lines hold no link; skip the regex
    out, pos = [], 0
    for m in _LINK.finditer(line):
        target = m.group()
        if m["url"]:  # a sentence's full stop or a closing bracket is not part of the URL
            target = target.rstrip(".,;:!?'")
            if target.endswith(")") and "(" not in target:
                target = target[:-1]
        href = target if m["url"] else f"mailto:{target}"
        out += [escape(line[pos : m.start()]), f'<a href="{escape(href)}">{escape(target)}</a>']
        pos = m.start() + len(target)
    out.append(escape(line[pos:]))
    return "".join(out)


def _breaks(text: str) -> str:
    return "<br>\n".join(_linkify(line) for line in text.splitlines())


def linebreaks(text: Any) -> Markup:
    """Escape, link, and keep line breaks: for multi-line values inside HTML templates."""
    return Markup(_breaks(str(text or "")))


def text_to_html(text: str) -> Markup:
    """Paragraphs from blank-line blocks, <br> for single newlines, "> " lines quoted, links."""
    parts: list[str] = []
    for block in re.split(r"\n[ \t]*\n", text.strip()):
        for quoted, group in groupby(block.splitlines(), key=lambda ln: ln.startswith(">")):
            lines = [re.sub(r"^> ?", "", ln) if quoted else ln for ln in group]
            if not quoted and all(re.fullmatch(r"-{3,}", ln.strip()) for ln in lines):
                parts.append("<hr>")  # the rule between two languages
            else:
                tag = "blockquote" if quoted else "p"
                parts.append(f"<{tag}>{_breaks(chr(10).join(lines))}</{tag}>")
    return Markup("\n".join(parts))


def _syntax_problem(exc: jinja2.TemplateSyntaxError, name: str) -> str:
    """``file:line: message`` for a template that does not parse."""
    return f"{exc.filename or name}:{exc.lineno}: {exc.message}"


class Renderer:
    """Renders named mails per locale from a stack of template folders (first one wins)."""

    def __init__(self, template_dirs: Sequence[Path], default_locale: str = "en") -> None:
        self.dirs = [Path(d) for d in template_dirs]
        self.default_locale = default_locale
        self._found: dict[tuple[str, str], tuple[str, int, bool]] = {}
        self._locales: list[str] | None = None
        self._meta: dict[str, TemplateMeta] = {}
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(self.dirs),
            undefined=jinja2.StrictUndefined,
            autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            # Templates are read once per process, as the locale lookups above are: otherwise
            # every mail the drainer renders stats each template file again (3 a mail).
            auto_reload=False,
        )
        filters = {"language_name": language_name, "language_names": language_names}
        filters |= {"join_labels": join_labels, "long_date": long_date, "oneline": oneline}
        filters |= {"library_type": library_type}
        self.env.filters.update(filters | {"quote": quote, "linebreaks": linebreaks})
        self.env.globals.update(filters | {"field_label": field_label, "blank_form": blank_form})
        self.env.globals |= {"application_fields": APPLICATION_FIELDS, "mou_fields": MOU_FIELDS}

    def available_locales(self) -> list[str]:
        """Locales with at least one ``.txt.j2`` template in any folder (read once)."""
        if self._locales is None:
            self._locales = sorted({p.parent.name for d in self.dirs for p in d.glob("*/*.txt.j2")})
        return list(self._locales)

    def _part(self, name: str, locale: str, context: Context) -> tuple[str, str, str, Markup]:
        """(locale used, subject, text body, HTML body fragment) for one locale."""
        loc, rank, has_html = self._resolve(name, locale)
        txt = self.template(f"{loc}/{name}.txt.j2")
        ctx = {**context, "locale": loc}  # the locale actually used, for filters and labels
        head, _, body = self._call(txt, ctx).lstrip("\n").partition("\n\n")
        subject = head.removeprefix("Subject:").strip()
        if not head.startswith("Subject:") or not subject or "\n" in head or "\r" in head:
            raise ConfigError(f"{txt.filename}: must begin 'Subject: ...' and a blank line")
        body = body.strip("\n") + "\n"
        if has_html:
            html = Markup(self._call(self.template(f"{loc}/{name}.html.j2"), ctx))
        else:
            html = text_to_html(body)
        return loc, subject, body, html

    def has(self, name: str) -> bool:
        """Whether a template of this name exists (in the default locale, the fallback)."""
        try:
            self._resolve(name, self.default_locale)
        except ConfigError:
            return False
        return True

    def exists(self, name: str, locale: str) -> bool:
        """Whether ``locale`` has its own ``name`` (no fallback to the default locale)."""
        return any((d / locale / f"{name}.txt.j2").is_file() for d in self.dirs)

    def meta(self, name: str) -> TemplateMeta:
        """The front matter of ``name``: the default locale's file, else any locale's."""
        if name not in self._meta:
            locales = dict.fromkeys([self.default_locale, *self.available_locales()])
            for loc in locales:
                source = self._source(f"{loc}/{name}.txt.j2")
                if source is not None:
                    break
            else:
                raise ConfigError(f"no template {name}.txt.j2 in any locale")
            try:
                self._meta[name] = parse_front_matter(source[0])[0]
            except FrontMatterError as exc:
                raise ConfigError(f"{source[1]}:{exc.line}: {exc}") from exc
        return self._meta[name]

    def _source(self, tname: str) -> tuple[str, str] | None:
        """(source, file name) of a template from the first folder that has it."""
        try:
            source, filename, _ = self.env.loader.get_source(self.env, tname)  # type: ignore[union-attr]
        except jinja2.TemplateNotFound:
            return None
        return source, filename or tname

    def check_meta(self, names: Iterable[str], locales: Iterable[str]) -> list[str]:
        """Front matter problems, as ``path:line: message``: bad YAML, unknown keys, and
        locales of one template that disagree on ``expects`` or ``deadline``."""
        problems: list[str] = []
        locales = list(dict.fromkeys([self.default_locale, *locales]))
        for name in names:
            first: tuple[str, TemplateMeta] | None = None  # the reference: default locale first
            for loc in locales:
                found = self._source(f"{loc}/{name}.txt.j2")
                if found is None:
                    continue
                source, path = found
                try:
                    meta, block = parse_front_matter(source)
                except FrontMatterError as exc:
                    problems.append(f"{path}:{exc.line}: {exc}")
                    continue
                data = yaml.safe_load("\n".join(block)) if block else None
                for key in data or {}:
                    if key not in META_KEYS:
                        known = ", ".join(META_KEYS)
                        problems.append(
                            f"{path}:{key_line(block, key)}: unknown front matter key "
                            f"{key!r} (known: {known})"
                        )
                if first is None:
                    first = (path, meta)
                    continue
                ref_path, ref = first
                for key in META_KEYS:
                    mine, theirs = getattr(meta, key), getattr(ref, key)
                    if (set(mine) != set(theirs)) if key == "expects" else mine != theirs:
                        problems.append(
                            f"{path}:{key_line(block, key)}: {key} {_show(mine)} disagrees with "
                            f"{_show(theirs)} in {ref_path}"
                        )
        return problems

    def _resolve(self, name: str, locale: str) -> tuple[str, int, bool]:
        """(locale found, folder rank, has an HTML part), looked up on disk once per pair."""
        key = (name, locale)
        if key not in self._found:
            base = locale.replace("_", "-").split("-")[0]
            found = [
                (loc, rank)
                for loc in dict.fromkeys([locale, base, self.default_locale])
                for rank, d in enumerate(self.dirs)
                if (d / loc / f"{name}.txt.j2").is_file()
            ]
            if not found:
                raise ConfigError(f"no template {name}.txt.j2 for {locale!r} or the default locale")
            loc, rank = found[0]
            # Only an HTML part from the text's folder or before it: an operator's text with the
            # packaged HTML would say two different things.
            html = any((d / loc / f"{name}.html.j2").is_file() for d in self.dirs[: rank + 1])
            self._found[key] = (loc, rank, html)
        return self._found[key]

    def template(self, name: str) -> jinja2.Template:
        """A loaded template; a syntax error in it (or in what it includes) is a ConfigError."""
        try:
            return self.env.get_template(name)
        except jinja2.TemplateSyntaxError as exc:
            raise ConfigError(_syntax_problem(exc, name)) from None

    def _call(self, template: jinja2.Template, context: Context) -> str:
        try:
            return template.render(context)
        except jinja2.UndefinedError as exc:
            raise ConfigError(f"{template.filename}: {exc}") from exc
        except jinja2.TemplateSyntaxError as exc:  # an {% include %} loaded while rendering
            raise ConfigError(_syntax_problem(exc, template.name or "")) from None

    def _assemble(self, name: str, locales: Sequence[str], context: Context) -> Rendered:
        parts: dict[str, tuple[str, str, Markup]] = {}
        for locale in dict.fromkeys(locales):
            loc, subject, body, html = self._part(name, locale, context)
            parts.setdefault(loc, (subject, body, html))  # "fr" and "en" may both give en
        layout = self.template(LAYOUT)
        sections = [
            {"lang": loc, "dir": "rtl" if loc in _RTL else "ltr", "subject": s, "body": h}
            for loc, (s, _, h) in parts.items()
        ]
        subject = " / ".join(s for s, _, _ in parts.values())
        html = self._call(layout, {**context, "subject": subject, "sections": sections})
        text = ("\n" + "-" * 40 + "\n\n").join(b for _, b, _ in parts.values())
        return Rendered(subject=subject, text=text, html=html, locale=",".join(parts))

    def render(self, name: str, locale: str, context: Context) -> Rendered:
        """One mail in ``locale``, falling back to its base language, then the default."""
        return self._assemble(name, [locale], context)

    def render_bilingual(self, name: str, locales: Sequence[str], context: Context) -> Rendered:
        """One mail holding each locale's version, for two libraries that read different ones."""
        return self._assemble(name, locales or [self.default_locale], context)

    def check(self, names: Iterable[str], locales: Iterable[str]) -> list[str]:
        """Problems with the named templates, each naming its file: missing, bad syntax, or bad
        front matter (`check_meta`)."""
        names, locales = list(names), list(locales)
        problems: list[str] = []
        # Shared pieces (the layout, macro files) are checked too: every mail depends on them.
        wanted = [LAYOUT, *(f"{p.parent.name}/{p.name}" for d in self.dirs for p in d.glob("*/_*"))]
        for name in names:
            if not any((d / self.default_locale / f"{name}.txt.j2").is_file() for d in self.dirs):
                problems.append(f"{self.dirs[0] / self.default_locale / name}.txt.j2: missing")
            for loc in dict.fromkeys([self.default_locale, *locales]):
                wanted += [f"{loc}/{name}.txt.j2", f"{loc}/{name}.html.j2"]
        for tname in wanted:
            try:
                self.env.get_template(tname)
            except jinja2.TemplateSyntaxError as exc:
                problems.append(_syntax_problem(exc, tname))
            except jinja2.TemplateNotFound:
                if tname == LAYOUT:
                    problems.append(f"{LAYOUT}: missing")
        return problems + self.check_meta(names, locales)
