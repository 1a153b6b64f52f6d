"""Write the static report: the public seeking list and the staff dashboard, per locale."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from mailflow.engine.definition import Machine
from mailflow.engine.loader import mermaid
from mailflow.outbox.render import language_names, library_type, long_date
from mailflow.report.charts import bar_chart, funnel_chart
from mailflow.report.data import dashboard_data, public_data
from mailflow.report.graph import parse_mermaid, state_svg
from mailflow.report.i18n import country_name, state_name, ui
from mailflow.store.db import Database

__all__ = ["PAGES", "SECTIONS", "write_report"]

TEMPLATES = Path(__file__).with_name("templates")
PAGES = {"index": "index.html", "dashboard": "dashboard.html"}
# Each page's folder under the report folder: the public list is published as a whole folder,
# the dashboard (contact addresses, staff figures) never sits beside it.
SECTIONS = {"index": "public", "dashboard": "staff"}


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _prefix(locale: str, locales: Sequence[str]) -> str:
    """The first locale is the site's root; the others live in a folder of their name."""
    return "" if locale == locales[0] else f"{locale}/"


def _href(
    page: str, source: str, target: str, locales: Sequence[str], from_page: str | None = None
) -> str:
    """A relative link from `from_page` (default: `page`) in `source` to `page` in `target`."""
    from_page = from_page or page
    up = "../" if _prefix(source, locales) else ""
    if SECTIONS[page] == SECTIONS[from_page]:
        return f"{up}{_prefix(target, locales)}{PAGES[page]}"
    return f"{up}../{SECTIONS[page]}/{_prefix(target, locales)}{PAGES[page]}"


def _date_time(value: datetime | None, locale: str) -> str:
    if value is None:
        return ""
    return f"{long_date(value.date(), locale)} {value:%H:%M} UTC"


def _context(locale: str, locales: Sequence[str], page: str, now: datetime, program: str) -> dict:
    t = ui(locale)
    return {
        "locale": locale,
        "t": t,
        "program": program,
        "page": page,
        "as_of": t["as_of"].format(date=_date_time(now, locale)),
        "now_iso": now.isoformat(timespec="minutes"),
        "switch": [
            {
                "locale": other,
                "name": ui(other)["language"],
                "href": _href(page, locale, other, locales),
            }
            for other in locales
        ],
        "nav": {p: _href(p, locale, locale, locales, from_page=page) for p in PAGES},
        "country": lambda key: country_name(key, locale),
        "languages": lambda codes: language_names(codes, locale),
        "kind": lambda value: library_type(value, locale) if value != "?" else t["unknown"],
        "state": lambda value: state_name(value, locale),
        "date": lambda value: long_date(value.date(), locale) if value else "",
        "when": lambda value: _date_time(value, locale),
    }


def _charts(data: Mapping[str, Any], ctx: Mapping[str, Any], svg: Markup) -> dict[str, Markup]:
    t = ctx["t"]
    stages = [(ctx["state"](s["state"]), s["reached"], s["now"]) for s in data["funnel"]["stages"]]
    return {
        "by_country": bar_chart(
            t["by_country"], [(ctx["country"](k), n) for k, n in data["by_country"]]
        ),
        "by_type": bar_chart(t["by_type"], [(ctx["kind"](k), n) for k, n in data["by_type"]]),
        "by_state": bar_chart(
            t["by_state"], [(ctx["state"](k), n) for k, n in data["library_states"]]
        ),
        "funnel": funnel_chart(t["funnel"], stages, now_word=t["now"]),
        "activities": bar_chart(t["activities"], data["activities"], label_room=90),
        "machine": svg,
    }


def write_report(
    db: Database,
    machines: dict[str, Machine],
    out_dir: Path,
    now: datetime,
    program_name: str,
    locales: Sequence[str] = ("en", "zh"),
) -> list[Path]:
    """Write the public list and the staff dashboard per locale; return the files written.

    ``out_dir/public/index.html`` carries no contact detail and is the folder to publish;
    ``out_dir/staff/dashboard.html`` is for staff only. In each, the first locale is at the
    folder's root and each other one in ``<locale>/``.
    """
    if not locales:
        raise ValueError("at least one locale")
    machine = machines["partnership"]
    with db.unit_of_work() as session:
        public = public_data(session, machines["library"].tagged("listed"))
        dashboard = dashboard_data(session, machines, now)
    graph = parse_mermaid(mermaid(machine))
    env = _environment()
    written: list[Path] = []
    for locale in locales:
        # Earlier versions wrote the dashboard beside the public page; a folder published as a
        # whole would still serve that copy with its contact addresses.
        (out_dir / _prefix(locale, locales) / PAGES["dashboard"]).unlink(missing_ok=True)
    for locale in locales:
        for page in PAGES:
            folder = out_dir / SECTIONS[page] / _prefix(locale, locales)
            folder.mkdir(parents=True, exist_ok=True)
            ctx = _context(locale, locales, page, now, program_name)
            if page == "index":
                ctx["data"] = public
            else:
                svg = state_svg(
                    graph,
                    title=ui(locale)["machine"],
                    order=list(machine.states),
                    counts=dashboard["partnership_states"],
                    label=partial(_state_label, locale=locale),
                )
                ctx["data"] = dashboard
                ctx["charts"] = _charts(dashboard, ctx, svg)
            html = env.get_template(f"{page}.html.j2").render(ctx)
            path = folder / PAGES[page]
            path.write_text(html, encoding="utf-8")
            written.append(path)
    return written


def _state_label(state: str, locale: str) -> str:
    """The second line of a state's box: its name in the reader's language (none in English)."""
    return "" if locale == "en" else state_name(state, locale)
