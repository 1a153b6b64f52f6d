"""Loggers per area. Lines carry a Message-ID or record id, never a password or a whole body."""

from __future__ import annotations

import logging

INBOUND = logging.getLogger("mailflow.inbound")
PARSE = logging.getLogger("mailflow.parse")
DISPATCH = logging.getLogger("mailflow.dispatch")
ENGINE = logging.getLogger("mailflow.engine")
OUTBOX = logging.getLogger("mailflow.outbox")
SCHEDULER = logging.getLogger("mailflow.scheduler")


def configure(level: str = "INFO") -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Alembic says "Context impl SQLiteImpl" on every start; only its warnings matter here.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # flufl.bounce logs every detector it tries at INFO.
    logging.getLogger("flufl.bounce").setLevel(logging.WARNING)
