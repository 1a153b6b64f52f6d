"""The engine is pure: decide() on the packaged rules, without a database or a clock."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from mailflow.app import DEFAULT_RULES
from mailflow.engine import actions as fx
from mailflow.engine.events import Event, RecordView
from mailflow.engine.loader import load_machine, load_rules, mermaid
from mailflow.engine.machine import decide
from mailflow.errors import RuleDefinitionError
from tests.helpers import T0

MACHINES = load_rules(DEFAULT_RULES).machines
P = MACHINES["partnership"]
L = MACHINES["library"]


def partnership(state: str, **data: object) -> RecordView:
    return RecordView(
        "partnership",
        1,
        state,
        dict(data),
        {"a": 3, "b": 4, "informal": False, "score": 0.5, "auto_approve_threshold": None},
    )


def test_first_accept_waits_second_accept_starts_the_trial() -> None:
    first = decide(P, partnership("offered"), Event("accept", T0, side=3), T0)
    assert (first.new_state, first.effects) == ("offered", (fx.Record("accept"),))
    assert first.trace[0]["guards"] == [{"guard": "both-accepted", "held": False}]
    second = decide(
        P, partnership("offered", accepted={"3": True}), Event("accept", T0, side=4), T0
    )
    assert second.new_state == "trial"
    assert fx.SendMail("partnership-introduction", "both", cc_mentor=True) in second.effects
    assert second.effects[0] == fx.CancelTimers(
        state="offered"
    )  # leaving offered stops its reminders
    assert fx.ScheduleTimer("trial-checkin", timedelta(days=30)) in second.effects
    assert fx.Emit("partnership-started") in second.effects


def test_a_repeating_timer_schedules_its_next_firing_and_stops_on_leaving() -> None:
    d = decide(
        P, partnership("offered"), Event("offer-reminder", T0, cause="timer", sequence=1), T0
    )
    assert fx.SendMail("library-offer-reminder", "unanswered") in d.effects
    assert fx.ScheduleTimer("offer-reminder", timedelta(days=7), True, 2) in d.effects
    lapse = decide(P, partnership("offered"), Event("offer-lapse", T0, cause="timer"), T0)
    assert lapse.new_state == "lapsed" and not any(
        isinstance(e, fx.ScheduleTimer) for e in lapse.effects
    )


def test_two_unanswered_check_ins_stall_the_trial() -> None:
    quiet = decide(
        P,
        partnership("trial", unanswered_checkins=2),
        Event("trial-checkin", T0, cause="timer"),
        T0,
    )
    assert quiet.new_state == "stalled" and fx.SetField("resume_state", "trial") in quiet.effects
    busy = decide(
        P,
        partnership("trial", unanswered_checkins=1),
        Event("trial-checkin", T0, cause="timer"),
        T0,
    )
    assert (
        busy.new_state == "trial"
        and fx.SetField("unanswered_checkins", 1, increment=True) in busy.effects
    )


def test_resume_returns_to_the_state_before_stalling() -> None:
    d = decide(
        P,
        partnership("stalled", resume_state="mou_sent"),
        Event("staff-resume", T0, cause="staff"),
        T0,
    )
    assert d.new_state == "mou_sent"
    assert [g["guard"] for step in d.trace for g in step["guards"]] == ["was-trial", "was-mou-sent"]


def test_an_event_without_a_rule_changes_nothing_and_says_so() -> None:
    d = decide(P, partnership("declined"), Event("accept", T0, side=3), T0)
    assert not d.matched and d.new_state == "declined" and d.effects == ()


def test_wildcards_never_reopen_a_final_state() -> None:
    d = decide(
        L, RecordView("library", 1, "withdrawn", {}, {"missing": []}), Event("withdrawal", T0), T0
    )
    assert not d.matched


def test_library_application_complete_or_not() -> None:
    # A new address is asked to confirm first, complete or not: nothing else happens yet.
    for missing in ([], ["city"]):
        first = decide(
            L, RecordView("library", 1, "new", {}, {"missing": missing}), Event("application", T0),
            T0,
        )  # fmt: skip
        assert first.new_state == "unconfirmed"
        assert fx.SendMail("library-confirm-address", "sender") in first.effects
    # Its proven answer lists a complete application, or asks for what is missing.
    proven = Event("address-confirmed", T0, proven=True)
    complete = decide(L, RecordView("library", 1, "unconfirmed", {}, {"missing": []}), proven, T0)
    assert complete.new_state == "seeking"
    assert fx.SendMail("library-acknowledgement", "sender") in complete.effects
    partial = decide(
        L, RecordView("library", 1, "unconfirmed", {}, {"missing": ["city"]}), proven, T0
    )
    assert partial.new_state == "incomplete"
    assert fx.SendMail("library-missing", "sender") in partial.effects
    # The same words without proof (no token, not an answer to our mail): no rule applies.
    forged = decide(
        L, RecordView("library", 1, "unconfirmed", {}, {"missing": []}),
        Event("address-confirmed", T0), T0,
    )  # fmt: skip
    assert not forged.matched and forged.new_state == "unconfirmed"
    # A second form, not proven: kept, and nothing is sent.
    again = decide(
        L, RecordView("library", 1, "unconfirmed", {}, {"missing": []}), Event("application", T0),
        T0,
    )  # fmt: skip
    assert again.matched and not again.changed
    assert not [e for e in again.effects if isinstance(e, fx.SendMail)]
    # Never answered: it lapses, silently.
    lapse = decide(
        L, RecordView("library", 1, "unconfirmed", {}, {}), Event("confirmation-lapses", T0), T0
    )
    assert lapse.new_state == "lapsed"
    assert not [e for e in lapse.effects if isinstance(e, fx.SendMail)]


def test_trap_and_unreachable_states_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        "machine: m\ninitial: a\nstates:\n  a: start\n  b: middle\n  c: island\n"
        "transitions:\n  - from: a\n    on: go\n    to: b\n",
        encoding="utf-8",
    )
    with pytest.raises(RuleDefinitionError) as err:
        load_machine(path)
    text = str(err.value)
    assert f"{path}: states.c: unreachable" in text
    assert f"{path}: states.b: trap" in text


def test_duplicate_transitions_are_refused_with_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        "machine: m\ninitial: a\nstates:\n  a: start\n  b:\n    final: true\n"
        "transitions:\n  - from: a\n    on: go\n    to: b\n  - from: a\n    on: go\n    to: b\n",
        encoding="utf-8",
    )
    with pytest.raises(
        RuleDefinitionError, match=r"m.yaml:11: transitions: duplicate of the transition at line 8"
    ):
        load_machine(path)


def test_mermaid_draws_the_machine() -> None:
    text = mermaid(P)
    assert text.startswith("stateDiagram-v2")
    assert "proposed --> offered: staff-approve" in text and "closed --> [*]" in text
