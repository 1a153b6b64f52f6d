"""parse_date / parse_duration_months: MOU start and review dates, terms; None rather than a guess."""

from __future__ import annotations

from datetime import date

import pytest

from mailflow.parse.dates import parse_date, parse_duration_months

JUNE_30 = date(2027, 6, 30)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2027-06-30", JUNE_30),
        ("2027/6/30", JUNE_30),
        ("2027.06.30", JUNE_30),
        ("30 June 2027", JUNE_30),
        ("June 30, 2027", JUNE_30),
        ("June 30th, 2027", JUNE_30),
        ("30 Jun 2027", JUNE_30),
        ("Wednesday, 30 June 2027", JUNE_30),
        ("2027年6月30日", JUNE_30),
        ("2027年06月30日", JUNE_30),
        ("２０２７年６月３０日", JUNE_30),  # full-width digits
        ("自2027年6月30日起", JUNE_30),
        ("30/06/2027", JUNE_30),
        ("30.06.2027", JUNE_30),
        ("06/30/2027", JUNE_30),  # month first only because 30 cannot be a month
        ("05/06/2027", date(2027, 6, 5)),  # day first when both could be either
        ("1 de julio de 2027", date(2027, 7, 1)),
        ("1 septiembre 2027", date(2027, 9, 1)),
        ("1er juillet 2027", date(2027, 7, 1)),
        ("le 1er février 2027", date(2027, 2, 1)),
        ("30. Juni 2027", JUNE_30),
        ("Sept 1, 2027", date(2027, 9, 1)),
        ("2027-06-30 (30 June 2027)", JUNE_30),  # the same date twice is one date
    ],
)
def test_parse_date(text: str, expected: date) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "soon",
        "after the trial",
        "June 2027",  # no day
        "31 June 2027",  # no such day
        "2027-13-01",
        "13/13/2027",
        "30/06/27",  # two-digit year
        "2027-01-01 to 2028-01-01",  # two dates: which one?
        "下个月",
    ],
)
def test_parse_date_gives_none(text: str) -> None:
    assert parse_date(text) is None


def test_parse_date_never_raises_on_odd_input() -> None:
    assert parse_date(None) is None  # type: ignore[arg-type]
    assert parse_date("9999999/99/99999") is None


@pytest.mark.parametrize(
    ("text", "months"),
    [
        ("2 years", 24),
        ("two years", 24),
        ("one year", 12),
        ("a year", 12),
        ("1 yr", 12),
        ("18 months", 18),
        ("6 mos", 6),
        ("two-year term", 24),
        ("1.5 years", 18),
        ("one and a half years", 18),
        ("2 years and 6 months", 30),
        ("2 years (24 months)", 24),
        ("两年", 24),
        ("兩年", 24),
        ("一年", 12),
        ("二年", 24),
        ("三年", 36),
        ("为期三年（可续签）", 36),
        ("12个月", 12),
        ("十二个月", 12),
        ("二十四个月", 24),
        ("半年", 6),
        ("一年半", 18),
        ("一年零六个月", 18),
        ("1 año", 12),
        ("2 años", 24),
        ("18 meses", 18),
        ("1 año y 6 meses", 18),
        ("2 ans", 24),
        ("un an", 12),
        ("24 mois", 24),
        ("deux années", 24),
        ("2 Jahre", 24),
    ],
)
def test_parse_duration_months(text: str, months: int) -> None:
    assert parse_duration_months(text) == months


@pytest.mark.parametrize(
    "text",
    [
        "",
        "ongoing",
        "3",
        "12月",  # December, not twelve months
        "until 2027年6月30日",
        "1 year, renewable for 2 years",  # which one is the term?
        "一年，可续签两年",
        "0 months",
        "annual",
    ],
)
def test_parse_duration_gives_none(text: str) -> None:
    assert parse_duration_months(text) is None
