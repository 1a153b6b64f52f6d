"""Language of a reply: Han script directly, everything else through py3langid."""

from __future__ import annotations

import math
import operator
import re
import struct
import sys
import unicodedata
from array import array
from functools import lru_cache
from pathlib import Path
from typing import IO

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
# DFA moves kept once met (see _Identifier): ~100 bytes each, so at most ~7 MB.
MAX_MOVES = 1 << 16


class _Identifier:
    """py3langid's naive Bayes model, restricted to LANGUAGES, held small and without numpy.

    py3langid finds its byte n-gram features with a DFA whose transition table takes 39 MB
    (38,346 rows of 256 32-bit states), and scores with numpy (~17 MB a process). Each DFA
    state is the longest suffix of the text read so far that is a node of the n-gram trie, and
    counts that node's feature if it has one. Here a dict from each trie node's bytes (104,583
    of them, at most 6 bytes) to its state gives any move (the longest suffix of the state's
    bytes plus the byte read that is a node), and the moves met are kept in a bounded dict.
    The score is py3langid's (`LanguageIdentifier` with norm_probs=True), in double precision
    rather than numpy's float32: tests/test_parse_language.py checks that the two agree.
    """

    def __init__(self) -> None:
        self.ptc, self.pc, self.classes, names, self.output = _load_model(LANGUAGES)
        self.row = struct.Struct(f"<{len(self.classes)}e")  # one feature's float16 weights
        self.names = names  # DFA state -> its trie node's bytes
        self.states = {name: state for state, name in enumerate(names)}
        # The DFA's moves as they are met (state << 8 | byte -> state), bounded: ordinary text
        # meets a few ten thousand, hostile bytes must not grow it past this.
        self.moves: dict[int, int] = {}

    def move(self, state: int, byte: int) -> int:
        """The longest suffix of the state's bytes plus `byte` that is a trie node."""
        name, states = self.names[state] + bytes((byte,)), self.states
        for start in range(len(name)):
            if (found := states.get(name[start:])) is not None:
                return found
        return 0  # the empty string

    def features(self, data: bytes) -> dict[int, int]:
        """Feature index -> count, exactly as py3langid's DFA walk counts them."""
        moves, output, state = self.moves, self.output, 0
        counts: dict[int, int] = {}
        for byte in data:
            key = state << 8 | byte
            if (following := moves.get(key)) is None:
                following = self.move(state, byte)
                if len(moves) < MAX_MOVES:
                    moves[key] = following
            state = following
            if (feature := output[state]) >= 0:
                counts[feature] = counts.get(feature, 0) + 1
        return counts

    def classify(self, text: str) -> tuple[str, float]:
        """(language, probability), as py3langid's classify with norm_probs=True."""
        if text.isupper():
            text = text.lower()
        data = unicodedata.normalize("NFC", text).encode("utf8", errors="surrogatepass")
        scores = [0.0] * len(self.classes)
        counts = self.features(data)
        if counts:
            unpack, size, ptc = self.row.unpack_from, self.row.size, self.ptc
            weights = [math.log1p(count) for count in counts.values()]
            rows = [unpack(ptc, feature * size) for feature in counts]
            # One language's score is a dot product over the features met: done column by
            # column in C (map/sum) rather than row by row in Python (~5x faster).
            scores = [
                prior + sum(map(operator.mul, weights, column))
                for prior, column in zip(self.pc, zip(*rows, strict=True), strict=True)
            ]
        # py3langid's calibration: temperature sqrt(bytes), then softmax.
        scale = 1.0 / math.sqrt(len(data) or 1)
        top = max(scores) * scale
        exps = [math.exp(s * scale - top) for s in scores]
        best = exps.index(max(exps))
        return self.classes[best], exps[best] / math.fsum(exps)


@lru_cache(maxsize=1)
def _identifier() -> _Identifier:
    # Loading the bundled model takes ~2 s, so do it once, on first use.
    return _Identifier()


def _load_model(
    languages: tuple[str, ...],
) -> tuple[array[int], list[float], list[str], list[bytes], array[int]]:
    """py3langid's bundled model: the per-language weights of `languages` only, each DFA
    state's trie node (its bytes) and feature, read piece by piece from its .npy members (a documented format:
    a magic string, a header literal, then the raw array).

    The library's own loader holds the whole per-language table (142 columns, 28 MB) and two
    copies of the 39 MB DFA table at once (~115 MB at its peak). Here the weights are read in
    slices, and the DFA streamed a megabyte at a time, once per trie level (6), to recover each
    state's bytes breadth first: a state first reached at depth d+1 from a state at depth d is
    that state's bytes plus the byte read (a DFA state is the longest trie suffix of what was
    read, so nothing shorter reaches it).
    """
    import ast
    import lzma
    import shutil
    import tempfile
    import zipfile
    from importlib.util import find_spec

    # Found, not imported: py3langid's modules import numpy, which the model no longer needs.
    spec = find_spec("py3langid")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError("py3langid is not installed")
    model = Path(next(iter(spec.submodule_search_locations))) / "data" / "model.npz.xz"

    def header(member: IO[bytes]) -> tuple[tuple[int, ...], str]:
        if member.read(6) != b"\x93NUMPY":
            raise ValueError("not a .npy member in the language model")
        major = member.read(2)[0]
        size = int.from_bytes(member.read(2 if major == 1 else 4), "little")
        meta = ast.literal_eval(member.read(size).decode("latin-1"))
        if meta["fortran_order"]:
            raise ValueError("unexpected Fortran-ordered array in the language model")
        return tuple(meta["shape"]), str(meta["descr"])

    def exactly(member: IO[bytes], size: int) -> bytes:
        data = member.read(size)
        if len(data) != size:
            raise ValueError("an array is truncated in the language model")
        return data

    def ints(z: zipfile.ZipFile, name: str, code: str, descr: str) -> array[int]:
        with z.open(name) as member:
            (count,), found = header(member)
            if found != descr:
                raise ValueError(f"unexpected {name} type {found} in the language model")
            out = array(code)
            out.frombytes(exactly(member, count * out.itemsize))
        if sys.byteorder == "big":
            out.byteswap()
        return out

    def trie(z: zipfile.ZipFile, row: array[int]) -> list[bytes | None]:
        names: list[bytes | None] = [None] * len(row)
        names[0] = b""
        unseen = set(range(1, len(row)))
        frontier = [0]
        while frontier:
            waiting: dict[int, list[int]] = {}
            for state in frontier:
                waiting.setdefault(row[state], []).append(state)
            found: list[int] = []
            with z.open("nextmove.npy") as member:
                (count,), descr = header(member)
                if descr != "<u4" or count % 256:
                    raise ValueError(f"unexpected nextmove {descr} in the language model")
                rows, step = count // 256, 1024  # 1 MiB of 32-bit states
                for first in range(0, rows, step):
                    n = min(step, rows - first)
                    block = array("I")
                    block.frombytes(exactly(member, n * 1024))
                    if sys.byteorder == "big":
                        block.byteswap()
                    for r in range(first, first + n):
                        if r not in waiting:
                            continue
                        targets = block[(r - first) * 256 : (r - first + 1) * 256]
                        # States sharing a row share their moves: the first one reached
                        # takes the new states (two parents of one trie node cannot be).
                        state = waiting[r][0]
                        for target in sorted(unseen.intersection(targets)):
                            unseen.discard(target)
                            names[target] = names[state] + bytes((targets.index(target),))  # type: ignore[operator]
                            found.append(target)
            frontier = found
        return names

    with tempfile.TemporaryFile(suffix=".npz") as tmp:
        with lzma.open(model) as src:
            shutil.copyfileobj(src, tmp, length=1 << 20)
        tmp.seek(0)
        with zipfile.ZipFile(tmp) as z:
            with z.open("classes.npy") as member:
                (width,), descr = header(member)
                if not descr.startswith("<U"):
                    raise ValueError(f"unexpected classes type {descr} in the language model")
                chars = int(descr[2:])
                text = exactly(member, width * chars * 4).decode("utf-32-le")
                classes = [text[i : i + chars].rstrip("\0") for i in range(0, len(text), chars)]
            keep = [i for i, code in enumerate(classes) if code in languages]
            with z.open("pc.npy") as member:
                if header(member) != ((width,), "<f4"):
                    raise ValueError("unexpected pc in the language model")
                every = struct.unpack(f"<{width}f", exactly(member, width * 4))
                pc = [every[i] for i in keep]
            # The float16 weights of the kept columns, bytes unchanged: array("H") only moves
            # them, and struct's "<e" reads them at scoring time.
            ptc = array("H")
            with z.open("ptc.npy") as member:
                (rows, columns), descr = header(member)
                if descr != "<f2" or columns != width:
                    raise ValueError(f"unexpected ptc {descr} in the language model")
                step = 4096
                for start in range(0, rows, step):
                    n = min(step, rows - start)
                    block = memoryview(exactly(member, n * width * 2)).cast("H")
                    for base in range(0, n * width, width):
                        ptc.extend([block[base + i] for i in keep])
            row = ints(z, "nextmove_row.npy", "H", "<u2")
            output = ints(z, "out_feat.npy", "i", "<i4")
            names = trie(z, row)
    found = [name for name in names if name is not None]
    if len(found) != len(names) or len(output) != len(names):
        raise ValueError("the language model's DFA has states its trie does not reach")
    if len(set(found)) != len(found):
        raise ValueError("the language model's DFA has two states for one string")
    return ptc, pc, [classes[i] for i in keep], found, output


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
