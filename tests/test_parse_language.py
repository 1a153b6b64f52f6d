"""detect_language: Han fast path, py3langid for the rest, None for short text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailflow.parse.language import detect_language

DATA = Path(__file__).parent / "data" / "replies"
EXPECTED = json.loads((DATA / "expected.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_golden_language(name: str) -> None:
    expected = EXPECTED[name]
    assert detect_language(expected["reply_text"]) == expected["language"]


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Yes, we would like an introduction to the other library.", "en"),
        ("我们同意", "zh"),
        ("好的，我们同意，期待与对方图书馆交流！", "zh"),
        ("Yes, 我们同意这个建议", "zh"),
        ("Sí, aceptamos con mucho gusto la propuesta.", "es"),
        ("Oui, nous acceptons avec plaisir votre proposition.", "fr"),
        ("Ja, wir sind mit dem Vorschlag einverstanden.", "de"),
        ("Sim, aceitamos a proposta com muito prazer.", "pt"),
        ("Sì, accettiamo volentieri la vostra proposta.", "it"),
        ("Да, мы согласны с вашим предложением.", "ru"),
        ("はい、喜んでお受けします。", "ja"),
        ("نعم، نحن موافقون على الاقتراح", "ar"),
    ],
)
def test_languages(text: str, lang: str) -> None:
    assert detect_language(text) == lang


@pytest.mark.parametrize(
    "text", ["", "Yes", "OK!", "Sí", "No thanks", "123 456 789", "https://www.example.org/a/b/c"]
)
def test_too_short_to_tell(text: str) -> None:
    assert detect_language(text) is None


def test_one_han_character_in_english_does_not_make_it_chinese() -> None:
    assert detect_language("Thank you, we visited the 馆 last year and enjoyed it.") == "en"


def test_same_language_and_confidence_as_py3langid() -> None:
    """The dict scanner (language.py) counts the features py3langid's DFA counts: on every
    golden reply and on hostile bytes, py3langid's own identifier (restricted to the same
    languages) gives the same language and the same probability (to float32's precision:
    py3langid scores with numpy in float32, language.py in double)."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    from mailflow.parse.language import LANGUAGES, classify

    reference = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    reference.set_languages(list(LANGUAGES))
    texts = [expected["reply_text"] for expected in EXPECTED.values()]
    texts += ["WE AGREE, THANK YOU", "Здравствуйте, мы согласны.", "x", ""]
    texts += [bytes(range(n, 256)).decode("latin-1") * 3 for n in (0, 32, 128)]
    texts += ["\udcff\ud800 surrogates", "a" * 5000]
    for text in texts:
        lang, confidence = classify(text)
        want_lang, want_confidence = reference.classify(text)
        assert lang == want_lang, text
        assert confidence == pytest.approx(want_confidence, abs=1e-4), text
