"""Libraries from the committee's spreadsheet (CSV): reading and checking a file. Pure.

`parse_rows` reads and checks a file on its own, every row, and reports every problem;
csv_import.py checks the rows against the database and writes them (or writes them back out).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr

from mailflow.countries import country_key
from mailflow.parse.forms import (
    APPLICATION_FIELDS,
    FIELD_LABELS,
    REQUIRED_APPLICATION_FIELDS,
    is_placeholder,
    missing,
    normalise_languages,
    normalise_library_type,
)

__all__ = [
    "EXPORT_COLUMNS",
    "FORMULA_STARTS",
    "neutralise_cell",
    "restore_cell",
    "Importable",
    "UnreadableFile",
    "ImportRow",
    "Validation",
    "map_columns",
    "parse_rows",
    "read_table",
]

# partnered needs partnerships and new is no state at all, so neither can be imported.


@dataclass(frozen=True)
class Importable:
    """What the rules allow an import to set: the states tagged `importable`, and the state a
    row with none is in (the first state tagged `listed`)."""

    states: tuple[str, ...]
    listed: str


CONTACT_STATUSES = ("ok", "bouncing", "failed")
EXPORT_COLUMNS = ("id", "state", "created", *APPLICATION_FIELDS, "contacts")
# Always needed, whatever the state: without them there is no library and no one to write to.
ESSENTIAL = ("library_name", "contact_email")

# Extra column names (normalised like the form labels) beyond the application's own labels.
_EXTRA_COLUMNS: dict[str, str] = {
    "state": "state", "status": "state", "状态": "state", "librarystate": "state",
    "created": "created", "createdat": "created", "dateadded": "created", "added": "created",
    "joined": "created", "创建日期": "created", "创建时间": "created", "加入日期": "created",
    "contacts": "contacts", "allcontacts": "contacts", "联系人列表": "contacts",
    "id": "id", "编号": "id", "序号": "id", "no": "id", "#": "id",
    "emailaddress": "contact_email", "contactemailaddress": "contact_email",
    "librarytype": "library_type", "languagesspoken": "languages", "name": "name",
}  # fmt: skip
_EMAIL_RE = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}")
_DELIMITERS = (",", ";", "\t")


class UnreadableFile(Exception):
    """The file as a whole cannot be read (encoding, no header)."""


def _norm(label: str) -> str:
    # Like forms._norm_label: case, spaces and punctuation do not matter in a column name.
    label = re.sub(r"\([^)]*\)|（[^）]*）|\[[^\]]*\]|【[^】]*】", "", label)
    return re.sub(r"[\s\-_./'’*:：]+", "", label.strip().lower())


def _column_names() -> dict[str, str]:
    from mailflow.parse import forms

    names: dict[str, str] = {}
    for key in APPLICATION_FIELDS:
        names[_norm(key)] = key
        names[_norm(FIELD_LABELS["en"][key])] = key
        names[_norm(FIELD_LABELS["zh"][key])] = key
    # The form synonyms ("E-mail address", "Library", "Type", "Contact", "邮箱" ...) as well.
    for label, key in forms._LABELS["application"].items():
        names.setdefault(label, key)
    names.update(_EXTRA_COLUMNS)
    return names


_COLUMNS = _column_names()


@dataclass(frozen=True)
class Table:
    header: list[str]
    records: list[tuple[int, list[str]]]  # (spreadsheet row number, cells); the header is row 1
    delimiter: str
    encoding: str


# A spreadsheet runs a cell starting with one of these as a formula (CSV injection, e.g.
# `=HYPERLINK(...)` in a library name); our export writes them behind a `'`, which Excel and
# LibreOffice treat as "text", and our import takes it off again.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: str) -> str:
    """A cell a spreadsheet will show as text, never run as a formula."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def restore_cell(value: str) -> str:
    """The value `neutralise_cell` was given (a `'` only before a formula start is ours)."""
    if value.startswith("'") and value[1:].startswith(FORMULA_STARTS):
        return value[1:]
    return value


def read_table(data: bytes) -> Table:
    """Decode (UTF-8 with or without BOM, else GB18030), pick the delimiter, split the rows."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise UnreadableFile("the file is neither UTF-8 nor GB18030/GBK text")
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise UnreadableFile("the file is empty; expected a header row and one row per library")
    if lines[0].lower().startswith("sep=") and len(lines[0].strip()) == 5:
        # Excel's own hint line ("sep=;") names the delimiter; it is not the header.
        delimiter = lines[0].strip()[4]
        text = text.split("\n", 1)[1] if "\n" in text else ""
    else:
        # The header decides: column names seldom hold a delimiter, values often hold commas.
        delimiter = max(_DELIMITERS, key=lambda d: (lines[0].count(d), d == ","))
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    number = 0
    header: list[str] | None = None
    records: list[tuple[int, list[str]]] = []
    for cells in rows:
        number += 1
        if not any(c.strip() for c in cells):
            continue  # blank lines keep their number so "row N" matches the spreadsheet
        if header is None:
            header = [c.strip() for c in cells]
            continue
        records.append((number, cells))
    if header is None:
        raise UnreadableFile("the file has no header row")
    return Table(header, records, delimiter, encoding.replace("-sig", ""))


def map_columns(header: Sequence[str]) -> tuple[list[str | None], list[str]]:
    """The key each column is read as (None: ignored), and warnings about the header."""
    keys: list[str | None] = []
    warnings: list[str] = []
    for title in header:
        key = _COLUMNS.get(_norm(title)) if title.strip() else None
        if key is None and title.strip():
            warnings.append(f"unknown column {title!r} ignored")
        keys.append(key)
    # "Name" is the library's name, unless another column already names the library.
    for i, key in enumerate(keys):
        if key == "name":
            keys[i] = "contact_name" if "library_name" in keys else "library_name"
    for key in dict.fromkeys(k for k in keys if k):
        titles = [header[i] for i, k in enumerate(keys) if k == key]
        if len(titles) > 1:
            warnings.append(
                f"columns {', '.join(map(repr, titles))} all read as {key}; "
                "the first non-empty one is used"
            )
    if "library_name" not in keys:
        warnings.append("no column for library_name (Library name / 图书馆名称)")
    if "contact_email" not in keys and "contacts" not in keys:
        warnings.append("no column for contact_email (Contact email / 电子邮件)")
    return keys, warnings


@dataclass
class ImportRow:
    """One valid-looking row, normalised like an application."""

    row: int
    fields: dict[str, str]
    state: str
    created: datetime
    contacts: list[tuple[str, str]] = field(default_factory=list)  # (email, status)

    @property
    def name(self) -> str:
        return self.fields["library_name"]

    @property
    def country(self) -> str:
        return self.fields.get("country", "")


@dataclass
class Validation:
    rows: list[ImportRow] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    encoding: str = ""  # as read, so the operator can tell a mis-detected file
    delimiter: str = ""

    @property
    def ok(self) -> bool:
        return not self.errors


def _email(value: str) -> str | None:
    """The address in ``value`` (``Name <a@b.org>``, ``mailto:``, full-width @), else None."""
    text = value.replace("＠", "@").strip()
    text = text.removeprefix("mailto:")
    address = parseaddr(text)[1] or text
    address = address.strip().lower()
    return address if _EMAIL_RE.fullmatch(address) else None


def _created(value: str) -> datetime:
    text = value.strip().replace("/", "-")
    # Spreadsheets drop leading zeros: 2024-3-5.
    m = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", text)
    if m:
        text = f"{m[1]}-{int(m[2]):02d}-{int(m[3]):02d}"
    at = datetime.fromisoformat(text)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _row(
    number: int, keys: list[str | None], cells: list[str], now: datetime, allowed: Importable
) -> tuple[ImportRow | None, list[str]]:
    values: dict[str, str] = {}
    for key, cell in zip(keys, cells, strict=False):
        cell = restore_cell(cell.strip())
        if key and key not in values and not is_placeholder(cell):
            values[key] = cell
    errors: list[str] = []
    where = f"row {number}"
    fields = {k: v for k, v in values.items() if k in APPLICATION_FIELDS}
    contact = fields.get("contact_name", "")
    if "contact_email" not in fields and "@" in contact:
        # "Contact: Anna Li <anna@lib.org>" gives the name and the address, as in mail.
        name, address = parseaddr(contact)
        if address:
            fields["contact_email"] = address
            fields["contact_name"] = name or contact.replace(address, "").strip(" <>()（）,;")
            if not fields["contact_name"]:
                del fields["contact_name"]
    if "library_type" in fields:
        fields["library_type"] = normalise_library_type(fields["library_type"])
    if "languages" in fields:
        fields["languages"] = normalise_languages(fields["languages"])
    contacts: list[tuple[str, str]] = []
    if "contact_email" in fields:
        address = _email(fields["contact_email"])
        if address is None:
            errors.append(
                f"{where}: contact_email {fields['contact_email']!r} is not an e-mail address"
            )
        else:
            # "Anna Schmidt <anna@...>" in the e-mail cell also names the contact.
            display = parseaddr(fields["contact_email"].replace("＠", "@"))[0].strip()
            if display and "contact_name" not in fields:
                fields["contact_name"] = display
            fields["contact_email"] = address
            contacts.append((address, "ok"))
    for item in re.split(r"[;；\n]", values.get("contacts", "")):
        if not item.strip():
            continue
        text, _, status = item.strip().rpartition(":")
        if "@" not in text:  # no status given: "a@b.org"
            text, status = item.strip(), "ok"
        address = _email(text)
        status = status.strip().lower() or "ok"
        if address is None:
            errors.append(f"{where}: contacts entry {item.strip()!r} is not an e-mail address")
        elif status not in CONTACT_STATUSES:
            errors.append(
                f"{where}: contact {address} has status {status!r}; expected one of {', '.join(CONTACT_STATUSES)}"
            )
        else:
            known = dict(contacts)
            if address in known:
                known[address] = status  # the contacts column knows its bounce status
                contacts = list(known.items())
            else:
                contacts.append((address, status))
    if "contact_email" not in fields and contacts:
        fields["contact_email"] = contacts[0][0]  # only a contacts column: its first address
    state = values.get("state", "").strip().lower()
    if state and state not in allowed.states:
        errors.append(
            f"{where}: state {values['state']!r} cannot be imported; expected one of {', '.join(allowed.states)}"
        )
    lacking = missing(fields, REQUIRED_APPLICATION_FIELDS)
    # Only a library the committee marks as not (yet) listed may lack required fields.
    hard = lacking if state in ("", allowed.listed) else [k for k in lacking if k in ESSENTIAL]
    if hard:
        errors.append(f"{where}: missing {', '.join(hard)}")
    created = now
    if values.get("created"):
        try:
            created = _created(values["created"])
        except ValueError:
            errors.append(f"{where}: created {values['created']!r} is not an ISO date (2024-03-05)")
        else:
            if created > now + timedelta(days=1):  # a typo (2062), not a time zone
                errors.append(f"{where}: created {values['created']!r} is in the future")
    if errors:
        return None, errors
    # A blank state means seeking: a row lacking fields had to say "incomplete" (above), so a
    # misnamed column cannot quietly turn every library into an incomplete one.
    state = state or allowed.listed
    return ImportRow(number, fields, state, created, contacts), []


def library_key(name: str, country: str) -> tuple[str, str]:
    return re.sub(r"\s+", " ", name).strip().casefold(), country_key(country).casefold()


def parse_rows(data: bytes, now: datetime, allowed: Importable) -> Validation:
    """Read and check a file on its own (no database): the rows, the errors, the warnings."""
    result = Validation()
    try:
        table = read_table(data)
    except UnreadableFile as exc:
        result.errors.append(str(exc))
        return result
    result.encoding, result.delimiter = table.encoding, table.delimiter
    keys, result.warnings = map_columns(table.header)
    emails: dict[str, int] = {}
    libraries: dict[tuple[str, str], int] = {}
    for number, cells in table.records:
        row, errors = _row(number, keys, cells, now, allowed)
        if len(cells) > len(keys) and any(c.strip() for c in cells[len(keys) :]):
            errors.append(
                f"row {number}: {len(cells)} cells but the header has {len(keys)} columns"
            )
            row = None
        result.errors.extend(errors)
        if row is None:
            continue
        for address, _ in row.contacts:
            if address in emails:
                result.errors.append(
                    f"row {number}: contact_email {address!r} is also on row {emails[address]}"
                )
            else:
                emails[address] = number
        key = library_key(row.name, row.country)
        if key in libraries:
            result.errors.append(
                f"row {number}: library {row.name!r} ({row.country}) is also on row {libraries[key]}"
            )
        else:
            libraries[key] = number
        result.rows.append(row)
    if not table.records:
        result.errors.append("the file has a header but no rows")
    return result
