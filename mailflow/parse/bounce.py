"""Bounce detection: RFC 3464 DSNs and the non-standard ones (flufl.bounce)."""

from __future__ import annotations

from email.message import Message

from mailflow.parse.facts import Bounce


def detect_bounce(msg: Message) -> Bounce | None:
    """Return the failed recipients and whether the failure is permanent, or None."""
    raise NotImplementedError
