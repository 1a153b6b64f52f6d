"""dispatch: the only write path. Inbox rows and due timers in; state, history, outbox, timers out.

The flow a reader can follow: inbox.py (claim, parse once) -> correlate.py (facts -> record +
event, from the rules' reply tables) -> apply.py (decide; write state, history, timers) ->
letters.py (mail effects -> outbox rows). commands.py carries out staff commands, attention.py
keeps the needs-a-person queue, failures.py handles failed addresses, digest.py the daily digest.
"""

from mailflow.dispatch.inbox import ProcessReport, process_pending, replay
from mailflow.dispatch.program import Limits, ProgramContext, StaffMember, Workflow

__all__ = [
    "Limits",
    "ProcessReport",
    "ProgramContext",
    "StaffMember",
    "Workflow",
    "process_pending",
    "replay",
]
