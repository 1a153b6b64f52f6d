"""Template front matter: the YAML block inside a Jinja comment that opens a `.txt.j2` template.

It says what reply the mail invites (`expects`) and which timer's date it quotes (`deadline`),
so `mailflow rules check` can prove the rules understand every reply a mail asks for. Being a
Jinja comment, it renders to nothing and keeps the file's line numbers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import yaml

__all__ = [
    "META_CLOSE", "META_KEYS", "META_OPEN", "FrontMatterError", "TemplateMeta", "key_line",
    "parse_front_matter",
]  # fmt: skip


@dataclass(frozen=True)
class TemplateMeta:
    """A template's front matter: the replies its mail invites, the timer whose date it quotes."""

    expects: tuple[str, ...] = ()
    deadline: str | None = None


META_KEYS = ("expects", "deadline")
META_OPEN, META_CLOSE = "{#---", "---#}"


class FrontMatterError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


def key_line(lines: Sequence[str], key: object) -> int:
    """The file line (1-based) of ``key:`` in the front matter, else its first line."""
    for i, line in enumerate(lines, start=2):
        if re.match(rf"{re.escape(str(key))}\s*:", line):
            return i
    return 1


def parse_front_matter(source: str) -> tuple[TemplateMeta, list[str]]:
    """The front matter of a template's source, and its lines (file line = index + 2).

    Unknown keys are left out here; `Renderer.check_meta` reports them.
    """
    lines = source.splitlines()
    if not lines or lines[0] != META_OPEN:
        return TemplateMeta(), []
    try:
        end = lines.index(META_CLOSE)
    except ValueError:
        raise FrontMatterError(1, f"front matter has no closing {META_CLOSE!r} line") from None
    block = lines[1:end]
    if any("#}" in line for line in block):  # would end the Jinja comment early
        line = next(i for i, ln in enumerate(block, start=2) if "#}" in ln)
        raise FrontMatterError(line, "front matter must not contain '#}'")
    try:
        data = yaml.safe_load("\n".join(block))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 1
        what = getattr(exc, "problem", None) or str(exc)
        raise FrontMatterError(line, f"front matter is not valid YAML: {what}") from exc
    if data is None:
        return TemplateMeta(), block
    if not isinstance(data, dict):
        raise FrontMatterError(2, "front matter must be a mapping (expects: [...], deadline: ...)")
    expects = data.get("expects") or []
    if isinstance(expects, str | bool):
        expects = [expects]
    if not isinstance(expects, list):
        raise FrontMatterError(key_line(block, "expects"), "expects must be a list")
    # YAML 1.1 reads a bare yes/no as a boolean; in `expects` they are the reply words.
    words = [{True: "yes", False: "no"}.get(w, w) if isinstance(w, bool) else w for w in expects]
    if not all(isinstance(w, str) and w for w in words):
        raise FrontMatterError(key_line(block, "expects"), "expects must be a list of words")
    deadline = data.get("deadline")
    if deadline is not None and not (isinstance(deadline, str) and deadline.strip()):
        raise FrontMatterError(key_line(block, "deadline"), "deadline must be a timer name")
    meta = TemplateMeta(tuple(str(w) for w in words), deadline.strip() if deadline else None)
    return meta, block
