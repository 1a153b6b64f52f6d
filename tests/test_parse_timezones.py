"""normalise_timezone / tzinfo_for: IANA names, offsets, a few common names; never a guess."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from mailflow.parse.forms import extract_fields
from mailflow.parse.timezones import normalise_timezone, tzinfo_for


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("Asia/Shanghai", "Asia/Shanghai"),
        ("asia/shanghai", "Asia/Shanghai"),
        ("AMERICA/NEW_YORK", "America/New_York"),
        ("america/new york", "America/New_York"),
        ("America/Los Angeles (PST)", "America/Los_Angeles"),
        ("Asia/Ho Chi Minh（越南）", "Asia/Ho_Chi_Minh"),
        ("America/New_York (UTC-5)", "America/New_York"),
        ("UTC-3 America/Sao_Paulo", "America/Sao_Paulo"),
        ("UTC+8", "UTC+08:00"),
        ("UTC +08:00", "UTC+08:00"),
        ("utc+0800", "UTC+08:00"),
        ("GMT-05:00", "UTC-05:00"),
        ("GMT-5", "UTC-05:00"),
        ("GMT+8 hours", "UTC+08:00"),
        ("UTC\u22123", "UTC-03:00"),  # a real minus sign
        ("ＵＴＣ＋８", "UTC+08:00"),  # full-width, as Chinese input methods type it
        ("UTC+5:30", "UTC+05:30"),
        ("UTC+05:45", "UTC+05:45"),
        ("(UTC+08:00) Beijing, Chongqing, Hong Kong, Urumqi", "UTC+08:00"),  # Windows
        ("UTC", "UTC"),
        ("GMT", "UTC"),
        ("Z", "UTC"),
        ("utc+0", "UTC"),
        ("Beijing time", "Asia/Shanghai"),
        ("北京时间", "Asia/Shanghai"),
        ("北京时间（UTC+8）", "Asia/Shanghai"),
        ("中国标准时间", "Asia/Shanghai"),
        ("China Standard Time", "Asia/Shanghai"),
        ("CST (China)", "Asia/Shanghai"),
        ("东八区", "UTC+08:00"),
        ("西五区", "UTC-05:00"),
        ("东十二区", "UTC+12:00"),
        ("India Standard Time", "Asia/Kolkata"),
        ("CST (UTC+8)", "UTC+08:00"),  # the abbreviation is ambiguous, the offset is not
    ],
)
def test_normalise(text: str, canonical: str) -> None:
    assert normalise_timezone(text) == canonical


@pytest.mark.parametrize(
    "text",
    [
        "CST",  # China, Cuba or US Central
        "IST",  # India, Ireland or Israel
        "EST",
        "东京",
        "東京",
        "Etc/GMT+8",  # POSIX sign: UTC-08:00, rarely what the writer meant
        "UTC+1 (UTC+2 in summer)",
        "UTC+25",
        "UTC-5:75",
        "Mars/Olympus_Mons",
        "same as yours",
        "",
        "   ",
    ],
)
def test_never_guesses(text: str) -> None:
    assert normalise_timezone(text) is None


def test_tzinfo_for_canonical_values() -> None:
    assert tzinfo_for("Asia/Shanghai") == ZoneInfo("Asia/Shanghai")
    assert tzinfo_for("UTC") is UTC
    assert tzinfo_for("UTC+08:00").utcoffset(None) == timedelta(hours=8)
    assert tzinfo_for("UTC-05:00").utcoffset(None) == timedelta(hours=-5)
    assert tzinfo_for("UTC+05:45").utcoffset(None) == timedelta(hours=5, minutes=45)
    summer = datetime(2027, 7, 1, 12, tzinfo=UTC)
    assert summer.astimezone(tzinfo_for("America/New_York")).utcoffset() == timedelta(hours=-4)


@pytest.mark.parametrize(
    "value", ["asia/shanghai", "UTC+8", "UTC+00:00", "UTC+25:00", "CST", "EST", "", "Etc/GMT+8"]
)
def test_tzinfo_for_rejects_what_is_not_canonical(value: str) -> None:
    assert tzinfo_for(value) is None


@pytest.mark.parametrize(
    "text", ["Asia/Shanghai", "UTC+5:30", "北京时间", "GMT-5", "UTC", "东八区", "Europe/London"]
)
def test_every_normalised_value_has_a_tzinfo(text: str) -> None:
    value = normalise_timezone(text)
    assert value is not None and tzinfo_for(value) is not None


def test_application_form_normalises_the_time_zone() -> None:
    assert extract_fields("Time zone: asia/shanghai")["timezone"] == "Asia/Shanghai"
    assert extract_fields("时区：北京时间")["timezone"] == "Asia/Shanghai"
    assert extract_fields("Zona horaria: GMT-3") == {"timezone": "UTC-03:00"}


def test_unreadable_time_zone_is_kept_raw_for_staff() -> None:
    fields = extract_fields("City: Dublin\nTime zone: IST")
    assert fields == {"city": "Dublin", "timezone_raw": "IST"}
    assert extract_fields("时区：CST") == {"timezone_raw": "CST"}


def test_mou_form_has_no_time_zone_handling() -> None:
    assert "timezone_raw" not in extract_fields("Time zone: CST", form="mou")
