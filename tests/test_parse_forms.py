"""extract_fields / missing: English and Chinese labels, normalisation, placeholders, MOU context."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailflow.parse.forms import (
    APPLICATION_FIELDS,
    FIELD_LABELS,
    MOU_FIELDS,
    REQUIRED_APPLICATION_FIELDS,
    REQUIRED_MOU_FIELDS,
    extract_fields,
    missing,
    normalise_languages,
    normalise_library_type,
)
from mailflow.parse.reply import trim_reply

DATA = Path(__file__).parent / "data" / "replies"
EXPECTED = json.loads((DATA / "expected.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_golden_fields(name: str) -> None:
    expected = EXPECTED[name]
    assert extract_fields(expected["reply_text"], form=expected["form"]) == expected["fields"]


def test_golden_applications_and_mous_are_complete() -> None:
    assert missing(EXPECTED["application_en.eml"]["fields"], REQUIRED_APPLICATION_FIELDS) == []
    assert missing(EXPECTED["application_zh.eml"]["fields"], REQUIRED_APPLICATION_FIELDS) == []
    assert missing(EXPECTED["mou_en.eml"]["fields"], REQUIRED_MOU_FIELDS) == []
    assert missing(EXPECTED["mou_zh.eml"]["fields"], REQUIRED_MOU_FIELDS) == []
    prose = EXPECTED["application_prose.eml"]["fields"]
    assert missing(prose, REQUIRED_APPLICATION_FIELDS) == list(REQUIRED_APPLICATION_FIELDS)


def test_constants() -> None:
    assert REQUIRED_APPLICATION_FIELDS == (
        "library_name", "library_type", "country", "city", "contact_name", "contact_email", "languages",
    )  # fmt: skip
    assert set(REQUIRED_APPLICATION_FIELDS) < set(APPLICATION_FIELDS)
    assert {"size", "interests", "communication", "commitment", "website", "timezone"} <= set(
        APPLICATION_FIELDS
    )
    assert REQUIRED_MOU_FIELDS == MOU_FIELDS
    assert len(MOU_FIELDS) == 11 and "working_language" in MOU_FIELDS
    for lang in ("en", "zh"):
        assert set(FIELD_LABELS[lang]) == set(APPLICATION_FIELDS) | set(MOU_FIELDS)
    assert FIELD_LABELS["zh"]["library_name"] == "图书馆名称"
    assert FIELD_LABELS["en"]["signatory_title"] == "Signatory title"


@pytest.mark.parametrize(
    ("line", "key", "value"),
    [
        ("Library name: Springfield Public Library", "library_name", "Springfield Public Library"),
        ("NAME OF LIBRARY: Springfield", "library_name", "Springfield"),
        ("馆名：东城区图书馆", "library_name", "东城区图书馆"),
        ("  * Library name : Springfield", "library_name", "Springfield"),
        ("3) City: Lyon", "city", "Lyon"),
        ("- **Country:** France", "country", "France"),
        ("• 所在城市：杭州", "city", "杭州"),
        ("（1）国家：中国", "country", "中国"),
        ("City (required): Lyon", "city", "Lyon"),
        ("E-mail: <anna@lib.example>", "contact_email", "anna@lib.example"),
        ("邮箱：Anna.Li＠Lib.Example", "contact_email", "anna.li@lib.example"),
        ("Website: https://lib.example/en", "website", "https://lib.example/en"),
        ("Time zone: UTC+8", "timezone", "UTC+08:00"),
        ("时区：UTC+8", "timezone", "UTC+08:00"),
        ("Size: 40,000", "size", "40,000"),
        ("服务人口：约90万", "size", "约90万"),
        ("Interests: pen pals", "interests", "pen pals"),
        ("合作兴趣：图书交换", "interests", "图书交换"),
        ("Preferred communication: email", "communication", "email"),
        ("Level of commitment: formal", "commitment", "formal"),
        ("参与程度：非正式", "commitment", "非正式"),
        (
            "Library name: [Springfield Public Library]",
            "library_name",
            "Springfield Public Library",
        ),
    ],
)
def test_application_labels(line: str, key: str, value: str) -> None:
    assert extract_fields(line) == {key: value}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Public library", "public"),
        ("公共图书馆", "public"),
        ("University library", "academic"),
        ("高校图书馆", "academic"),
        ("大学图书馆", "academic"),
        ("中小学图书馆", "school"),
        ("学校图书馆", "school"),
        ("Public school library", "school"),
        ("专业图书馆", "special"),
        ("Special library (law)", "special"),
        ("国家图书馆", "national"),
        ("National library", "national"),
        ("Biblioteca pública", "public"),
        ("Bookmobile", "Bookmobile"),
    ],
)
def test_library_type_is_normalised(value: str, expected: str) -> None:
    assert normalise_library_type(value) == expected
    assert extract_fields(f"Type of library: {value}")["library_type"] == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("English", "en"),
        ("English, Chinese", "en,zh"),
        ("中文、英语", "zh,en"),
        ("汉语和英语", "zh,en"),
        ("中英文", "zh,en"),
        ("Español y inglés", "es,en"),
        ("Français / English", "fr,en"),
        ("German; Japanese; Russian; Arabic; Portuguese", "de,ja,ru,ar,pt"),
        ("English (fluent), Spanish (basic)", "en,es"),
        ("English and Tagalog", "en,Tagalog"),
        ("English, english", "en"),
    ],
)
def test_languages_are_normalised(value: str, expected: str) -> None:
    assert normalise_languages(value) == expected
    assert extract_fields(f"Working languages: {value}")["languages"] == expected


def test_contact_line_with_address_gives_name_and_email() -> None:
    fields = extract_fields("Contact person: Anna Li <Anna.Li@City-Lib.example>")
    assert fields == {"contact_name": "Anna Li", "contact_email": "anna.li@city-lib.example"}


def test_email_label_without_an_address_is_missing() -> None:
    assert extract_fields("Email: will send later") == {}


@pytest.mark.parametrize(
    "placeholder", ["", "[ ]", "[]", "N/A", "n/a", "待填", "【 】", "___", "TBD", "-"]
)
def test_placeholders_count_as_missing(placeholder: str) -> None:
    fields = extract_fields(f"Library name: {placeholder}\nCountry: Chile")
    assert fields == {"country": "Chile"}
    assert missing(
        {"library_name": placeholder, "country": "Chile"}, ["library_name", "country"]
    ) == ["library_name"]


def test_missing_keeps_required_order() -> None:
    assert missing({"city": "Lyon"}, REQUIRED_APPLICATION_FIELDS) == [
        "library_name", "library_type", "country", "contact_name", "contact_email", "languages",
    ]  # fmt: skip


def test_continuation_lines() -> None:
    text = (
        "Areas of interest: book exchange,\n"
        "    staff visits\n"
        "Planned nothing: ignored\n"
        "Goals:\n"
        "- exchange books\n"
        "- share newsletters\n"
        "\n"
        "City: Lyon\n"
        "not a continuation\n"
    )
    assert extract_fields(text) == {"interests": "book exchange, staff visits", "city": "Lyon"}
    assert extract_fields(text, form="mou") == {"goals": "- exchange books\n- share newsletters"}


def test_unknown_labels_and_prose_are_ignored() -> None:
    text = "Dear committee,\nNote: we are a small team.\nhttps://example.org\nRe: our application"
    assert extract_fields(text) == {}


def test_first_non_empty_value_wins() -> None:
    assert extract_fields("City: [ ]\nCity: Lyon\nCity: Paris") == {"city": "Lyon"}


def test_working_language_depends_on_the_form() -> None:
    text = "工作语言：英语\n联系人：王丽"
    assert extract_fields(text) == {"languages": "en", "contact_name": "王丽"}
    assert extract_fields(text, form="mou") == {
        "working_language": "英语",
        "primary_contacts": "王丽",
    }


def test_mou_labels_english_and_chinese() -> None:
    en = (
        "Goals: g\nPlanned activities: a\nPrimary contacts: p\nWorking language: English\n"
        "Communication channel: email\nFrequency: monthly\nStart date: 2027-01-15\n"
        "Duration: 2 years\nReview date: 2028-01-15\nSignatory name: N\nSignatory title: T\n"
    )
    zh = (
        "目标：g\n计划活动：a\n主要联系人：p\n工作语言：英语\n沟通渠道：email\n沟通频率：每月\n"
        "开始日期：2027-01-15\n期限：两年\n评估日期：2028-01-15\n签署人姓名：N\n签署人职务：T\n"
    )
    for text in (en, zh):
        fields = extract_fields(text, form="mou")
        assert set(fields) == set(MOU_FIELDS)
        assert missing(fields, REQUIRED_MOU_FIELDS) == []
    assert extract_fields("审查日期：2028-01-15", form="mou") == {"review_date": "2028-01-15"}
    # Application labels mean nothing in an MOU and the other way round.
    assert extract_fields("Library name: X", form="mou") == {}
    assert extract_fields("Signatory name: X") == {}


def test_unknown_form_is_an_error() -> None:
    with pytest.raises(ValueError):
        extract_fields("City: Lyon", form="contract")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("城市：杭州市", {"city": "杭州市"}),
        ("City: York", {"city": "York"}),
        ("City: York.", {"city": "York."}),
    ],
)
def test_one_field_correction(text: str, expected: dict[str, str]) -> None:
    assert extract_fields(text, form="application") == expected


GMAIL_REPLY = (
    "City: York\r\n\r\n"
    "On Mon, Nov 23, 2026 at 10:01 AM Sister Libraries <sisters+k3x9@program.example> wrote:\r\n"
    "> Thank you for your application. We still need:\r\n"
    "> City:\r\n> Library name: Springfield\r\n"
)
CHINESE_REPLY = (
    "城市：杭州市\n\n"
    "在 2026年11月21日 星期六 10:00，Sister Libraries <sisters@program.example> 写道：\n"
    "> 城市：\n> 图书馆名称：西湖区图书馆\n"
)
OUTLOOK_REPLY = (
    "City: York\r\n\r\n"
    "From: Sister Libraries <sisters@program.example>\r\n"
    "Sent: Monday, November 23, 2026 10:01 AM\r\n"
    "To: Anna <anna@york.example>\r\n"
    "Subject: Your application\r\n\r\n"
    "City: [ ]\r\nLibrary name: Springfield\r\n"
)


@pytest.mark.parametrize(
    ("mail", "expected"),
    [
        (GMAIL_REPLY, {"city": "York"}),
        (CHINESE_REPLY, {"city": "杭州市"}),
        (OUTLOOK_REPLY, {"city": "York"}),
    ],
)
def test_one_field_correction_above_quoted_history(mail: str, expected: dict[str, str]) -> None:
    text, trimmed = trim_reply(mail)
    assert trimmed
    assert extract_fields(text, form="application") == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Contact email: new.name@library.org", {"contact_email": "new.name@library.org"}),
        ("Contact person: Li Ming", {"contact_name": "Li Ming"}),
        ("联系人：李明", {"contact_name": "李明"}),
        ("联系邮箱：li@lib.cn", {"contact_email": "li@lib.cn"}),
        ("New contact email: New.Name@Library.org", {"contact_email": "new.name@library.org"}),
        ("Updated contact person: Ana Ruiz", {"contact_name": "Ana Ruiz"}),
        ("New contact: Ana Ruiz <ana@lib.example>",
         {"contact_name": "Ana Ruiz", "contact_email": "ana@lib.example"}),
        ("新联系人：王芳", {"contact_name": "王芳"}),
        ("新的联系人：王芳", {"contact_name": "王芳"}),
        ("新联系邮箱：wang@lib.cn", {"contact_email": "wang@lib.cn"}),
        ("联系人变更为：王芳", {"contact_name": "王芳"}),
        ("Nueva persona de contacto: Ana Ruiz", {"contact_name": "Ana Ruiz"}),
        ("Nouvelle adresse e-mail : marie@bib.example", {"contact_email": "marie@bib.example"}),
    ],
)  # fmt: skip
def test_contact_updates(line: str, expected: dict[str, str]) -> None:
    assert extract_fields(line, "application") == expected


def test_qualifier_alone_does_not_make_a_label() -> None:
    assert extract_fields("Newsletter: monthly\nNews: we moved\nNew: yes") == {}
