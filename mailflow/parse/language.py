"""Language of a reply: Han script directly, everything else through py3langid."""

from __future__ import annotations

import math
import re
import unicodedata
from functools import lru_cache
from typing import Any

__all__ = ["LANGUAGES", "MAX_TEXT", "MIN_LETTERS", "classify", "detect_language"]

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


class _Identifier:
    """py3langid's naive Bayes model, restricted to LANGUAGES, with a smaller feature scanner.

    py3langid finds its byte n-gram features with a DFA whose transition table takes 39 MB
    (38,346 rows of 256 32-bit states). Each DFA state is the longest suffix of the text read so
    far that is a node of the n-gram trie, and it counts that node's feature if it has one. A
    dict from each trie node's bytes (104,583 of them, at most 6 bytes) to its feature does the
    same in ~12 MB: at each byte, the longest suffix (at most one byte longer than the last
    one) found in the dict is the state. Scoring is py3langid's own (`LanguageIdentifier` with
    norm_probs=True); tests/test_parse_language.py checks the two agree.
    """

    def __init__(self) -> None:
        self.ptc, self.pc, self.classes, self.nodes = _load_model(LANGUAGES)

    def features(self, data: bytes) -> dict[int, int]:
        """Feature index -> count, exactly as py3langid's DFA walk counts them."""
        nodes, length = self.nodes, 0
        counts: dict[int, int] = {}
        for end in range(1, len(data) + 1):
            length = min(length + 1, end)
            while (feature := nodes.get(data[end - length : end])) is None:
                length -= 1  # the empty string is a node: this ends
            if feature >= 0:
                counts[feature] = counts.get(feature, 0) + 1
        return counts

    def classify(self, text: str) -> tuple[str, float]:
        """(language, probability), as py3langid's classify with norm_probs=True."""
        import numpy as np

        if text.isupper():
            text = text.lower()
        data = unicodedata.normalize("NFC", text).encode("utf8", errors="surrogatepass")
        counts = self.features(data)
        if counts:
            idx = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
            n = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
            scores = np.log1p(n) @ self.ptc[idx] + self.pc
        else:
            scores = np.zeros(len(self.classes), dtype=np.float32)
        # py3langid's calibration: temperature sqrt(bytes), then softmax.
        scores *= 1.0 / math.sqrt(len(data) or 1)
        np.exp(scores - scores.max(), out=scores)
        scores /= scores.sum()
        best = int(scores.argmax())
        return self.classes[best], float(scores[best])


@lru_cache(maxsize=1)
def _identifier() -> _Identifier:
    # Loading the bundled model takes ~1 s, so do it once, on first use.
    return _Identifier()


def _load_model(languages: tuple[str, ...]) -> tuple[Any, Any, list[str], dict[bytes, int]]:
    """py3langid's bundled model: the per-language tables of `languages` only, and the trie
    of its features as a dict, each read piece by piece.

    The library's own loader holds the whole per-language table (97 languages, 28 MB) and two
    copies of the 39 MB DFA table at once (~115 MB at its peak). Here the table is read in
    slices and the DFA streamed a megabyte at a time, once per trie level (6), to recover
    each state's bytes breadth first: a state first reached at depth d+1 from a state at
    depth d is that state's bytes plus the byte read (a DFA state is the longest trie suffix
    of what was read, so nothing shorter reaches it).
    """
    import lzma
    import shutil
    import tempfile
    import zipfile

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

    def trie(z: zipfile.ZipFile, row: Any) -> list[bytes | None]:
        names: list[bytes | None] = [None] * len(row)
        names[0] = b""
        seen = np.zeros(len(row), dtype=bool)
        seen[0] = True
        frontier = np.zeros(1, dtype=np.int64)
        while frontier.size:
            need = row[frontier]
            order = np.argsort(need, kind="stable")
            need, frontier = need[order], frontier[order]
            found: list[int] = []
            with z.open("nextmove.npy") as member:
                (count,), dtype = header(member)
                if count % 256 or dtype.kind != "u":
                    raise ValueError(f"unexpected nextmove {dtype} in the language model")
                rows, step = count // 256, 1024  # 1 MiB of 32-bit states
                for first in range(0, rows, step):
                    n = min(step, rows - first)
                    raw = member.read(n * 256 * dtype.itemsize)
                    if len(raw) != n * 256 * dtype.itemsize:
                        raise ValueError("nextmove is truncated in the language model")
                    lo, hi = np.searchsorted(need, [first, first + n])
                    if lo == hi:
                        continue
                    block = np.frombuffer(raw, dtype=dtype).reshape(n, 256)
                    targets = block[need[lo:hi] - first]
                    for i, byte in zip(*np.nonzero(~seen[targets]), strict=True):
                        target = int(targets[i, byte])
                        if not seen[target]:
                            seen[target] = True
                            names[target] = names[int(frontier[lo + i])] + bytes((int(byte),))  # type: ignore[operator]
                            found.append(target)
            frontier = np.array(found, dtype=np.int64)
        return names

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
            row = small(z, "nextmove_row.npy").astype(np.int64)
            output = small(z, "out_feat.npy").tolist()
            names = trie(z, row)
    nodes: dict[bytes, int] = {}
    for name, feature in zip(names, output, strict=True):
        if name is None:
            raise ValueError("the language model's DFA has states its trie does not reach")
        nodes[name] = feature
    if len(nodes) != len(names):
        raise ValueError("the language model's DFA has two states for one string")
    return ptc, pc, [classes[i] for i in keep], nodes


def classify(text: str) -> tuple[str, float]:
    """py3langid's (language, probability) among LANGUAGES, for any text (no thresholds)."""
    return _identifier().classify(text)


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
