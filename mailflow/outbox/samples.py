"""One realistic context per mail template: the contract between the engine and the templates.

The workflow engine builds exactly these shapes; the template tests render every template with
them in every locale, so a template that needs a new key fails here first. Conventions:

- dates are ISO strings (``"2026-03-01"``) or None; templates write them out per locale;
- ``languages`` are ISO 639-1 codes; optional profile fields may be None or "", never absent;
- ``partnership.review_date`` is the end of the trial while in trial, the MOU's review date after;
- ``deadline`` is the due date of the timer a template's front matter names (``deadline:``);
- ``mentor.name`` may be "" (only an address is configured): templates fall back to the email.

``sample_context(name, locale, sparse=True)`` strips every optional profile field, so tests
prove that an empty field leaves no line, placeholder or "None" behind.
"""

from __future__ import annotations

import copy
from typing import Any

from mailflow.outbox.render import blank_form, field_label
from mailflow.parse.forms import MOU_FIELDS

__all__ = ["SAMPLE_CONTEXTS", "SPARSE_FIELDS", "TEMPLATE_NAMES", "sample_context"]

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
    "public_listing": "yes",
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
    "public_listing": None,
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


# A library that wrote to the program from a new address, naming Hangzhou Public Library.
CANDIDATE = {
    "library_name": A["name"],
    "city": A["city"],
    "country": A["country"],
    "contact_name": "Chen Jing",
    "contact_email": "chenjing@163.example.com",
}
NEWCOMER_MESSAGE = {
    "id": 533,
    "from": f"Chen Jing <{CANDIDATE['contact_email']}>",
    "subject": "杭州图书馆 / Hangzhou Public Library: new contact",
    "received": "2026-03-05T02:40:00+00:00",
    "text": "您好，我是杭州图书馆少儿部的陈静，今后由我负责姐妹图书馆项目的联络。\n城市：杭州",
}
STATUS_MESSAGE = {
    "id": 534,
    "from": f"{STAFF['name']} <{STAFF['email']}>",
    "subject": "Re: Sister Libraries digest, 4 March 2026",
    "received": "2026-03-05T08:15:00+00:00",
    "text": "status Hangzhou Public Library",
}

# Profile fields a library may leave empty (the contract: None or "", never absent).
SPARSE_FIELDS = (
    "library_type", "country", "city", "contact_name", "languages", "size", "interests",
    "communication", "commitment", "website", "timezone", "public_listing",
)  # fmt: skip


def _to(library: dict[str, Any], sender: str | None = None) -> dict[str, str]:
    # An incomplete application may lack the contact address: we answer whoever sent it.
    return {
        "name": library["contact_name"] or "",
        "email": library["contact_email"] or sender or "",
    }


def _lib(library: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"library": library, "recipient": _to(library, "gwanjiru@gmail.example"), **extra}


def _pair(partnership: dict[str, Any], **extra: Any) -> dict[str, Any]:
    ctx = {"library": A, "partner": B, "a": A, "b": B, "mentor": MENTOR, "recipient": _to(A)}
    return {**ctx, "partnership": partnership, **extra}


_CONTEXTS: dict[str, dict[str, Any]] = {
    "library-acknowledgement": _lib(A),
    "library-confirm-address": _lib(INCOMPLETE, missing=MISSING, deadline="2026-04-02"),
    "library-missing": _lib(
        INCOMPLETE, form=blank_form("application", "en"), missing=MISSING, deadline="2026-05-03"
    ),
    "library-missing-reminder": _lib(
        INCOMPLETE,
        form=blank_form("application", "en"),
        missing=MISSING,
        attempt=1,
        deadline="2026-05-03",
    ),
    "library-offer": _pair(OFFERED, deadline="2026-03-25"),
    "library-offer-reminder": _pair(OFFERED, deadline="2026-03-25", attempt=1),
    "library-offer-lapsed": _pair(OFFERED | {"state": "lapsed"}),
    "library-offer-closed": _pair(OFFERED | {"state": "lapsed"}),
    "library-withdrawn": _lib(A),
    "library-confirm": _lib(
        A,
        event="withdrawal",
        record={"type": "library", "id": 14},
        expires="2026-03-18",
        message=MESSAGE | {"text": "Please withdraw us.", "reason": "not confirmed"},
    ),
    "library-confirm-contact": {
        "library": A,
        "recipient": {"name": "Ana Ruiz", "email": "ana.ruiz@biblioteca.example.es"},
        "expires": "2026-03-18",
    },
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
    "partnership-informal-confirmed": _pair(ACTIVE | {"informal": True}),
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
    "staff-merge-proposal": {
        "library": A,
        "candidate": CANDIDATE,
        "update": False,
        "message": NEWCOMER_MESSAGE,
        "recipient": STAFF,
    },
    "staff-status": {
        "lines": [
            "Library #14 Hangzhou Public Library (Hangzhou, China): partnered",
            "- contacts: liwei@hzlib.example.cn (ok)",
            "- partnership #8 with Biblioteca Pública Municipal de Valparaíso: trial since"
            " 2 March 2026, review 31 May 2026, 2 activities logged",
        ],
        "message": STATUS_MESSAGE,
        "recipient": STAFF,
    },
    "staff-confirm": {
        "command": "close",
        "expires": "2026-03-07",
        "message": STATUS_MESSAGE | {"text": "close", "reason": "not authenticated"},
        "recipient": STAFF,
    },
    "staff-escalation": {
        "reason": "stalled",
        "partnership": TRIAL | {"state": "stalled"},
        "library": None,
        "a": A,
        "b": B,
        "recipient": STAFF,
    },
    "staff-notice": {
        "reason": "unreachable",
        "partnership": None,
        "library": A,
        "a": None,
        "b": None,
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


def _sparse(library: dict[str, Any]) -> dict[str, Any]:
    return library | {k: [] if k == "languages" else None for k in SPARSE_FIELDS} | {"city": ""}


def sample_context(name: str, locale: str = "en", sparse: bool = False) -> dict[str, Any]:
    """A deep copy of the sample for ``name``, with its forms and labels in ``locale``.

    sparse: every library with only its id, name and e-mail address, a candidate with only a
    name and address, a mentor known only by address, a recipient without a name.
    """
    ctx = copy.deepcopy(SAMPLE_CONTEXTS[name])
    if sparse:
        for key in ("library", "partner", "a", "b"):
            if isinstance(ctx.get(key), dict):
                ctx[key] = _sparse(ctx[key])
        sections = ctx.get("sections", {})
        if "new_applications" in sections:
            sections["new_applications"] = [_sparse(lib) for lib in sections["new_applications"]]
        if "candidate" in ctx:
            ctx["candidate"] |= {"city": None, "country": None, "contact_name": ""}
        if "mentor" in ctx:
            ctx["mentor"]["name"] = ""
        ctx["recipient"]["name"] = ""
    ctx["locale"] = locale
    if "form" in ctx:
        kind = "mou" if name.startswith("partnership-") else "application"
        ctx["form"] = blank_form(kind, locale)
    for item in ctx.get("missing", []):
        item["label"] = field_label(item["key"], locale)
    if "mou_labels" in ctx:
        ctx["mou_labels"] = {k: field_label(k, locale) for k in ctx["mou_labels"]}
    return ctx
