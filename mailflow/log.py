"""Loggers per area. Lines carry a Message-ID or record id, never a password or a whole body.

At INFO a running service says one line per message processed and per mail sent; addresses
(personal data, and noise) appear only at DEBUG.
"""

from __future__ import annotations

import logging
import re

INBOUND = logging.getLogger("mailflow.inbound")
PARSE = logging.getLogger("mailflow.parse")
DISPATCH = logging.getLogger("mailflow.dispatch")
ENGINE = logging.getLogger("mailflow.engine")
OUTBOX = logging.getLogger("mailflow.outbox")
SCHEDULER = logging.getLogger("mailflow.scheduler")

# Libraries that talk at INFO about their own work: APScheduler on every tick ("Running job",
# "executed successfully"), aiosmtpd ("mail.log", "mail.debug") on every connection and command,
# Alembic on every start ("Context impl SQLiteImpl"), flufl.bounce for every detector it tries.
CHATTY = ("apscheduler", "mail.log", "mail.debug", "imapclient", "alembic", "flufl.bounce")

_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure(level: str = "INFO", fmt: str = "text") -> None:
    """Root logging to stderr; fmt "json": one JSON object per line, for a log collector."""
    number = getattr(logging, level.upper(), logging.INFO)
    if fmt == "json":
        from pythonjsonlogger.json import JsonFormatter

        handler = logging.StreamHandler()
        # A traceback stays inside its line's "exc_info" field: one record, one line.
        handler.setFormatter(
            JsonFormatter(
                "{levelname}{name}{threadName}{message}",
                style="{",
                rename_fields={"levelname": "level", "name": "logger", "threadName": "thread"},
                timestamp="time",  # ISO 8601, UTC
            )  # fmt: skip
        )
        logging.basicConfig(level=number, handlers=[handler])
    else:
        logging.basicConfig(level=number, format=TEXT_FORMAT)
    # Their warnings still show; their chatter only when the operator asks for DEBUG.
    for name in CHATTY:
        logging.getLogger(name).setLevel(
            logging.DEBUG if number <= logging.DEBUG else logging.WARNING
        )


def hide_addresses(text: str) -> str:
    """text with every e-mail address replaced by <address>, for lines logged at INFO."""
    return _ADDRESS.sub("<address>", text)
