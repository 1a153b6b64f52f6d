"""One realistic context per mail template: the contract between the engine and the templates.

The workflow engine builds exactly these shapes; the template tests render every template with
them in every locale, so a template that needs a new key fails here first. Conventions:

- dates are ISO strings (``"2026-03-01"``) or None; templates write them out per locale;
- ``languages`` are ISO 639-1 codes; optional profile fields may be None or "", never absent;
- ``partnership.review_date`` is the end of the trial while in trial, the MOU's review date after;
- ``deadline`` (offers, keep-listed) is the day silence takes effect, from the rules' timers.
"""

from __future__ import annotations

import copy
from typing import Any

from mailflow.outbox.render import blank_form, field_label
from mailflow.parse.forms import MOU_FIELDS

__all__ = ["SAMPLE_CONTEXTS", "TEMPLATE_NAMES", "sample_context"]

PROGRAM = {
    "name": "Sister Libraries Program",
    "address": "sisters@program.example",
    "website": "https://sisters.program.example",
}
MENTOR = {"name": "Ruth Okafor", "email": "ruth.okafor@mentors.example"}
STAFF = {"name": "Program coordinator", "email": "coordinator@program.example"}

A: dict[str, Any] = {
    "id": 14,
    "name": "Hangzhou Public Library",
    "library_type": "public",
    "country": "China",
    "city": "Hangzhou",
    "contact_name": "Li Wei",
    "contact_email": "liwei@hzlib.example.cn",
    "languages": ["zh", "en"],
    "size": "about 1.2 million registered readers",
    "interests": "children's reading, local history, digital services",
    "communication": "email every month, a video call each quarter",
    "commitment": "formal, with an MOU",
    "website": "https://www.hzlib.example.cn",
    "timezone": "Asia/Shanghai",
}
B: dict[str, Any] = {
    "id": 27,
    "name": "Biblioteca Pública Municipal de Valparaíso",
    "library_type": "public",
    "country": "Chile",
    "city": "Valparaíso",
    "contact_name": "María González",
    "contact_email": "mgonzalez@bibliovalpo.example.cl",
    "languages": ["es", "en"],
    "size": "60,000 residents",
    "interests": "children's reading, storytelling, exchange of picture books",
    "communication": "email, a video call once a month",
    "commitment": "start informal, then an MOU",
    "website": None,
    "timezone": "America/Santiago",
}
# An application that lacks the country and the contact's e-mail address.
INCOMPLETE = A | {"id": 31, "name": "Nairobi Children's Library", "library_type": "school"}
INCOMPLETE |= {"country": None, "city": "Nairobi", "contact_name": "Grace Wanjiru"}
INCOMPLETE |= {"contact_email": None, "languages": ["sw", "en"], "timezone": "Africa/Nairobi"}

MISSING = [{"key": k, "label": field_label(k, "en")} for k in ("country", "contact_email")]

TRIAL = {"id": 8, "state": "trial", "trial_days": 90, "start_date": "2026-03-02"}
TRIAL |= {"review_date": "2026-05-31", "informal": False}
OFFERED = TRIAL | {"state": "offered", "start_date": None, "review_date": None}
PROPOSED = OFFERED | {"state": "proposed"}
ACTIVE = TRIAL | {"state": "active", "start_date": "2026-06-15", "review_date": "2027-06-15"}

MOU = {
    "a": {
        "goals": "Share children's reading programmes; learn about each other's cities.",
        "activities": "- pen pals for young readers\n- exchange of picture books\n- a joint bulletin board",
        "primary_contacts": "Li Wei <liwei@hzlib.example.cn>",
        "working_language": "English",
        "channel": "email, video call",
        "frequency": "monthly",
        "start_date": "2026-06-15",
        "duration": "two years",
        "review_date": "2027-06-15",
        "signatory_name": "Zhang Min",
        "signatory_title": "Director",
    },
    "b": {
        "goals": "Children's reading and storytelling across cultures.",
        "activities": "- exchange of picture books\n- a storytelling video each season",
        "primary_contacts": "María González <mgonzalez@bibliovalpo.example.cl>",
        "working_language": "English (Spanish for the children's letters)",
        "channel": "email",
        "frequency": "monthly",
        "start_date": "2026-06-15",
        "duration": "two years",
        "review_date": "2027-06-15",
        "signatory_name": "Pedro Rojas",
        "signatory_title": "Head librarian",
    },
}

MESSAGE = {
    "id": 512,
    "from": "Tomás Rivera <trivera@bibliolima.example.pe>",
    "subject": "Pregunta sobre el programa <script>",
    "received": "2026-03-04T09:12:00+00:00",
    "reason": "no partnership or library matches this sender, and no form fields were found",
    "text": "Hola, ¿pueden enviarnos más información? <script>alert(1)</script>\nGracias",
}


def _to(library: dict[str, Any], sender: str | None = None) -> dict[str, str]:
    # An incomplete application may lack the contact address: we answer whoever sent it.
    return {
        "name": library["contact_name"] or "",
        "email": library["contact_email"] or sender or "",
    }


def _lib(library: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"library": library, "recipient": _to(library, "gwanjiru@gmail.example"), **extra}


def _pair(partnership: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"library": A, "partner": B, "recipient": _to(A), "partnership": partnership, **extra}


_CONTEXTS: dict[str, dict[str, Any]] = {
    "library-acknowledgement": _lib(A),
    "library-missing": _lib(INCOMPLETE, form=blank_form("application", "en"), missing=MISSING),
    "library-missing-reminder": _lib(
        INCOMPLETE, form=blank_form("application", "en"), missing=MISSING, attempt=1
    ),
    "library-offer": _pair(OFFERED, deadline="2026-03-25"),
    "library-offer-reminder": _pair(OFFERED, deadline="2026-03-25", attempt=1),
    "library-offer-lapsed": _pair(OFFERED | {"state": "lapsed"}),
    "library-offer-closed": _pair(OFFERED | {"state": "lapsed"}),
    "library-withdrawn": _lib(A),
    "library-keep-listed": _lib(A, listed_since="2025-09-01", deadline="2026-04-03"),
    "library-relisted": _lib(A),
    "library-not-understood": {
        "recipient": {"name": "", "email": "trivera@bibliolima.example.pe"},
        "message": MESSAGE,
        "form": blank_form("application", "en"),
    },
    "partnership-introduction": {
        "a": A,
        "b": B,
        "mentor": MENTOR,
        "partnership": TRIAL,
        "recipient": {
            "name": f"{A['contact_name']}, {B['contact_name']}",
            "email": A["contact_email"],
        },
    },
    "partnership-trial-checkin": _pair(TRIAL, attempt=1),
    "partnership-mou-request": _pair(TRIAL | {"state": "mou_sent"}, form=blank_form("mou", "en")),
    "partnership-mou-missing": _pair(
        TRIAL | {"state": "mou_sent"},
        form=blank_form("mou", "en"),
        missing=[{"key": k, "label": field_label(k, "en")} for k in ("duration", "review_date")],
    ),
    "partnership-mou-confirmed": {
        "a": A,
        "b": B,
        "partnership": ACTIVE,
        "mou": MOU,
        "recipient": _to(A),
        "mou_labels": {k: field_label(k, "en") for k in MOU_FIELDS},
    },
    "partnership-active-checkin": _pair(ACTIVE, attempt=1),
    "partnership-evaluation": _pair(ACTIVE),
    "partnership-review-reminder": _pair(ACTIVE, attempt=1),
    "partnership-renewed": _pair(ACTIVE | {"review_date": "2028-06-15"}),
    "partnership-closed": _pair(ACTIVE | {"state": "closed"}),
    "staff-proposal": {
        "a": A,
        "b": B,
        "score": 0.82,
        "partnership": PROPOSED,
        "recipient": STAFF,
        "reasons": [
            "different countries (China, Chile); shared working language: English",
            "both public libraries of a similar size",
            "shared interests: children's reading",
            "both prefer email with a monthly video call",
            "Biblioteca Pública Municipal de Valparaíso has waited 94 days",
        ],
    },
    "staff-needs-person": {"message": MESSAGE, "recipient": STAFF},
    "staff-escalation": {
        "reason": "stalled",
        "partnership": TRIAL | {"state": "stalled"},
        "library": None,
        "a": A,
        "b": B,
        "recipient": STAFF,
    },
    "staff-digest": {
        "date": "2026-03-04",
        "recipient": STAFF,
        "sections": {
            "new_applications": [A, B],
            "proposals_waiting": [
                {
                    "id": 9,
                    "a_name": A["name"],
                    "b_name": B["name"],
                    "score": 0.82,
                    "days_waiting": 3,
                }
            ],
            "stalled": [
                {
                    "id": 5,
                    "a_name": "Bergen Public Library",
                    "b_name": "Kumasi City Library",
                    "state": "stalled",
                    "since": "2026-02-10",
                },
            ],
            "bounced": [
                {
                    "email": "old@library.example",
                    "library_name": "Tartu City Library",
                    "status": "failed",
                }
            ],
            "needs_person": [
                {
                    "id": MESSAGE["id"],
                    "from": MESSAGE["from"],
                    "subject": MESSAGE["subject"],
                    "reason": MESSAGE["reason"],
                },
            ],
        },
    },
}

TEMPLATE_NAMES: tuple[str, ...] = tuple(_CONTEXTS)
SAMPLE_CONTEXTS: dict[str, dict[str, Any]] = {
    name: {"program": PROGRAM, "locale": "en", **ctx} for name, ctx in _CONTEXTS.items()
}


def sample_context(name: str, locale: str = "en") -> dict[str, Any]:
    """A deep copy of the sample for ``name``, with its forms and labels in ``locale``."""
    ctx = copy.deepcopy(SAMPLE_CONTEXTS[name])
    ctx["locale"] = locale
    if "form" in ctx:
        kind = "mou" if name.startswith("partnership-") else "application"
        ctx["form"] = blank_form(kind, locale)
    for item in ctx.get("missing", []):
        item["label"] = field_label(item["key"], locale)
    if "mou_labels" in ctx:
        ctx["mou_labels"] = {k: field_label(k, locale) for k in ctx["mou_labels"]}
    return ctx
