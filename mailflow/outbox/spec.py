"""A queued mail kept as what to render; the drainer renders and composes it when it sends it.

A decision stores a spec: the template, the locales, a JSON context and the headers it chose
(recipients, threading, the reply token, the subject tag), beside the Message-ID and Date it
fixed. Rendering a spec is deterministic (the same template files give the same bytes; the
MIME boundary derives from the Message-ID), so a retry, or a send again after a crash, is the
same mail. Only contexts that survive JSON unchanged are deferred (`is_plain`); any other is
rendered at decision time, as before.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mailflow.outbox.compose import compose
from mailflow.outbox.render import Rendered, Renderer
from mailflow.parse.tokens import tag_subject


class NotRendered(Exception):
    """A spec could not be rendered or composed (a template error, a header it cannot carry)."""


@dataclass(frozen=True)
class Composed:
    subject: str
    locale: str  # what was used ("en,zh" when bilingual)
    raw: bytes


# What a database's JSON cannot hold as text (PostgreSQL refuses \u0000 when it reads it back,
# a lone surrogate is not Unicode): such a context is rendered at decision time instead.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def is_plain(value: object) -> bool:
    """Whether `value` is exactly what JSON gives back: dicts with str keys, lists, str (no
    subclass: a Markup would lose its escaping; no NUL or lone surrogate), int, finite float,
    bool, None."""
    kind = type(value)
    if kind is str:
        return _UNSTORABLE.search(value) is None  # type: ignore[arg-type]
    if kind is dict:
        return all(type(k) is str and is_plain(k) and is_plain(v) for k, v in value.items())  # type: ignore[attr-defined]
    if kind is list:
        return all(is_plain(v) for v in value)  # type: ignore[attr-defined]
    if kind is float:
        return math.isfinite(value)  # type: ignore[arg-type]
    return kind in (int, bool) or value is None


def make_spec(
    *,
    template: str,
    locales: list[str],
    context: dict[str, Any],
    to: list[str],
    cc: list[str],
    tag: str | None,
    reply_to: str | None,
    in_reply_to: str | None,
    references: list[str],
    date: datetime,
) -> dict[str, Any]:
    return {
        "template": template, "locales": locales, "context": context, "to": to, "cc": cc,
        "tag": tag, "reply_to": reply_to, "in_reply_to": in_reply_to,
        "references": references, "date": date.isoformat(),
    }  # fmt: skip


@dataclass(frozen=True)
class Composer:
    """Renders a spec and composes the mail, as the program sends it."""

    renderer: Renderer
    sender: str  # "Program name <address>"
    origin: str  # the program's domain (X-Mailflow-Origin)
    origin_secret: bytes | None

    def headers_fit(self, spec: Mapping[str, Any], message_id: str) -> None:
        """Raise ValueError when the headers cannot be carried (compose()'s refusals), before
        anything is rendered: the decision can then suppress the mail and tell staff."""
        self._compose(spec, message_id, subject="", text="", html=None)

    def __call__(self, spec: Mapping[str, Any], message_id: str) -> Composed:
        """The mail of a stored spec; NotRendered says why there is none."""
        try:
            rendered = self.render(spec)
            subject = rendered.subject
            if spec.get("tag"):
                subject = tag_subject(subject, spec["tag"])
            raw = self.compose(spec, message_id, rendered, subject)
        except Exception as exc:  # noqa: BLE001 - any failure is this mail's, not the drainer's
            raise NotRendered(f"{type(exc).__name__}: {exc}"[:2000]) from exc
        return Composed(subject=subject, locale=rendered.locale, raw=raw)

    def render(self, spec: Mapping[str, Any]) -> Rendered:
        """The template in the spec's locales (bilingual when they differ)."""
        locales = list(spec["locales"])
        if len(set(locales)) > 1:
            return self.renderer.render_bilingual(spec["template"], locales, spec["context"])
        return self.renderer.render(spec["template"], locales[0], spec["context"])

    def compose(
        self, spec: Mapping[str, Any], message_id: str, rendered: Rendered, subject: str
    ) -> bytes:
        return self._compose(
            spec, message_id, subject=subject, text=rendered.text, html=rendered.html
        )

    def _compose(
        self, spec: Mapping[str, Any], message_id: str, *, subject: str, text: str, html: str | None
    ) -> bytes:
        return compose(
            sender=self.sender, to=list(spec["to"]), cc=list(spec["cc"]), subject=subject,
            text=text, html=html, message_id=message_id,
            date=datetime.fromisoformat(spec["date"]), in_reply_to=spec.get("in_reply_to"),
            references=list(spec.get("references") or ()), reply_to=spec.get("reply_to"),
            auto_submitted=True, origin=self.origin, origin_secret=self.origin_secret,
        )  # fmt: skip
