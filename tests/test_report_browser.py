"""The report as a person sees it: rendered by a real headless Chromium, on a phone and a desk."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from mailflow.app import Services
from mailflow.report import write_report
from tests.servers.fixtures import unavailable
from tests.test_report import EMAIL, PROGRAM_NAME, run_program, text_of

PHONE, DESK = (390, 844), (1280, 900)
TIMEOUT = 20  # seconds per Chromium run


def _chromium() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None)  # fmt: skip
    if path:
        return path
    unavailable("chromium is not installed (Debian package `chromium`)")


def _run(browser: str, profile: Path, size: tuple[int, int], *args: str) -> str:
    command = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}",
        f"--window-size={size[0]},{size[1]}", *args,
    ]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"chromium did not finish in {TIMEOUT} s: {' '.join(args)}")
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def _look(browser: str, tmp: Path, page: Path, size: tuple[int, int], name: str) -> str:
    """Screenshot `page` at `size` (saved as `name`.png) and return its rendered DOM."""
    url = page.resolve().as_uri()
    shot = tmp / "screenshots" / f"{name}.png"
    shot.parent.mkdir(exist_ok=True)
    _run(browser, tmp / "profile", size, f"--screenshot={shot}", url)
    assert shot.is_file() and shot.stat().st_size > 10_000, f"empty screenshot {shot}"
    assert _png_size(shot) == size
    print(f"screenshot: {shot}")
    return _run(browser, tmp / "profile", size, "--dump-dom", url)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the DOM, not the database
def test_a_person_reads_the_report_on_a_phone_and_a_desk(
    make_services: Callable[..., Services], tmp_path: Path
) -> None:
    browser = _chromium()
    services = make_services(
        MAILFLOW_PROGRAM_NAME=PROGRAM_NAME,
    )
    run_program(services)
    out = tmp_path / "site"
    write_report(services.db, services.workflow.machines, out, services.clock.now(), PROGRAM_NAME)

    # The public list on a phone, in English and in Chinese.
    public = out / "public"
    for locale, page in (("en", public / "index.html"), ("zh", public / "zh" / "index.html")):
        dom = _look(browser, tmp_path, page, PHONE, f"index-{locale}-phone")
        seen = text_of(dom)
        assert f'<html lang="{locale}">' in dom
        for name in ("Biblioteca Infanta Elena", "Biblioteca Central de Oaxaca", "成都市少年儿童图书馆", "苏州市图书馆"):  # fmt: skip
            assert name in seen, name
        if locale == "en":
            assert "<h1>Libraries Seeking Sisters</h1>" in dom
            assert "4 libraries in 3 countries" in seen and "How to apply" in seen
            for country in ("China", "Mexico", "Spain"):
                assert re.search(rf"<h2>{country} <small>", dom), country
        else:
            assert "<h1>寻找姐妹馆的图书馆</h1>" in dom and "如何申请" in seen
            for country in ("中国", "墨西哥", "西班牙"):
                assert re.search(rf"<h2>{country} <small>", dom), country
        # Not a single address, in the text or anywhere in the rendered document.
        assert "@" not in seen and not EMAIL.search(dom), EMAIL.search(dom)

    # The dashboard on a desk: headings, the funnel's numbers, the state machine.
    dom = _look(browser, tmp_path, out / "staff" / "dashboard.html", DESK, "dashboard-en-desk")
    seen = text_of(dom)
    for heading in ("Program dashboard", "Libraries by country", "Partnership funnel",
                    "Time to partnership", "Response times", "Activities logged per month",
                    "Stalled and lapsed pairs (1)", "Bounced contacts (1)",
                    "Open items that need a person (", "Success stories",
                    "Partnership states (from rules/)"):  # fmt: skip
        assert heading in seen, heading
    funnel = {
        m.group(1): re.findall(r'<td class="num">(\d+)</td>', m.group(2))
        for m in re.finditer(r'<tr data-state="(\w+)">(.*?)</tr>', dom, re.S)
    }
    assert funnel["proposed"] == ["4", "1"] and funnel["offered"] == ["3", "0"]
    assert funnel["trial"] == ["1", "1"] and funnel["lapsed"] == ["1"]
    assert "proposed: 4 (now 1)" in dom  # the funnel chart's accessible title
    assert "<svg" in dom and 'data-state="mou_sent"' in dom
    dom = _look(
        browser, tmp_path, out / "staff" / "zh" / "dashboard.html", PHONE, "dashboard-zh-phone"
    )
    assert "合作进展漏斗" in text_of(dom) and '<html lang="zh">' in dom
