"""trim_reply: golden client replies, the multilingual golden set, signatures, disclaimers.

Speed is measured by bench/reply_score.py, not asserted here.
"""

from __future__ import annotations

import email
import email.policy
import json
from pathlib import Path

import pytest

from mailflow.parse import parse_message
from mailflow.parse.reply import split_reply, trim_reply
from tests.reply_cases import Case, load_cases

DATA = Path(__file__).parent / "data" / "replies"
EXPECTED = json.loads((DATA / "expected.json").read_text(encoding="utf-8"))


def plain_text(name: str) -> str:
    msg = email.message_from_bytes((DATA / name).read_bytes(), policy=email.policy.default)
    return msg.get_body(("plain",)).get_content()


def test_every_golden_file_has_an_expectation() -> None:
    assert sorted(p.name for p in DATA.glob("*.eml")) == sorted(EXPECTED)
    assert len(EXPECTED) >= 16


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_golden_reply_text(name: str) -> None:
    expected = EXPECTED[name]
    assert trim_reply(plain_text(name)) == (expected["reply_text"], expected["trimmed"])


OFFER = "> Dear library,\n>\n> Reply yes if you would like an introduction.\n"


@pytest.mark.parametrize(
    ("text", "new"),
    [
        # Gmail, one line and wrapped over two
        (f"Yes.\n\nOn Sat, 21 Nov 2026 at 10:02, Anna <a@b.example> wrote:\n\n{OFFER}", "Yes."),
        (
            f"Yes.\n\nOn Sat, 21 Nov 2026 at 10:02, Sister Libraries <\nsisters@program.example> wrote:\n{OFFER}",
            "Yes.",
        ),
        # Gmail with a narrow no-break space before AM
        (
            f"Yes.\n\nOn Sat, Nov 21, 2026 at 10:02\u202fAM Anna <a@b.example> wrote:\n{OFFER}",
            "Yes.",
        ),
        # Apple Mail and Thunderbird
        (f"Sure!\n\nOn 21 Nov 2026, at 10:02, Anna <a@b.example> wrote:\n\n{OFFER}", "Sure!"),
        (f"Sure!\n\nOn 11/21/26 10:02 AM, Anna Li wrote:\n{OFFER}", "Sure!"),
        # Older Thunderbird: "Name wrote:" only counts when a quote follows
        (f"Sure!\n\nAnna Li wrote:\n{OFFER}", "Sure!"),
        # Outlook, classic separator and 365 rule + header block
        ("OK\n\n-----Original Message-----\nFrom: A\nSent: Monday\nTo: B\nSubject: x\n\nold", "OK"),
        (
            "OK\n\n________________________________\nFrom: A <a@b>\nSent: Monday\nTo: B\nSubject: x\n\nold",
            "OK",
        ),
        ("OK\n\nFrom: A <a@b>\nDate: Monday\nTo: B\nSubject: x\n\nold", "OK"),
        ("OK\n\n**From:** A <a@b>\n**Sent:** Monday\n\nold", "OK"),
        ("D'accord\n\nDe : A <a@b>\nEnvoyé : lundi\nÀ : B\nObjet : x\n\nold", "D'accord"),
        ("Sí\n\nDe: A <a@b>\nEnviado el: lunes\nPara: B\nAsunto: x\n\nold", "Sí"),
        ("Ja\n\nVon: A <a@b>\nGesendet: Montag\nAn: B\nBetreff: x\n\nold", "Ja"),
        # QQ Mail / Foxmail / 163 / other Chinese clients
        (
            "同意\n\n------------------ 原始邮件 ------------------\n发件人: a\n发送时间: 周六\n\n旧",
            "同意",
        ),
        ("同意\n\n-----原始邮件-----\n发件人: a\n发送时间: 周六\n收件人: b\n主题: x\n\n旧", "同意"),
        ("同意\n\n发件人： a\n发送时间： 2026-11-21 10:02\n收件人： b\n主题： x\n旧", "同意"),
        ('同意\n\n在 2026-11-21 10:02:33，"Name" <a@b.example> 写道：\n>旧\n', "同意"),
        ("同意\n\n在 2026年11月21日 10:02，Name<a@b.example> 写道：\n\n旧的邮件\n", "同意"),
        ("好的\n\nName <a@b.example> 于2026年11月21日周六 10:02写道：\n\n> 旧\n", "好的"),
        ("好的\n\nName <a@b.example>\n于2026年11月21日周六 10:02写道：\n\n> 旧\n", "好的"),
        ("好的\n\n---- 回复的原邮件 ----\n| 发件人 | a |\n", "好的"),
        # Other languages
        (f"Oui\n\nLe sam. 21 nov. 2026 à 10:02, Anna <a@b.example> a écrit\u00a0:\n{OFFER}", "Oui"),
        (f"Sí\n\nEl sáb, 21 nov 2026 a las 10:02, Anna (<a@b.example>) escribió:\n{OFFER}", "Sí"),
        (f"Ja\n\nAm Sa., 21. Nov. 2026 um 10:02 Uhr schrieb Anna <a@b.example>:\n{OFFER}", "Ja"),
    ],
)
def test_quote_headers(text: str, new: str) -> None:
    assert trim_reply(text) == (new, True)


@pytest.mark.parametrize(
    "tagline",
    [
        "Sent from my iPhone",
        "Sent from my Galaxy",
        "Get Outlook for iOS",
        "Get Outlook for Android<https://aka.ms/AAb9ysg>",
        "发自我的iPhone",
        "发自我的华为手机",
        "来自网易邮箱大师",
        "Enviado desde mi iPhone",
        "Envoyé de mon iPhone",
        "Von meinem iPhone gesendet",
    ],
)
def test_phone_taglines_are_cut(tagline: str) -> None:
    assert trim_reply(f"Yes, we accept.\n\n{tagline}\n\n{OFFER}") == ("Yes, we accept.", True)


def test_dash_dash_signature_and_the_closing_above_it_are_cut() -> None:
    text = "We agree.\n\nBest regards,\nAnna\n\n-- \nAnna Li | City Library\n+1 555 0100\n"
    assert trim_reply(text) == ("We agree.", True)
    assert (
        split_reply(text).signature
        == "Best regards,\nAnna\n\n--\nAnna Li | City Library\n+1 555 0100"
    )


@pytest.mark.parametrize(
    "disclaimer",
    [
        "CONFIDENTIALITY NOTICE: This e-mail is for the sole use of the intended recipient.",
        "This message and any attachments are confidential and may be privileged.",
        "The information contained in this email is intended only for the addressee.",
        "If you are not the intended recipient, please delete this message.",
        "DISCLAIMER: views are my own.",
        "免责声明：本邮件仅供收件人使用。",
        "本邮件及其附件含有保密信息，仅限于发送给上面地址中列出的个人或群组。",
        "AVISO DE CONFIDENCIALIDAD: Este mensaje es confidencial.",
        "Ce message et toutes les pièces jointes sont confidentiels.",
        "Diese E-Mail enthält vertrauliche Informationen.",
    ],
)
def test_disclaimers_are_cut(disclaimer: str) -> None:
    text = f"Yes, count us in.\n\nAnna\n\n________________\n{disclaimer}\nMore legal text.\n"
    assert trim_reply(text) == ("Yes, count us in.\n\nAnna", True)


def test_bottom_posted_reply_keeps_the_text_below_the_quote() -> None:
    text = f"On Sat, 21 Nov 2026 at 10:02, Anna <a@b.example> wrote:\n{OFFER}\nYes please.\n\n-- \nBo\n"
    assert trim_reply(text) == ("Yes please.", True)


def test_inline_answers_keep_unquoted_lines() -> None:
    text = "Hi,\n\n> Would you like pen pals?\nYes.\n> And a staff visit?\nNot this year.\n"
    assert trim_reply(text) == ("Hi,\n\nYes.\nNot this year.", True)


def test_indentation_and_bullets_survive_for_the_form_parser() -> None:
    text = "- Library name: Springfield\n- Interests: books,\n    pen pals\n\nOn Mon, X <x@y.example> wrote:\n> old\n"
    assert trim_reply(text) == (
        "- Library name: Springfield\n- Interests: books,\n    pen pals",
        True,
    )


def test_only_quotes_leave_nothing_and_a_forward_is_kept_whole() -> None:
    # Only quotes: nothing new, and the quoted offer must not be read as the answer.
    assert trim_reply("  > only a quote\n> Reply yes if you agree\n") == ("", False)
    assert trim_reply(f"On Sat, 21 Nov 2026 at 10:02, A <a@b.example> wrote:\n{OFFER}") == (
        "",
        False,
    )
    # A forward with nothing above it: what was forwarded is the message (it may be a form).
    forwarded = "-----Original Message-----\nFrom: a\nSent: b\n\nLibrary name: X\n"
    assert trim_reply(forwarded) == (forwarded.strip(), False)


def test_text_without_history_is_returned_unchanged() -> None:
    # The writer's blank lines are kept as written; only the line ends are normalised.
    assert trim_reply("Yes\r\n\r\n\r\n\r\nThanks\r\n") == ("Yes\n\n\n\nThanks", True)
    assert trim_reply("") == ("", False)


def test_prose_that_mentions_from_or_wrote_is_not_cut() -> None:
    text = "From: our side, everything is ready.\nShe wrote: a lovely letter.\nYes."
    assert trim_reply(text) == (text, True)


CASES = load_cases()


def test_golden_set_covers_every_language_and_group() -> None:
    assert len(CASES) >= 150
    assert len({c.id for c in CASES}) == len(CASES)
    langs = {c.lang for c in CASES}
    composed = {"pl", "ru", "uk", "de", "nl", "no", "sv", "da", "fi", "it", "pt", "es", "fr"}
    composed |= {"ja", "ko", "zh-TW", "zh", "en"}
    assert langs >= composed
    per_lang = ("attribution", "header-block", "separator", "tagline", "closing", "forward")
    for lang in composed:  # each language of languages.yaml has every client format
        groups = {c.group for c in CASES if c.lang == lang}
        assert set(per_lang) <= groups, lang
    groups = {c.group for c in CASES}
    assert {"zoho", "hotmail", "no-date", "no-colon", "pipe-quote", "gmail-date-first"} <= groups
    assert {"yandex", "mailru", "only-quotes", "help-desk", "list-footer", "inline"} <= groups
    # the blind batches: more locales, GroupWise, HTML bodies
    assert {"groupwise", "html", "disclaimer", "short-answer"} <= groups
    assert langs >= {"cs", "hu", "tr", "el", "ro", "vi", "id", "ar", "he", "th"}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_golden_set(case: Case) -> None:
    text, trimmed = trim_reply(case.text)
    assert (text, trimmed) == (case.expected.strip(), case.trimmed)
    assert all(m in text for m in case.must)
    assert not any(n in text for n in case.must_not)


def test_split_reply_hands_back_the_signature() -> None:
    parts = split_reply("We accept.\n\nKind regards,\nAnna Li\nSpringfield Library\n\n> old\n")
    assert parts.text == "We accept."
    assert parts.signature == "Kind regards,\nAnna Li\nSpringfield Library"
    assert parts.trimmed
    assert split_reply("We accept.").signature == ""


@pytest.mark.parametrize(
    "text",
    [
        "Yes, we accept.\n\nThanks!",
        "Thanks,\nAnna",  # a closing is never all that is left
        "Regards to your team, and yes, we accept.",
        "Cheers\nwe accept and will write next week with the details of our plan for 2027,\nAnna",
    ],
)
def test_closings_that_are_the_message_are_kept(text: str) -> None:
    assert trim_reply(text) == (text, True)


def test_a_yes_above_a_closing_survives() -> None:
    assert trim_reply("Yes\n\nBest regards,\nAnna\n") == ("Yes", True)
    assert trim_reply("同意\n\n此致\n敬礼\n王丽\n") == ("同意", True)


@pytest.mark.parametrize(
    "text",
    [
        "x" * 10_000_000,
        "On " + "a" * 1_000_000 + " wrote:\n> q\n",
        "From: " + "Sent: x " * 100_000 + "\n",
        "> quoted\n" * 200_000 + "Yes.\n",
        "\n".join(["On Sat, 21 Nov 2026 at 10:02, A <a@b.example> wrote:", "> q", "a"] * 20_000),
        "Regards,\n" * 50_000,
        "\u00a0\t\r\n" * 100_000,
        "CAUTION: " + " " * 1_000_000 + "outside",
        "*" + " \t" * 500_000 + "b:\n> x\nyes",
        "2011/4/7 A <a@b.example>\n" * 50_000,
        "| " * 500_000 + "x\n" + "> " * 500_000,
    ],
    ids=["long-line", "long-attribution", "many-headers", "long-quote", "many-attributions",
         "many-closings", "whitespace", "banner-spaces", "star-spaces", "date-lines", "pipes"],
)  # fmt: skip
def test_hostile_text_is_trimmed_without_error(text: str) -> None:
    new, trimmed = trim_reply(text)
    assert isinstance(new, str) and isinstance(trimmed, bool)
    assert len(new) <= len(text)


def _mail(body: str) -> bytes:
    return (
        "From: Anna Li <anna@springfield.example>\r\n"
        "To: sisters@program.example\r\n"
        "Subject: Re: Introduction offer\r\n"
        "Message-ID: <r1@springfield.example>\r\n"
        "In-Reply-To: <offer1@program.example>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n" + body.replace("\n", "\r\n")
    ).encode()


def test_an_empty_reply_over_the_offer_is_no_accept() -> None:
    facts = parse_message(
        _mail(
            f"On Sat, 21 Nov 2026 at 10:02, Sister Libraries <sisters@program.example> wrote:\n{OFFER}"
        ),
        program_address="sisters@program.example",
        secret=None,
    )
    assert (facts.reply_text, facts.reply_trimmed, facts.intent) == ("", False, None)


@pytest.mark.parametrize(
    ("body", "intent"),
    [
        ("Nein danke.\n\nMit freundlichen Grüßen\nAnna Schmidt\n\nAm 21.11.2026 um 10:02 schrieb Sister Libraries:\n" + OFFER, "decline"),
        ("Yes please!\n\nThanks,\nAnna\n\nSent from my iPhone\n\n" + OFFER, "accept"),
        ("同意\n\n此致\n敬礼\n李明\n\n发件人: Sister Libraries <sisters@program.example>\n发送时间: 2026年11月21日 10:02\n收件人: 李明\n主题: 介绍\n\n" + OFFER.replace("> ", ""), "accept"),
    ],
)  # fmt: skip
def test_signature_removal_keeps_the_answer_for_the_pipeline(body: str, intent: str) -> None:
    facts = parse_message(_mail(body), program_address="sisters@program.example", secret=None)
    assert facts.reply_trimmed
    assert facts.intent == intent
    assert "Sister Libraries" not in facts.reply_text


def _html_mail(html: str) -> bytes:
    return (
        "From: Anna Li <anna@springfield.example>\r\n"
        "To: sisters@program.example\r\n"
        "Subject: Re: Introduction offer\r\n"
        "Content-Type: text/html; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n" + html
    ).encode()


QUOTE_HTML = (
    '<div class="gmail_quote"><div class="gmail_attr">On Sat, 21 Nov 2026 at 10:02, Sister'
    " Libraries &lt;sisters@program.example&gt; wrote:<br></div>"
    '<blockquote class="gmail_quote">Dear library,<br>Reply yes if you would like an'
    " introduction.</blockquote></div>"
)


@pytest.mark.parametrize(
    "html",
    [
        f"<div>No, thank you.</div>{QUOTE_HTML}",  # top-posted
        f"{QUOTE_HTML}<div><br></div><div>No, thank you.</div>",  # bottom-posted
        '<blockquote type="cite">Reply yes if you would like an introduction.</blockquote>'
        "<p>No, thank you.</p>",  # Apple Mail, no attribution
    ],
)
def test_an_html_only_reply_is_trimmed_at_its_blockquote(html: str) -> None:
    facts = parse_message(_html_mail(html), program_address="sisters@program.example", secret=None)
    assert (facts.reply_text, facts.reply_trimmed) == ("No, thank you.", True)
    assert facts.intent == "decline"


def test_html_blockquotes_become_quoted_lines_but_an_indent_does_not() -> None:
    from mailflow.parse.htmltext import html_to_text

    nested = "<p>Yes.</p><blockquote>a<br><br>b<blockquote>c</blockquote></blockquote><p>d</p>"
    assert html_to_text(nested) == "Yes.\n\n> a\n>\n> b\n> > c\n\nd"
    # Gmail's and Apple Mail's "indent" is a borderless blockquote: the writer's own text.
    indent = '<blockquote style="margin: 0 0 0 40px; border: none; padding: 0px;">Yes.</blockquote>'
    assert html_to_text(indent) == "Yes."
    # The private-use characters that mark a quote are dropped from the mail's own text.
    assert html_to_text("<p>a\ue000b\ue001c</p>") == "abc"


def test_an_html_forward_with_nothing_above_reads_as_the_form_it_carries() -> None:
    from mailflow.parse.htmltext import html_to_text

    html = (
        "<div>Begin forwarded message:</div><blockquote type='cite'><div><b>From: </b>Anna"
        " &lt;anna@springfield.example&gt;</div><div><b>Subject: </b>Form</div><div><b>Date: </b>"
        "21 November 2026 at 10:02</div><br><div>Library name: Springfield</div></blockquote>"
    )
    text, trimmed = trim_reply(html_to_text(html))
    assert not trimmed
    assert "\nLibrary name: Springfield" in text
    assert ">" not in text.replace("<anna@springfield.example>", "")


@pytest.mark.parametrize(
    "text",
    [
        "Yes.\n\n>>> Anna Li <anna@b.example> 11/21/26 10:02 AM >>>\nReply yes if you agree.\n",
        "Yes.\n\n\n\nAnna Li/Library/ACME\n11/21/2026 10:02 AM\nTo\nsisters@program.example\ncc\n\n"
        "Subject\nOffer\n\nReply yes if you agree.\n",
    ],
)
def test_groupwise_and_lotus_notes_headers_start_the_history(text: str) -> None:
    assert trim_reply(text) == ("Yes.", True)


def test_a_pronoun_that_wrote_is_prose_not_an_attribution() -> None:
    text = "On 3 March we wrote to the council:\n- the roof leaks\n\nNo answer yet."
    assert trim_reply(text) == (text, True)
    # a sender's name before the verb is an attribution
    assert trim_reply("Yes.\n\nOn 3 March Anna wrote to us:\n> Reply yes\n") == ("Yes.", True)


@pytest.mark.parametrize(
    ("text", "new"),
    [
        ("Fixed.\n\n* Anna Li <anna@b.example> [2026-11-21 10:02]:\n> It fails.\n", "Fixed."),
        ("Thanks.\n\nAnna Li said:\n> The office is closed.\n", "Thanks."),
        ("Booked.\n\n— Anna\n\n> Can you book it?\n", "Booked."),
    ],
)
def test_mutt_squirrelmail_and_em_dash_signatures(text: str, new: str) -> None:
    assert trim_reply(text) == (new, True)


def test_said_is_prose_without_a_quote_below() -> None:
    text = "The mayor said:\nWe will fund the new wing.\nSo yes."
    assert trim_reply(text) == (text, True)


@pytest.mark.parametrize(
    ("html", "text"),
    [
        # Gmail writes one <div> per line and <div><br></div> for a blank line.
        ('<div dir="ltr">Hi,<div><br></div><div>Yes.</div><div>Anna</div></div>', "Hi,\n\nYes.\nAnna"),
        # A <br> that ends a block adds no line; paragraphs and lists are set off.
        ("<div>a<br></div><div>b</div><p>c</p><ul><li>d</li></ul>e", "a\nb\n\nc\n\n- d\n\ne"),
    ],
)  # fmt: skip
def test_html_lines_are_laid_out_as_a_browser_shows_them(html: str, text: str) -> None:
    from mailflow.parse.htmltext import html_to_text

    assert html_to_text(html) == text


def test_a_forward_with_a_quote_inside_is_kept_whole() -> None:
    # The forwarded mail was itself bottom-posted: it is still someone else's whole mail.
    text = (
        "---------- Forwarded message ---------\nFrom: Anna <a@b.example>\nDate: Sat, 21 Nov 2026\n"
        "Subject: Offer\n\n> Reply yes if you agree.\n\nLibrary name: Springfield\n"
    )
    # (its quote marks go, as for Apple Mail's quoted HTML forward)
    assert trim_reply(text) == (text.strip().replace("> Reply", "Reply"), False)


def test_escaped_quote_marks_and_a_lone_tagline() -> None:
    assert trim_reply("Yes.\n\n&gt; Would you like a copy?\n") == ("Yes.", True)
    # A tagline over the quote is no answer: the quoted offer must not be read as one either.
    assert trim_reply(f"Sent from my iPhone\n\n{OFFER}") == ("", False)
    assert split_reply(f"{OFFER}\nSent from my iPhone").signature == "Sent from my iPhone"


def test_an_unknown_separator_above_a_header_block_goes_with_it() -> None:
    text = (
        "Ok.\n\n-----Eredeti levél-----\nFrom: A <a@b.example>\nSent: x\nTo: y\nSubject: z\n\nHi\n"
    )
    assert trim_reply(text) == ("Ok.", True)
    # at the end of the text, with nothing cut below it, it is the writer's
    assert trim_reply("Ok.\n\n----- ende -----\n") == ("Ok.\n\n----- ende -----", True)


@pytest.mark.parametrize(
    "tail",
    [
        "Pozdravujem,\nJan Kollár",  # a closing the tables lack, a name below it
        "Mit herzlichem Dank,\nAnna",
        "Enviado desde mi Fairphone con Android",  # a device named on the last line
        "Надіслано з мого Galaxy",
    ],
)
def test_closings_and_taglines_the_tables_lack(tail: str) -> None:
    assert trim_reply(f"We accept.\n\n{tail}\n") == ("We accept.", True)


@pytest.mark.parametrize(
    "text",
    [
        "We accept.\n\nParticipants:\nAnna Li",  # no comma: a list, not a closing
        "We accept.\n\nSo,\nwe will come with three people.",  # no name below
        "We accept.\n\nMy iPhone is broken, so I write from the library.",  # a sentence
    ],
)
def test_prose_that_ends_like_a_signature_is_kept(text: str) -> None:
    assert trim_reply(text) == (text, True)
