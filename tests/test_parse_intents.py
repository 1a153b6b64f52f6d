"""detect_intent, is_withdrawal and detect_command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailflow.parse.intents import detect_command, detect_intent, is_withdrawal, split_pair

DATA = Path(__file__).parent / "data" / "replies"
EXPECTED = json.loads((DATA / "expected.json").read_text(encoding="utf-8"))


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
    assert detect_command(text) == command


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
    assert detect_command(text) is None


def test_split_pair() -> None:
    assert split_pair("Springfield Public Library with Almada") == (
        "Springfield Public Library",
        "Almada",
    )
    assert split_pair("l7 and l9") == ("l7", "l9")
    assert split_pair("Springfield") is None
