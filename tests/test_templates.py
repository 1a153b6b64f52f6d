"""Every mail template renders in every locale with the engine's context shapes (samples.py)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import jinja2
import pytest

from mailflow.errors import ConfigError
from mailflow.outbox.render import (
    DEFAULT_TEMPLATES,
    META_KEYS,
    Rendered,
    Renderer,
    TemplateMeta,
    blank_form,
    language_name,
    language_names,
    library_type,
    long_date,
    text_to_html,
)
from mailflow.outbox.samples import SAMPLE_CONTEXTS, SPARSE_FIELDS, TEMPLATE_NAMES, sample_context
from mailflow.parse.forms import APPLICATION_FIELDS, FIELD_LABELS, MOU_FIELDS, extract_fields
from mailflow.parse.intents import detect_intent

LOCALES = ["en", "zh"]
LIBRARY_FACING = [n for n in TEMPLATE_NAMES if not n.startswith("staff-")]
EXPECTED_NAMES = {
    "library-acknowledgement", "library-missing", "library-missing-reminder", "library-offer",
    "library-offer-reminder", "library-offer-lapsed", "library-offer-closed", "library-withdrawn",
    "library-keep-listed", "library-relisted", "library-not-understood", "library-confirm",
    "library-confirm-address", "library-confirm-contact",
    "partnership-introduction", "partnership-trial-checkin", "partnership-mou-request",
    "partnership-mou-missing", "partnership-mou-confirmed", "partnership-active-checkin",
    "partnership-evaluation", "partnership-review-reminder", "partnership-renewed",
    "partnership-closed", "partnership-informal-confirmed", "staff-proposal",
    "staff-needs-person", "staff-escalation", "staff-notice", "staff-digest", "staff-merge-proposal",
    "staff-status", "staff-confirm",
}  # fmt: skip


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer([DEFAULT_TEMPLATES])


class _StrictHTML(HTMLParser):
    """Fails on a closing tag that does not match the open one, or tags left open."""

    VOID = {"br", "hr", "meta", "img", "link", "input", "col", "wbr"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.langs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.langs += [v or "" for k, v in attrs if k == "lang"]
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()


def parse_html(html: str) -> _StrictHTML:
    parser = _StrictHTML()
    parser.feed(html)
    parser.close()
    assert parser.stack == [], f"unclosed tags: {parser.stack}"
    return parser


def mail(renderer: Renderer, name: str, locale: str = "en") -> Rendered:
    return renderer.render(name, locale, sample_context(name, locale))


def names_in(name: str, ctx: dict) -> list[str]:
    keys = ("library", "partner", "a", "b")
    return [ctx[k]["name"] for k in keys if isinstance(ctx.get(k), dict) and ctx[k].get("name")]


def test_every_template_has_a_sample() -> None:
    assert set(TEMPLATE_NAMES) == EXPECTED_NAMES
    for ctx in SAMPLE_CONTEXTS.values():
        assert {"program", "recipient", "locale"} <= ctx.keys()
        assert {"name", "address", "website"} <= ctx["program"].keys()


def test_packaged_templates_pass_check(renderer: Renderer) -> None:
    assert renderer.check(TEMPLATE_NAMES, LOCALES) == []
    assert renderer.available_locales() == ["en", "zh"]


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_renders_with_sample(renderer: Renderer, name: str, locale: str) -> None:
    ctx = sample_context(name, locale)
    out = renderer.render(name, locale, ctx)

    assert out.subject and "\n" not in out.subject and "\r" not in out.subject
    assert out.subject == out.subject.strip()
    assert not out.text.startswith("Subject:") and out.text.endswith("\n")
    expected_locale = locale  # every template exists in every locale, staff mail included
    assert out.locale == expected_locale
    for library_name in names_in(name, ctx):
        assert library_name in out.text, f"{library_name!r} missing from {name}"
    assert "None" not in out.text  # an empty optional field never shows as "None"
    parsed = parse_html(out.html)
    assert parsed.langs[0] == expected_locale
    assert f'lang="{expected_locale}"' in out.html
    assert 'name="viewport"' in out.html and "max-width" in out.html
    if expected_locale == "zh":
        assert re.search(r"[\u4e00-\u9fff]", out.subject)
        if not name.startswith("staff-"):
            assert "您好" in out.text or "两位好" in out.text


def test_missing_variable_names_the_template(renderer: Renderer) -> None:
    ctx = sample_context("library-offer")
    del ctx["partner"]
    with pytest.raises(ConfigError, match=r"library-offer\.txt\.j2.*'partner' is undefined") as e:
        renderer.render("library-offer", "en", ctx)
    assert isinstance(e.value.__cause__, jinja2.UndefinedError)

    ctx = sample_context("staff-proposal")
    del ctx["a"]["timezone"]  # a profile key missing: the contract says None, never absent
    with pytest.raises(ConfigError, match=r"staff-proposal\.txt\.j2"):
        renderer.render("staff-proposal", "en", ctx)


def test_user_input_is_escaped_in_html_but_literal_in_text(renderer: Renderer) -> None:
    out = renderer.render("staff-needs-person", "en", sample_context("staff-needs-person"))
    assert "> Hola, ¿pueden enviarnos más información? <script>alert(1)</script>" in out.text
    assert "<script>" not in out.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out.html
    assert "<blockquote>Hola" in out.html  # the quoted new text

    ctx = sample_context("staff-proposal")
    ctx["a"]["name"] = "Evil <script>x()</script> Library"
    ctx["a"]["interests"] = "<b>bold</b> & more"
    out = renderer.render("staff-proposal", "en", ctx)  # has its own .html.j2
    assert "Evil <script>x()</script> Library" in out.text
    assert "<script>" not in out.html and "<b>bold</b>" not in out.html
    assert "Evil &lt;script&gt;x()&lt;/script&gt; Library" in out.html
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; more" in out.html


def test_user_input_cannot_break_the_subject(renderer: Renderer) -> None:
    ctx = sample_context("library-acknowledgement")
    ctx["library"]["name"] = "Oslo\r\nBcc: victim@example.org\n\nLibrary"
    out = renderer.render("library-acknowledgement", "en", ctx)
    assert out.subject == "Oslo Bcc: victim@example.org Library is now on the Sister Libraries list"


def test_template_falls_back_to_the_default_locale(renderer: Renderer) -> None:
    out = renderer.render("staff-digest", "fr", sample_context("staff-digest", "fr"))
    assert out.locale == "en"
    assert out.subject == "Sister Libraries digest, 4 March 2026"
    assert "Proposals waiting for approve or reject (1)" in out.text
    # A regional tag finds its language before the default.
    assert renderer.render("library-offer", "zh-CN", sample_context("library-offer")).locale == "zh"


def test_bilingual_holds_both_languages(renderer: Renderer) -> None:
    ctx = sample_context("partnership-introduction")
    zh = renderer.render("partnership-introduction", "zh", ctx)
    en = renderer.render("partnership-introduction", "en", ctx)
    both = renderer.render_bilingual("partnership-introduction", ["zh", "en"], ctx)

    assert both.subject == f"{zh.subject} / {en.subject}"
    assert both.text == zh.text + "\n" + "-" * 40 + "\n\n" + en.text
    assert "试合作" in both.text and "Trial period" in both.text
    assert both.locale == "zh,en"
    parsed = parse_html(both.html)
    assert parsed.langs == ["zh", "zh", "en"]  # <html>, then one <section> per language
    assert '<section lang="en" dir="ltr">' in both.html and "<hr>" in both.html

    same = renderer.render_bilingual("partnership-introduction", ["en", "en"], ctx)
    assert same == en
    # "fr" has no templates and falls back to en: one language, not two copies of it.
    assert renderer.render_bilingual("partnership-introduction", ["fr", "en"], ctx) == en


def test_offer_never_reveals_the_partners_contact(renderer: Renderer) -> None:
    ctx = sample_context("library-offer")
    partner = ctx["partner"]
    for name in ("library-offer", "library-offer-reminder"):
        for locale in LOCALES:
            out = renderer.render(name, locale, sample_context(name, locale))
            for secret in (partner["contact_email"], partner["contact_name"]):
                assert secret not in out.text and secret not in out.html
            assert partner["name"] in out.text
    intro = mail(renderer, "partnership-introduction")
    assert partner["contact_email"] in intro.text and ctx["library"]["contact_email"] in intro.text


def test_no_mail_tells_a_library_it_was_declined(renderer: Renderer) -> None:
    for name in ("library-offer-closed", "library-offer-lapsed", "partnership-closed"):
        for locale in LOCALES:
            text = renderer.render(name, locale, sample_context(name, locale)).text.lower()
            assert not re.search(r"declin|refus|reject|said no|拒绝|不同意|婉拒", text), name


# The exact reply each mail asks for, and what the reply parser must make of it.
REPLY_WORDS = {
    "en": {"yes": "accept", "no thanks": "decline", "I agree": "accept"},
    "zh": {"同意": "accept", "不用了": "decline"},
}
ASKS = {
    "library-offer": ["yes", "no thanks", "同意", "不用了"],
    "library-offer-reminder": ["yes", "no thanks", "同意", "不用了"],
    "library-keep-listed": ["yes", "同意"],
    "partnership-mou-request": ["I agree", "同意"],
    "partnership-review-reminder": ["yes", "no thanks", "同意", "不用了"],
    "partnership-closed": ["yes", "no thanks", "同意", "不用了"],
}


@pytest.mark.parametrize("name", sorted(ASKS))
def test_mails_ask_for_reply_words_the_parser_understands(renderer: Renderer, name: str) -> None:
    for locale in LOCALES:
        text = renderer.render(name, locale, sample_context(name, locale)).text
        for word, intent in REPLY_WORDS[locale].items():
            if word in ASKS[name]:
                quoted = f'"{word}"' if locale == "en" else f"“{word}”"
                assert quoted in text, f"{name}/{locale} should ask for {quoted}"
                assert detect_intent(word) == intent
    zh_offer = renderer.render("library-offer", "zh", sample_context("library-offer", "zh")).text
    assert "如需介绍，请直接回复“同意”；如不需要，请回复“不用了”。" in zh_offer


def test_withdraw_word_is_offered(renderer: Renderer) -> None:
    for locale, word in (("en", '"withdraw"'), ("zh", "“退出”")):
        text = mail(renderer, "library-acknowledgement", locale).text
        assert word in text


def test_forms_in_mails_parse_back(renderer: Renderer) -> None:
    for locale in LOCALES:
        form = blank_form("application", locale)
        assert form.splitlines()[0] == ("图书馆名称：" if locale == "zh" else "Library name: ")
        assert len(form.splitlines()) == len(APPLICATION_FIELDS)
        assert len(blank_form("mou", locale).splitlines()) == len(MOU_FIELDS)
        assert all(line.endswith("：") for line in blank_form("mou", "zh").splitlines())
        # A library's acknowledgement shows its record as form lines it can correct and send back.
        ctx = sample_context("library-acknowledgement", locale)
        text = renderer.render("library-acknowledgement", locale, ctx).text
        fields = extract_fields(text)
        assert fields["library_name"] == ctx["library"]["name"]
        assert fields["contact_email"] == ctx["library"]["contact_email"]
        assert fields["languages"] == "zh,en"
        assert fields["library_type"] == "public"
    # The missing-fields mail lists exactly what is missing, labelled in the reader's language.
    text = mail(renderer, "library-missing", "zh").text
    assert "- 国家\n- 电子邮件\n" in text and "国家：（待填）" in text
    assert extract_fields("国家：（待填）") == {}  # the example line, sent back unfilled, is empty
    mou = mail(renderer, "partnership-mou-request")
    assert ".docx" in mou.text and f"{FIELD_LABELS['en']['signatory_title']}: " in mou.text
    ctx = sample_context("partnership-mou-request", "zh") | {"attempt": 2}  # the rules' reminder
    again = renderer.render("partnership-mou-request", "zh", ctx)
    assert (
        again.subject.startswith("温馨提醒：") and "还没有收到Hangzhou Public Library" in again.text
    )


def test_mou_confirmed_merges_both_sides(renderer: Renderer) -> None:
    ctx = sample_context("partnership-mou-confirmed", "zh")
    out = renderer.render("partnership-mou-confirmed", "zh", ctx)
    assert "签署人姓名\n  Hangzhou Public Library：Zhang Min\n" in out.text
    assert "  双方：monthly" in out.text
    assert "<td>Zhang Min</td><td>Pedro Rojas</td>" in out.html  # its own .html.j2 table
    assert "<th>签署人职务</th>" in out.html


def test_introduction_suggests_the_seed_activities(renderer: Renderer) -> None:
    text = mail(renderer, "partnership-introduction").text
    ideas = "pen pals|books and cultural materials|staff exchange|delegation|newsletters"
    for idea in f"{ideas}|donating books|bulletin board|evaluation".split("|"):
        assert idea in text
    assert "90 days, until 31 May 2026" in text and "Ruth Okafor" in text
    ctx = sample_context("partnership-introduction", "zh")
    ctx["partnership"]["informal"] = True
    zh = renderer.render("partnership-introduction", "zh", ctx).text
    assert "无需签订书面协议" in zh and "合作备忘录（MOU）" not in zh


def test_digest_sections_are_omitted_when_empty(renderer: Renderer) -> None:
    ctx = sample_context("staff-digest")
    ctx["sections"] = {key: [] for key in ctx["sections"]}
    out = renderer.render("staff-digest", "en", ctx)
    assert out.subject.endswith(": nothing today")
    assert "New applications" not in out.text and "New applications" not in out.html
    bounced = {"email": "x@lib.example", "library_name": "X", "status": "bouncing"}
    ctx["sections"]["bounced"] = [bounced]
    out = renderer.render("staff-digest", "en", ctx)
    assert "nothing today" not in out.subject
    assert "Bounced contacts (1)\n- x@lib.example (X): bouncing" in out.text
    assert "Stalled" not in out.text and "<h2>Bounced contacts (1)</h2>" in out.html


def test_escalation_for_a_library_without_partnership(renderer: Renderer) -> None:
    ctx = sample_context("staff-escalation")
    lib = sample_context("library-acknowledgement")["library"]
    ctx.update(reason="unreachable", partnership=None, library=lib, a=None, b=None)
    out = renderer.render("staff-escalation", "en", ctx)
    assert out.subject == f"Needs attention: Library #{lib['id']} {lib['name']} (unreachable)"
    assert "Every contact address of this library bounces" in out.text
    assert '"resume"' in out.text and '"close"' in out.text and '"note"' in out.text


def test_check_reports_missing_and_broken_templates(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "good.txt.j2").write_text("Subject: Hi\n\nHello {{ name }}\n")
    (tmp_path / "en" / "broken.txt.j2").write_text("Subject: Hi\n\nline two\n{% if x %}\n")
    (tmp_path / "zh").mkdir()
    (tmp_path / "zh" / "good.html.j2").write_text("<p>{{ name }</p>\n")
    renderer = Renderer([tmp_path, DEFAULT_TEMPLATES])

    problems = renderer.check(["good", "broken", "absent"], ["en", "zh"])
    assert any("broken.txt.j2:4:" in p for p in problems), problems
    assert any(p.endswith("good.html.j2:1: unexpected '}'") for p in problems), problems
    assert any("en/absent.txt.j2: missing" in p for p in problems), problems
    assert len(problems) == 3
    assert renderer.render("good", "zh", {"name": "Ana"}).text == "Hello Ana\n"


def test_subject_must_be_one_nonempty_line(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "nosubject.txt.j2").write_text("Hello\n\nBody\n")
    (tmp_path / "en" / "empty.txt.j2").write_text("Subject: {{ s }}\n\nBody\n")
    (tmp_path / "en" / "twolines.txt.j2").write_text("Subject: {{ s }}\nBody\n")
    renderer = Renderer([tmp_path, DEFAULT_TEMPLATES])
    for name, ctx in (("nosubject", {}), ("empty", {"s": " "}), ("twolines", {"s": "x"})):
        with pytest.raises(ConfigError, match=rf"{name}\.txt\.j2"):
            renderer.render(name, "en", ctx)
    with pytest.raises(ConfigError, match="nowhere"):
        renderer.render("nowhere", "en", {})


def test_operator_templates_override_the_defaults(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "staff-digest.txt.j2").write_text("Subject: Our digest\n\nCustom body\n")
    renderer = Renderer([tmp_path, DEFAULT_TEMPLATES])
    out = renderer.render("staff-digest", "en", sample_context("staff-digest"))
    assert out.subject == "Our digest" and out.text == "Custom body\n"
    # The packaged digest HTML would contradict the operator's text: the HTML follows the text.
    assert "<p>Custom body</p>" in out.html and "<table>" not in out.html
    assert renderer.render("staff-proposal", "en", sample_context("staff-proposal")).subject


def test_text_to_html() -> None:
    source = (
        "Hello <you> & co,\nsee https://lib.example/a?b=1&c=2. Or write to a.b@lib.example.\n\n"
        "> quoted <b>\n> more\nafter\n\n----------\n\n请写信至sisters@program.example即可"
    )
    html = str(text_to_html(source))
    assert html.startswith("<p>Hello &lt;you&gt; &amp; co,<br>\n")
    assert (
        '<a href="https://lib.example/a?b=1&amp;c=2">https://lib.example/a?b=1&amp;c=2</a>.' in html
    )
    assert '<a href="mailto:a.b@lib.example">a.b@lib.example</a>.' in html
    assert "<blockquote>quoted &lt;b&gt;<br>\nmore</blockquote>\n<p>after</p>" in html
    assert "<hr>" in html
    assert (
        '请写信至<a href="mailto:sisters@program.example">sisters@program.example</a>即可' in html
    )


def test_small_helpers() -> None:
    assert language_name("es", "zh") == "西班牙语" and language_name("sw", "en") == "Swahili"
    assert language_name("xx", "en") == "xx"
    assert language_names("es,en", "zh") == "西班牙语、英语"
    assert language_names(["es", "en"], "en") == "Spanish, English"
    assert (
        library_type("academic", "zh") == "高校图书馆" and library_type("mobile", "en") == "mobile"
    )
    assert long_date("2026-03-01", "en") == "1 March 2026"
    assert long_date("2026-03-01T10:00:00+00:00", "zh") == "2026年3月1日"
    assert long_date(None, "en") == ""


# -- front matter ---------------------------------------------------------------------------

# What each mail invites (the words of its text) and the timer whose date it quotes.
EXPECTED_META = {
    "library-acknowledgement": ({"fields", "withdraw"}, None),
    "library-missing": ({"fields"}, "application-expires"),
    "library-missing-reminder": ({"fields", "withdraw"}, "application-expires"),
    "library-offer": ({"yes", "no"}, "offer-lapse"),
    "library-offer-reminder": ({"yes", "no"}, "offer-lapse"),
    "library-offer-lapsed": ({"withdraw"}, None),
    "library-offer-closed": (set(), None),
    "library-withdrawn": (set(), None),
    "library-keep-listed": ({"yes", "withdraw", "contact"}, "keep-listed-expires"),
    "library-relisted": ({"withdraw"}, None),
    "library-not-understood": ({"fields"}, None),
    "library-confirm": ({"yes"}, None),
    "library-confirm-contact": ({"yes"}, None),
    "library-confirm-address": ({"yes", "fields", "withdraw"}, "confirmation-lapses"),
    "partnership-introduction": (set(), None),
    "partnership-trial-checkin": ({"text"}, None),
    "partnership-mou-request": ({"mou", "informal"}, None),
    "partnership-mou-missing": ({"mou"}, None),
    "partnership-mou-confirmed": (set(), None),
    "partnership-active-checkin": ({"text"}, None),
    "partnership-evaluation": ({"text"}, None),
    "partnership-review-reminder": ({"yes", "no"}, None),
    "partnership-renewed": (set(), None),
    "partnership-closed": ({"yes", "no"}, None),
    "partnership-informal-confirmed": ({"text"}, None),
    "staff-proposal": ({"approve", "reject", "note"}, None),
    "staff-needs-person": ({"note"}, None),
    "staff-escalation": ({"note", "resume", "close"}, None),
    "staff-notice": ({"note"}, None),
    "staff-digest": ({"status"}, None),
    "staff-merge-proposal": ({"merge", "note"}, None),
    "staff-status": (set(), None),
    "staff-confirm": ({"confirm"}, None),
}
LIBRARY_WORDS = {"yes", "no", "informal", "mou", "fields", "text", "withdraw", "contact"}
STAFF_WORDS = {
    "approve", "reject", "note", "resume", "close", "skip-mou", "merge", "status", "confirm",
}  # fmt: skip
# How a mail's text invites each reply, per locale (staff verbs: '"merge"' / '（merge）').
INVITES = {
    "en": {
        "yes": r'"yes"', "no": r'"no thanks"', "withdraw": r'"withdraw"', "mou": r'"I agree"',
        "informal": r"\binformal\b", "contact": r"Contact email: ",
        "fields": r"\w: \.\.\.|corrected line|Library name: ",
        "text": r"(?i)what .{0,15}(do|done) together",
    },
    "zh": {
        "yes": "“同意”", "no": "“不用了”", "withdraw": "“退出”", "mou": "“同意”",
        "informal": "非正式", "contact": "电子邮件：", "fields": "（待填）|更正|图书馆名称：",
        "text": "一起做了",
    },
}  # fmt: skip


def test_meta_of_every_shipped_template(renderer: Renderer) -> None:
    assert set(EXPECTED_META) == set(TEMPLATE_NAMES)
    for name in TEMPLATE_NAMES:
        meta = renderer.meta(name)
        assert isinstance(meta, TemplateMeta)
        expects, deadline = EXPECTED_META[name]
        assert (set(meta.expects), meta.deadline) == (expects, deadline), name
        assert len(meta.expects) == len(expects)
        vocabulary = STAFF_WORDS if name.startswith("staff-") else LIBRARY_WORDS
        assert set(meta.expects) <= vocabulary, name
    assert renderer.meta("library-offer") == TemplateMeta(("yes", "no"), "offer-lapse")


@pytest.mark.parametrize("locale", LOCALES)
def test_text_invites_what_the_front_matter_expects(renderer: Renderer, locale: str) -> None:
    for name in TEMPLATE_NAMES:
        text = mail(renderer, name, locale).text
        for word in renderer.meta(name).expects:
            if word in STAFF_WORDS:
                pattern = f'"{word}"' if locale == "en" else f"（{word}）"
            else:
                pattern = INVITES[locale][word]
            assert re.search(pattern, text), f"{name}/{locale} expects {word} but never asks"
        if locale == "en" and name != "library-not-understood":  # it explains other mails
            for word in ("yes", "no", "withdraw", *STAFF_WORDS):
                asked = INVITES["en"].get(word, f'"{word}"')
                if re.search(asked, text):
                    assert word in renderer.meta(name).expects, f"{name} asks for {word}"


def test_deadline_is_stated_where_the_front_matter_names_one(renderer: Renderer) -> None:
    for name in TEMPLATE_NAMES:
        if not renderer.meta(name).deadline:
            continue
        for locale in LOCALES:
            ctx = sample_context(name, locale) | {"deadline": "2027-01-31"}
            text = renderer.render(name, locale, ctx).text
            stated = "31 January 2027" if locale == "en" else "2027年1月31日之前"
            assert stated in text, f"{name}/{locale}"
    keep = sample_context("library-keep-listed", "zh") | {"deadline": "2027-01-31"}
    assert (
        "如在2027年1月31日之前没有收到回复"
        in renderer.render("library-keep-listed", "zh", keep).text
    )
    keep["deadline"] = None  # no timer due: no sentence about one
    assert "之前没有收到回复" not in renderer.render("library-keep-listed", "zh", keep).text


def write(root: Path, rel: str, text: str) -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(text)


BODY = "Subject: Hi\n\nHello\n"


def test_meta_parsing(tmp_path: Path) -> None:
    write(
        tmp_path,
        "en/offer.txt.j2",
        "{#---\nexpects: [yes, no]\ndeadline: offer-lapse\n---#}\n" + BODY,
    )
    write(tmp_path, "en/plain.txt.j2", BODY)
    write(tmp_path, "en/empty.txt.j2", "{#---\n---#}\n" + BODY)
    write(tmp_path, "zh/only-zh.txt.j2", "{#---\nexpects: [text]\n---#}\n" + BODY)
    write(tmp_path, "en/bad.txt.j2", "{#---\nexpects: [yes\n---#}\n" + BODY)
    r = Renderer([tmp_path, DEFAULT_TEMPLATES])
    assert r.meta("offer") == TemplateMeta(("yes", "no"), "offer-lapse")  # YAML's yes/no: words
    assert r.meta("plain") == TemplateMeta() == r.meta("empty")
    assert r.meta("only-zh") == TemplateMeta(("text",), None)  # no default-locale file
    with pytest.raises(ConfigError, match=r"en/bad\.txt\.j2:\d+: front matter is not valid YAML"):
        r.meta("bad")
    with pytest.raises(ConfigError, match="nowhere"):
        r.meta("nowhere")
    # The block is a Jinja comment: it renders to nothing and line numbers stay the file's.
    assert r.render("offer", "en", {}) == r.render("plain", "en", {})
    write(tmp_path, "en/broken.txt.j2", "{#---\nexpects: []\n---#}\nSubject: Hi\n\n{{ x }\n")
    syntax = Renderer([tmp_path, DEFAULT_TEMPLATES]).check(["broken"], ["en"])
    assert len(syntax) == 1 and ":6:" in syntax[0]  # the file's own line


def test_check_meta_reports_bad_front_matter(tmp_path: Path) -> None:
    write(tmp_path, "en/badyaml.txt.j2", "{#---\nexpects: [yes, no\ndeadline: x\n---#}\n" + BODY)
    write(tmp_path, "en/unknown.txt.j2", "{#---\nexpects: [yes]\nexpect: [no]\n---#}\n" + BODY)
    write(tmp_path, "en/unclosed.txt.j2", "{#---\nexpects: [yes]\n" + BODY)
    write(tmp_path, "en/comment.txt.j2", "{#---\nexpects: [yes] #} oops\n---#}\n" + BODY)
    write(tmp_path, "en/types.txt.j2", "{#---\nexpects: {a: 1}\n---#}\n" + BODY)
    write(tmp_path, "en/good.txt.j2", "{#---\nexpects: [yes, no]\n---#}\n" + BODY)
    write(tmp_path, "zh/good.txt.j2", "{#---\nexpects: [no, yes]\n---#}\n" + BODY)
    r = Renderer([tmp_path])
    problems = r.check_meta(["badyaml", "unknown", "unclosed", "comment", "types", "good"], ["zh"])
    root = str(tmp_path)
    assert problems == [
        f"{root}/en/badyaml.txt.j2:3: front matter is not valid YAML: expected ',' or ']', but got ':'",
        f"{root}/en/unknown.txt.j2:3: unknown front matter key 'expect' (known: expects, deadline)",
        f"{root}/en/unclosed.txt.j2:1: front matter has no closing '---#}}' line",
        f"{root}/en/comment.txt.j2:2: front matter must not contain '#}}'",
        f"{root}/en/types.txt.j2:2: expects must be a list",
    ]  # fmt: skip
    assert set(META_KEYS) == {"expects", "deadline"}


def test_check_meta_reports_locales_that_disagree(tmp_path: Path) -> None:
    write(
        tmp_path,
        "en/offer.txt.j2",
        "{#---\nexpects: [yes, no]\ndeadline: offer-lapse\n---#}\n" + BODY,
    )
    write(
        tmp_path, "zh/offer.txt.j2", "{#---\nexpects: [yes]\ndeadline: offer-lapse\n---#}\n" + BODY
    )
    write(
        tmp_path,
        "en/keep.txt.j2",
        "{#---\nexpects: [yes]\ndeadline: keep-listed-expires\n---#}\n" + BODY,
    )
    write(tmp_path, "zh/keep.txt.j2", BODY)  # no front matter at all
    r = Renderer([tmp_path, DEFAULT_TEMPLATES])
    problems = r.check(["offer", "keep"], ["en", "zh"])  # check() includes check_meta()
    root = str(tmp_path)
    assert problems == [
        f"{root}/zh/offer.txt.j2:2: expects [yes] disagrees with [yes, no] in {root}/en/offer.txt.j2",
        f"{root}/zh/keep.txt.j2:1: expects [] disagrees with [yes] in {root}/en/keep.txt.j2",
        f"{root}/zh/keep.txt.j2:1: deadline none disagrees with 'keep-listed-expires' in {root}/en/keep.txt.j2",
    ]  # fmt: skip
    # An operator's folder overrides a file: its front matter is the one compared.
    op = tmp_path / "operator"
    write(op, "zh/offer.txt.j2", "{#---\nexpects: [no, yes]\ndeadline: offer-lapse\n---#}\n" + BODY)
    assert Renderer([op, tmp_path]).check_meta(["offer"], ["zh"]) == []


# -- Chinese staff mail, empty fields, the mentor, the trial length -------------------------

STAFF_NAMES = [n for n in TEMPLATE_NAMES if n.startswith("staff-")]


@pytest.mark.parametrize("name", STAFF_NAMES)
def test_staff_mail_in_chinese(name: str) -> None:
    for locale in LOCALES:  # shipped in every locale, HTML parts alike
        for part in ("txt", "html"):
            en = DEFAULT_TEMPLATES / "en" / f"{name}.{part}.j2"
            assert en.is_file() == (DEFAULT_TEMPLATES / locale / f"{name}.{part}.j2").is_file()
    zh_renderer = Renderer([DEFAULT_TEMPLATES], default_locale="zh")  # templates.default_locale
    out = zh_renderer.render(name, "zh", sample_context(name, "zh"))
    assert out.locale == "zh" and re.search(r"[\u4e00-\u9fff]", out.subject)
    parse_html(out.html)
    for verb in zh_renderer.meta(name).expects:  # the English and the Chinese command word
        assert f"（{verb}）" in out.text
    chinese = {"approve": "批准", "reject": "驳回", "note": "备注", "resume": "恢复"}
    chinese |= {"close": "关闭", "merge": "合并", "status": "状态", "confirm": "确认"}
    for verb in zh_renderer.meta(name).expects:
        assert f"“{chinese[verb]}”" in out.text or f"{chinese[verb]}/" in out.text


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value, *value.splitlines()]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


# English a Chinese mail may hold besides names and data: command words and a few terms.
ZH_ALLOWED = STAFF_WORDS | {"MOU", "Success", "Stories", "txt", "docx", "mailflow"}


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_sparse_profiles_leave_no_gaps(renderer: Renderer, name: str) -> None:
    for locale in LOCALES:
        ctx = sample_context(name, locale, sparse=True)
        out = renderer.render(name, locale, ctx)
        text = out.text.replace(ctx.get("form", ""), "")  # a blank form's labels are no gap
        assert "\n\n\n" not in out.text, f"{name}/{locale}: a gap of two blank lines"
        for gap in ("None", "not given", "N/A", "未填写", "name not given", " ()", "（）"):
            assert gap not in text, f"{name}/{locale}: {gap!r}"
        assert not re.search(r"^- [^:：\n]+[:：] ?$", text, re.M), f"{name}/{locale}: empty line"
        assert "Website:" not in text and "网站：" not in text
        assert "</th><td></td><td></td>" not in out.html  # a profile row with nothing in it
        if locale == "zh":  # what is left after the data is taken out must be Chinese
            rest = text
            for s in sorted(_strings(ctx), key=len, reverse=True):
                if s.strip():
                    rest = rest.replace(s, " ")
            rest = re.sub(r"https?://\S+|\S+@\S+", " ", rest)
            english = set(re.findall(r"[A-Za-z][A-Za-z-]+", rest)) - ZH_ALLOWED
            assert not english, f"{name}: English in Chinese mail: {english}"
    assert {"website", "contact_name", "languages"} <= set(SPARSE_FIELDS)


def test_mentor_by_name_else_by_address(renderer: Renderer) -> None:
    for name in ("partnership-introduction", "partnership-informal-confirmed"):
        for locale in LOCALES:
            full = renderer.render(name, locale, sample_context(name, locale)).text
            assert "Ruth Okafor" in full
            sparse = renderer.render(name, locale, sample_context(name, locale, sparse=True)).text
            assert "ruth.okafor@mentors.example" in sparse and "()" not in sparse
            assert "（）" not in sparse


def test_trial_length_comes_from_the_context(renderer: Renderer) -> None:
    for name in ("library-offer", "partnership-introduction"):
        for locale in LOCALES:
            ctx = sample_context(name, locale)
            ctx["partnership"]["trial_days"] = 60
            text = renderer.render(name, locale, ctx).text
            assert ("60 days" if locale == "en" else "60天") in text and "90" not in text
    for path in DEFAULT_TEMPLATES.glob("*/*.j2"):
        assert not re.search(r"\b90\b|九十", path.read_text()), path


def test_closing_mails(renderer: Renderer) -> None:
    en = mail(renderer, "partnership-closed").text
    assert (
        'Reply "yes" if you would like us to look for another sister library; '
        "otherwise you will not be listed." in en
    )
    zh = mail(renderer, "partnership-closed", "zh").text
    assert "如希望我们为贵馆寻找新的姐妹图书馆，请直接回复“同意”；否则" in zh
    # Sent after a decline and after a lapse alike: never says who answered what.
    for locale in LOCALES:
        text = mail(renderer, "library-offer-closed", locale).text
        assert not re.search(r"did not (answer|reply)|no answer|没有(收到)?回复|未回复", text)


def test_new_templates(renderer: Renderer) -> None:
    merge = mail(renderer, "staff-merge-proposal")
    assert '"merge"' in merge.text and "chenjing@163.example.com" in merge.text
    assert "> 您好，我是杭州图书馆少儿部的陈静" in merge.text and "#14" in merge.text
    status = mail(renderer, "staff-status")
    assert status.subject == "Re: status Hangzhou Public Library"
    assert status.text.startswith("Library #14 Hangzhou Public Library")
    ctx = sample_context("staff-status", "zh") | {"lines": []}
    assert "没有找到" in renderer.render("staff-status", "zh", ctx).text
    informal = mail(renderer, "partnership-informal-confirmed")
    assert "15 June 2027" in informal.text and "without a memorandum" in informal.text
    zh = mail(renderer, "partnership-informal-confirmed", "zh").text
    assert "2027年6月15日" in zh and "非正式" in zh
