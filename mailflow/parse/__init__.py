"""parse: bytes in, facts out. Pure functions; no I/O, no database, no clock.

`parse_message` is imported on first use (PEP 562): the `mailflow run` process only needs
`Facts` and a few helpers, and never parses (its parse worker does), so importing this
package must not load the pipeline and what it pulls in (charset detection, the language
detector, babel's locale data). See docs/architecture.md (memory).
"""

from typing import TYPE_CHECKING, Any

from mailflow.parse.facts import Facts

if TYPE_CHECKING:
    from mailflow.parse.pipeline import parse_message

__all__ = ["Facts", "parse_message"]


def __getattr__(name: str) -> Any:
    if name == "parse_message":
        from mailflow.parse.pipeline import parse_message

        return parse_message
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
