"""Operator queries behind the CLI: libraries, partnerships, one record's story, the outbox.

Every query returns plain dicts (JSON-ready: times are ISO strings) so `--json` and the tables
print the same facts; the formatting helpers turn them into text and touch no database.
"""

from __future__ import annotations

from mailflow.admin.listings import (
    LIBRARY_COLUMNS,
    OUTBOX_COLUMNS,
    PARTNERSHIP_COLUMNS,
    find_library,
    format_proposal,
    libraries,
    library_item,
    outbox,
    outbox_item,
    parse_ref,
    partnership_item,
    partnerships,
    render,
    retry,
    retry_outcome,
    table,
)
from mailflow.admin.rules import dot, rules_summary
from mailflow.admin.story import attachment, format_show, show, trace_text

__all__ = [
    "LIBRARY_COLUMNS",
    "OUTBOX_COLUMNS",
    "PARTNERSHIP_COLUMNS",
    "attachment",
    "dot",
    "find_library",
    "format_proposal",
    "format_show",
    "libraries",
    "library_item",
    "outbox",
    "outbox_item",
    "parse_ref",
    "partnership_item",
    "partnerships",
    "render",
    "retry",
    "retry_outcome",
    "rules_summary",
    "show",
    "table",
    "trace_text",
]
