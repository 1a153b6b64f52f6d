"""detect_intent, is_withdrawal, prefers_informal and detect_command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailflow.parse.intents import (
    detect_command,
    detect_intent,
    is_withdrawal,
    prefers_informal,
    split_pair,
)

DATA = Path(__file__).parent / "data" / "replies"
EXPECTED = json.loads((DATA / "expected.json").read_text(encoding="utf-8"))

# A staff vocabulary as the rules declare it (verb -> spellings).
VERBS = {
    "approve": ("approve", "approved", "批准", "通过"),
    "reject": ("reject", "rejected", "驳回"),
    "resume": ("resume", "恢复"),
    "close": ("close", "关闭"),
    "note": ("note", "备注"),
    "pair": ("pair", "配对"),
    "status": ("status", "状态"),
    "withdraw": ("withdraw",),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_golden_intent_and_withdrawal(name: str) -> None:
    expected = EXPECTED[name]
    assert detect_intent(expected["reply_text"]) == expected["intent"]
    assert is_withdrawal(expected["reply_text"]) is expected["withdrawal"]


ACCEPT = [
    "Yes", "yes please", "Yes!", "I agree.", "We agree to the MOU.", "We accept the offer.",
    "We would be happy to.", "Happy to!", "Sounds good to us", "Count us in!",
    "We'd love to be introduced.", "No problem, we accept.", "We are very interested.",
    "是", "是的", "好的，谢谢！", "我们同意", "同意。", "愿意", "我们很愿意参加", "接受", "可以",
    "没问题", "不错，我们同意", "Sí", "Si, aceptamos", "Acepto", "De acuerdo", "Sí, con gusto",
    "Oui", "Oui, avec plaisir", "J'accepte", "J’accepte", "D'accord", "Ja, gerne", "Einverstanden",
    "Dear committee,\n\nYes, we would like an introduction.", "您好！\n\n我们同意。",
]  # fmt: skip
DECLINE = [
    "No", "No.", "no thank you", "No thanks", "Not interested, sorry.", "We decline.",
    "We must decline the offer.", "We'd rather not.", "We would rather not at this time.",
    "I don't agree.", "We do not accept.", "We regret we are unable to accept.",
    "不", "不，谢谢", "不同意", "我们不同意", "不愿意", "我们不太愿意", "拒绝", "谢谢不用", "谢谢，不用了",
    "暂不考虑", "No", "No, gracias", "Rechazo la propuesta.", "No estamos de acuerdo.", "Non",
    "Non merci", "Je refuse.", "Je ne suis pas d'accord.", "Nous n'acceptons pas.", "Nein, danke",
    "Nicht einverstanden",
]  # fmt: skip
UNCLEAR = [
    "", "Thanks for your mail.", "I'm not sure yet.", "Yes, but no.", "We are happy to, but must decline.",
    "Si vous voulez, on peut en parler.", "Could you tell us more about them?", "我们再考虑一下。",
]  # fmt: skip


@pytest.mark.parametrize("text", ACCEPT)
def test_accept(text: str) -> None:
    assert detect_intent(text) == "accept"


@pytest.mark.parametrize("text", DECLINE)
def test_decline(text: str) -> None:
    assert detect_intent(text) == "decline"


@pytest.mark.parametrize("text", UNCLEAR)
def test_unclear(text: str) -> None:
    assert detect_intent(text) is None


def test_only_the_first_lines_are_read() -> None:
    text = "Thanks for your mail.\nWe will discuss it.\nOur board meets soon.\nMore soon.\n\nYes"
    assert detect_intent(text) is None
    assert detect_intent("Yes\n" + text) == "accept"


@pytest.mark.parametrize(
    "text",
    [
        "withdraw",
        "Please withdraw our application.",
        "We would like to withdraw from the program.",
        "Please remove us from the list.",
        "我们决定退出。",
        "我们想撤回申请",
        "Queremos retirar nuestra solicitud.",
        "Nous souhaitons retirer notre candidature.",
    ],
)
def test_withdrawal(text: str) -> None:
    assert is_withdrawal(text)


@pytest.mark.parametrize(
    "text",
    ["Yes", "We do not want to withdraw.", "我们不想退出", "Please keep us on the list.", ""],
)
def test_not_withdrawal(text: str) -> None:
    assert not is_withdrawal(text)


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("approve", ("approve", "")),
        ("Approve.\n\nThanks", ("approve", "")),
        ("APPROVED", ("approve", "")),
        ("reject duplicate of p3\nsecond line", ("reject", "duplicate of p3")),
        ("resume", ("resume", "")),
        ("close: no answer since June", ("close", "no answer since June")),
        ("note called them today\nthey will reply next week", ("note", "called them today\nthey will reply next week")),
        ("Note: phoned the director", ("note", "phoned the director")),
        ("pair Springfield Public Library with Biblioteca Municipal de Almada",
         ("pair", "Springfield Public Library with Biblioteca Municipal de Almada")),
        ("status Maplewood", ("status", "Maplewood")),
        ("withdraw l7", ("withdraw", "l7")),
        ("  /approve", ("approve", "")),
        ("批准", ("approve", "")),
        ("备注：已电话联系", ("note", "已电话联系")),
    ],
)  # fmt: skip
def test_commands(text: str, command: tuple[str, str]) -> None:
    assert detect_command(text, VERBS) == command


@pytest.mark.parametrize(
    "text",
    [
        "I approve",
        "approval pending",
        "closed",
        "note",
        "pair Springfield",
        "Yes",
        "",
        "status-quo",
    ],
)
def test_not_commands(text: str) -> None:
    assert detect_command(text, VERBS) is None


def test_split_pair() -> None:
    assert split_pair("Springfield Public Library with Almada") == (
        "Springfield Public Library",
        "Almada",
    )
    assert split_pair("l7 and l9") == ("l7", "l9")
    assert split_pair("Springfield") is None


def test_command_vocabulary_comes_from_the_caller() -> None:
    assert detect_command("approve", {"reject": ("reject",)}) is None
    assert detect_command("approve", {}) is None
    assert detect_command("OK go", {"approve": ("ok",)}) == ("approve", "go")
    assert detect_command("Renew two more years", {"renew": ("renew", "续签")}) == (
        "renew",
        "two more years",
    )
    assert detect_command("续签：两年", {"renew": ("renew", "续签")}) == ("renew", "两年")


def test_multi_word_spellings_and_text_verbs() -> None:
    verbs = {"skip-mou": ("skip-mou", "skip mou"), "story": ("story", "故事")}
    assert detect_command("Skip  MOU", verbs) == ("skip-mou", "")
    assert detect_command("skip-mou: both agreed by phone", verbs) == (
        "skip-mou",
        "both agreed by phone",
    )
    story = "story: they ran a joint reading week\nand swapped 200 books"
    assert detect_command(story, verbs, text_verbs={"story"}) == (
        "story",
        "they ran a joint reading week\nand swapped 200 books",
    )
    assert detect_command(story, verbs) == ("story", "they ran a joint reading week")
    assert detect_command("story", verbs, text_verbs={"story"}) is None  # a text verb needs text
    assert detect_command("note", {"note": ("note",)}, text_verbs=()) == ("note", "")


def test_a_pair_verb_still_needs_two_libraries() -> None:
    verbs = {"pair": ("match",)}
    assert detect_command("match l7 with l9", verbs) == ("pair", "l7 with l9")
    assert detect_command("match l7", verbs) is None


def test_the_shipped_rules_vocabulary_is_what_the_parser_reads() -> None:
    from mailflow.app import DEFAULT_RULES
    from mailflow.engine.loader import load_rules

    words = load_rules(DEFAULT_RULES).command_words()
    assert detect_command("informal", words) == ("skip-mou", "")
    assert detect_command("非正式", words) == ("skip-mou", "")
    assert detect_command("skip mou", words) == ("skip-mou", "")
    assert detect_command("approve", words) == ("approve", "")
    assert detect_command("合并", words) == ("merge", "")


@pytest.mark.parametrize(
    "text",
    [
        "We would prefer to keep it informal.",
        "We’d prefer to keep it informal",
        "informal partnership please",
        "no MOU",
        "Yes, but without an MOU.",
        "We'd rather not sign an MOU.",
        "we do not need a formal agreement",
        "We won't sign the MOU, but we are happy to continue.",
        "Dear Anna,\n\nInformal is fine for us.",
        "非正式",
        "我们希望保持非正式合作",
        "不签备忘录",
        "我们不需要备忘录，继续交流就好。",
        "无需签署谅解备忘录",
        "您好！\n\n我们倾向于非正式的合作。",
        "Preferimos una colaboración informal.",
        "Sí, pero sin memorando, por favor.",
        "Nous préférons un partenariat informel.",
        "Oui, mais sans protocole d'accord.",
        "Gerne, aber ohne Absichtserklärung.",
    ],
)
def test_prefers_informal(text: str) -> None:
    assert prefers_informal(text)


@pytest.mark.parametrize(
    "text",
    [
        "We agree to the MOU.",
        "We are happy to sign the MOU.",
        "Thanks for the MOU. We have signed it.\nInformal chats are welcome too.",
        "We prefer a formal MOU rather than an informal arrangement.",
        "同意签署备忘录",
        "我们同意签署备忘录，不过希望保持非正式的交流",  # both: a person reads it
        "不是非正式的",
        "Yes",
        "我们同意",
        "",
        # Form lines describe the partnership; they do not answer the MOU question.
        "Commitment level: informal",
        "参与程度：非正式",
        "I agree\n\nGoals: informal exchange of newsletters\nSignatory name: Li Ming",
        # Only the opening lines count.
        "Yes.\nWe agree.\nSee you soon.\nBest,\nAnna\nPS an informal visit would be nice",
    ],
)
def test_does_not_prefer_informal(text: str) -> None:
    assert not prefers_informal(text)
