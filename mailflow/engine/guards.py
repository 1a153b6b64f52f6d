"""Guards: small pure predicates named in the rules, each with a one-line description."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mailflow.engine.events import Event, RecordView

GuardFn = Callable[[RecordView, Event], bool]


@dataclass(frozen=True)
class GuardEntry:
    fn: GuardFn
    description: str


GUARDS: dict[str, GuardEntry] = {}


def guard(name: str, description: str) -> Callable[[GuardFn], GuardFn]:
    def register(fn: GuardFn) -> GuardFn:
        GUARDS[name] = GuardEntry(fn, description)
        return fn

    return register


def _sides(record: RecordView) -> tuple[str, str]:
    return str(record.context["a"]), str(record.context["b"])


@guard("application-complete", "every required application field is there")
def application_complete(record: RecordView, event: Event) -> bool:
    return not record.context.get("missing")


@guard("both-accepted", "with this answer, both libraries have said yes to the offer")
def both_accepted(record: RecordView, event: Event) -> bool:
    accepted = {k for k, v in record.data.get("accepted", {}).items() if v}
    if event.side is not None:
        accepted.add(str(event.side))
    return set(_sides(record)) <= accepted


@guard("mou-complete", "this library's MOU reply has every field and says it agrees")
def mou_complete(record: RecordView, event: Event) -> bool:
    return event.agreed and not record.context.get("mou_missing")


@guard("both-signed", "with this reply, both libraries have signed the MOU")
def both_signed(record: RecordView, event: Event) -> bool:
    signed = {k for k, v in record.data.get("signed", {}).items() if v}
    if event.side is not None and mou_complete(record, event):
        signed.add(str(event.side))
    return set(_sides(record)) <= signed


@guard("informal", "the libraries chose an informal partnership (no MOU)")
def informal(record: RecordView, event: Event) -> bool:
    return bool(record.context.get("informal"))


@guard("check-ins-unanswered", "neither library answered the last two check-ins")
def checkins_unanswered(record: RecordView, event: Event) -> bool:
    return int(record.data.get("unanswered_checkins", 0)) >= 2


@guard("auto-approve", "the score is at or above the operator's auto-approve threshold")
def auto_approve(record: RecordView, event: Event) -> bool:
    threshold = record.context.get("auto_approve_threshold")
    score = record.context.get("score")
    return threshold is not None and score is not None and score >= threshold


@guard(
    "has-live-partnership",
    "the library still has a partnership in a state tagged live (trial, MOU, active, renewal)",
)
def has_live_partnership(record: RecordView, event: Event) -> bool:
    return int(record.context.get("live_partnerships", 0)) > 0


@guard("awaiting-keep-listed", "the library was asked to confirm its listing and has not")
def awaiting_keep_listed(record: RecordView, event: Event) -> bool:
    return bool(record.data.get("awaiting_keep_listed"))


@guard("was-trial", "the partnership was in trial before it stalled")
def was_trial(record: RecordView, event: Event) -> bool:
    return record.data.get("resume_state") == "trial"


@guard("was-mou-sent", "the partnership was waiting for MOUs before it stalled")
def was_mou_sent(record: RecordView, event: Event) -> bool:
    return record.data.get("resume_state") == "mou_sent"


@guard("was-active", "the partnership was active before it stalled")
def was_active(record: RecordView, event: Event) -> bool:
    return record.data.get("resume_state") == "active"


@guard("review-asked", "the libraries were asked whether to renew before the review date")
def review_asked(record: RecordView, event: Event) -> bool:
    return bool(record.data.get("review_asked"))


@guard("both-renew", "with this answer, both libraries said yes to renewing")
def both_renew(record: RecordView, event: Event) -> bool:
    renew = {k for k, v in (record.data.get("renew") or {}).items() if v}
    if event.side is not None:
        renew.add(str(event.side))
    return set(_sides(record)) <= renew


@guard("was-renewal", "the partnership was up for renewal before it stalled")
def was_renewal(record: RecordView, event: Event) -> bool:
    return record.data.get("resume_state") == "renewal"


@guard(
    "address-proven",
    "the mail carries the library's own reply token, answers our mail to it, or is authenticated",
)
def address_proven(record: RecordView, event: Event) -> bool:
    return event.proven
