"""Language of a reply: Han script directly, everything else through py3langid."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

__all__ = ["LANGUAGES", "MAX_TEXT", "MIN_LETTERS", "detect_language"]

# Restricting the model to languages libraries are likely to write in makes short texts far
# more reliable than choosing among all 97 the model knows.
LANGUAGES = ("en", "zh", "es", "fr", "de", "pt", "it", "nl", "ja", "ko", "ru", "ar", "tr", "pl")
MIN_LETTERS = 12  # below this, a guess is noise
MIN_CONFIDENCE = 0.5

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA = re.compile(r"[\u3040-\u30ff]")
# Each alternative starts only where a word starts: `\S+@\S+` tried at every position of a
# long word without spaces backtracks quadratically (a 300 kB word took 100 s).
_URL_OR_EMAIL = re.compile(r"(?<!\S)(?:https?://\S+|www\.\S+|[^\s@]++@\S+)")
# Language shows in the first lines; detection time and the regexes above grow with the text.
MAX_TEXT = 16 * 1024


@lru_cache(maxsize=1)
def _identifier() -> Any:
    # Loading the bundled model takes ~0.5 s, so do it once, on first use.
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    ident.set_languages(list(LANGUAGES))
    return ident


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of ``text``, or None when it is too short or too uncertain to tell."""
    text = _URL_OR_EMAIL.sub(" ", text[:MAX_TEXT])
    letters = sum(1 for ch in text if ch.isalpha())
    han = len(_HAN.findall(text))
    kana = len(_KANA.findall(text))
    # One Han or kana character carries about as much as a short word, so weigh it against
    # ~3 letters; kana only occur in Japanese.
    if han + kana >= 2 and (han + kana) * 3 >= letters - han - kana:
        return "ja" if kana * 4 >= han else "zh"
    if letters < MIN_LETTERS:
        return None
    lang, confidence = _identifier().classify(text)
    if confidence < MIN_CONFIDENCE:
        return None
    return str(lang)
