"""MIME decoding: bytes -> DecodedMessage. Never raises on bad bytes; problems become defects."""

from __future__ import annotations

from mailflow.parse.facts import DecodedMessage


def decode(raw: bytes) -> DecodedMessage:
    """Decode headers (RFC 2047/2231), pick the main text (HTML-only -> text), list attachments.

    Charset fallback chain: declared label (gb2312/gbk -> gb18030, big5 -> big5hkscs, ...),
    then UTF-8, then charset detection, then windows-1252 with replacement.
    """
    raise NotImplementedError
