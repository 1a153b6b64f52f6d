"""dispatch: the only write path. Inbox rows and due timers in; state, history, outbox, timers out."""

from mailflow.dispatch.inbox import ProcessReport, process_pending, replay
from mailflow.dispatch.program import ProgramContext, Workflow

__all__ = ["ProcessReport", "ProgramContext", "Workflow", "process_pending", "replay"]
