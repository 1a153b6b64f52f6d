"""Automatic replies: RFC 3834, vendor headers, out-of-office subjects and bodies."""

from __future__ import annotations

from datetime import datetime

from mailflow.parse.facts import DecodedMessage


def detect_auto_reply(msg: DecodedMessage) -> tuple[bool, datetime | None]:
    """(is an automatic reply, the stated return date if one can be read)."""
    raise NotImplementedError
