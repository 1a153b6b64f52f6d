"""Language of a reply: Han script directly, everything else through py3langid."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, cast

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
# Language shows in the first lines; detection time and the regexes above grow with the text
# (4 Ki characters are a long letter; reading more only costs time).
MAX_TEXT = 4 * 1024


@lru_cache(maxsize=1)
def _identifier() -> Any:
    # Loading the bundled model takes ~0.5 s, so do it once, on first use.
    from py3langid.langid import LanguageIdentifier

    ptc, pc, classes, nextmove, row, output = _load_model(LANGUAGES)
    return LanguageIdentifier(ptc, pc, classes, nextmove, output, norm_probs=True, tk_row=row)


def _load_model(languages: tuple[str, ...]) -> tuple[Any, ...]:
    """py3langid's bundled model with only the columns of `languages`, read piece by piece.

    The library's own loader holds the whole per-language table (97 languages, 28 MB) and two
    copies of the 39 MB state table at once: ~115 MB at its peak for a model that needs ~50 MB.
    Here the table is read in slices and the state table straight into its final array.
    """
    import lzma
    import shutil
    import tempfile
    import zipfile
    from array import array

    import numpy as np
    from py3langid.langid import MODEL_DIR, MODEL_FILE

    def header(member: Any) -> tuple[tuple[int, ...], Any]:
        fmt = np.lib.format
        version = fmt.read_magic(member)
        read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, fortran, dtype = read(member)
        if fortran:
            raise ValueError("unexpected Fortran-ordered array in the language model")
        return shape, dtype

    def small(z: zipfile.ZipFile, name: str) -> Any:
        with z.open(name) as member:
            return np.lib.format.read_array(member, allow_pickle=False)

    def to_array(z: zipfile.ZipFile, name: str) -> array[int]:
        with z.open(name) as opened:
            member = cast(zipfile.ZipExtFile, opened)
            (count,), dtype = header(member)
            if dtype.byteorder == ">" or dtype.kind != "u":
                raise ValueError(f"unexpected {name} type {dtype} in the language model")
            out = array({2: "H", 4: "I", 8: "L"}[dtype.itemsize], [0]) * count
            view, done = memoryview(out).cast("B"), 0
            # A megabyte at a time: ZipExtFile.readinto reads into a temporary bytes first.
            while done < len(view) and (got := member.readinto(view[done : done + (1 << 20)])):
                done += got
            if done != len(view):
                raise ValueError(f"{name} is truncated in the language model")
            return out

    with tempfile.TemporaryFile(suffix=".npz") as tmp:
        with lzma.open(MODEL_DIR / MODEL_FILE) as src:
            shutil.copyfileobj(src, tmp, length=1 << 20)
        tmp.seek(0)
        with zipfile.ZipFile(tmp) as z:
            classes = small(z, "classes.npy").tolist()
            keep = [i for i, code in enumerate(classes) if code in languages]
            pc = small(z, "pc.npy")[keep].copy()
            with z.open("ptc.npy") as member:
                (rows, width), dtype = header(member)
                ptc = np.empty((rows, len(keep)), dtype=dtype)
                step = 4096
                for start in range(0, rows, step):
                    n = min(step, rows - start)
                    block = np.frombuffer(member.read(n * width * dtype.itemsize), dtype=dtype)
                    ptc[start : start + n] = block.reshape(n, width)[:, keep]
            nextmove = to_array(z, "nextmove.npy")
            row = to_array(z, "nextmove_row.npy")
            output = small(z, "out_feat.npy").tolist()
    return ptc, pc, [classes[i] for i in keep], nextmove, row, output


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
