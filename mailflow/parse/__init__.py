"""parse: bytes in, facts out. Pure functions; no I/O, no database, no clock."""

from mailflow.parse.facts import Facts
from mailflow.parse.pipeline import parse_message

__all__ = ["Facts", "parse_message"]
