"""Pairs for the whole pool of seeking libraries at once.

Scoring every pair of 10,000 libraries one by one would take minutes in Python, so the pool is
scored row by row with numpy using the same components as `judge`; each library keeps its best
`candidates` partners. Choosing among them is a maximum-weight matching problem; it is solved
through its assignment relaxation (each library points at one partner or at itself), which
scipy solves exactly on the sparse candidate graph in a fraction of a second. The relaxation's
answer is a set of cycles; the best matching inside each cycle is found exactly by dynamic
programming. Its weight is at least the optimum minus what odd cycles cost, and never greedy:
one library's best partner is not taken if that would leave two others worse off.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mailflow.countries import country_key
from mailflow.matching import (
    CHANNELS,
    DEFAULT_WEIGHTS,
    FREQUENCY,
    TAGS,
    Weights,
    _languages,
    _offset_hours,
    _tags,
    judge,
    population,
)


@dataclass(frozen=True)
class Proposal:
    a: int
    b: int
    score: float
    reasons: tuple[str, ...]


def _mask(values: set[str], index: dict[str, int]) -> int:
    bits = 0
    for value in values:
        bits |= 1 << index.setdefault(value, len(index))
    return bits


def features(profiles: list[Mapping[str, Any]], now: datetime):  # noqa: ANN202 - numpy arrays
    import numpy as np

    langs: dict[str, int] = {}
    countries: dict[str, int] = {}
    types: dict[str, int] = {}
    n = len(profiles)
    f = {
        "country": np.zeros(n, np.int64),
        "lang": np.zeros(n, np.int64),
        "interp": np.zeros(n, bool),
        "type": np.full(n, -1, np.int64),
        "logsize": np.full(n, np.nan, np.float32),
        "tags": np.zeros(n, np.int64),
        "chan": np.zeros(n, np.int64),
        "freq": np.zeros(n, np.int64),
        "tz": np.full(n, np.nan, np.float32),
        "waited": np.zeros(n, np.float32),
    }
    tag_index = {t: i for i, t in enumerate(TAGS)}
    chan_index = {t: i for i, t in enumerate(CHANNELS)}
    freq_index = {t: i for i, t in enumerate(FREQUENCY)}
    for i, p in enumerate(profiles):
        f["country"][i] = countries.setdefault(
            country_key(p.get("country")).casefold(), len(countries)
        )
        codes = _languages(p)
        if len(langs) + len(codes) > 62:
            raise ValueError("more than 62 working languages in one pool")
        f["lang"][i] = _mask(codes, langs)
        f["interp"][i] = bool(p.get("interpreter"))
        if p.get("library_type"):
            f["type"][i] = types.setdefault(str(p["library_type"]), len(types))
        size = population(p.get("size"))
        if size:
            f["logsize"][i] = math.log10(size)
        f["tags"][i] = _mask(_tags(p.get("interests"), TAGS), tag_index)
        f["chan"][i] = _mask(_tags(p.get("communication"), CHANNELS), chan_index)
        f["freq"][i] = _mask(_tags(p.get("communication"), FREQUENCY), freq_index)
        offset = _offset_hours(p.get("timezone"), now)
        if offset is not None:
            f["tz"][i] = offset
        f["waited"][i] = p.get("waited_days") or 0
    return f


def row_scores(f, i: int, weights: Weights):  # noqa: ANN001, ANN202 - numpy arrays
    """Scores of library i against everyone (the vector form of `judge`); -inf where not allowed."""
    return _block_scores(f, slice(i, i + 1), weights)[0]


def _block_scores(f, rows: slice, weights: Weights):  # noqa: ANN001, ANN202 - numpy arrays
    """Scores of a block of libraries (rows) against everyone: one numpy pass per block."""
    import numpy as np

    def col(name: str):  # noqa: ANN202
        return f[name][rows][:, None]

    allowed = (f["country"] != col("country")) & (
        ((f["lang"] & col("lang")) != 0) | (f["interp"] & col("interp"))
    )
    same_type = (f["type"] == col("type")) & (col("type") >= 0)
    num = weights.library_type * np.where(same_type, 1.0, 0.3)
    den = np.full(num.shape, weights.library_type)
    both = ~np.isnan(f["logsize"]) & ~np.isnan(col("logsize"))
    size = np.clip(1 - np.abs(f["logsize"] - col("logsize")) / 2, 0.0, None)
    num += np.where(both, weights.size * np.nan_to_num(size), 0.0)
    den += np.where(both, weights.size, 0.0)
    union = np.bitwise_count(f["tags"] | col("tags"))
    inter = np.bitwise_count(f["tags"] & col("tags"))
    num += weights.interests * np.where(union > 0, inter / np.maximum(union, 1), 0.3)
    den += weights.interests
    cu = np.bitwise_count(f["chan"] | col("chan"))
    ci = np.bitwise_count(f["chan"] & col("chan"))
    fa, fb = col("freq"), f["freq"]
    freq_ok = ((fb & fa) != 0) | (fa == 0) | (fb == 0)
    num += weights.communication * (
        np.where(cu > 0, ci / np.maximum(cu, 1), 0.5) * 0.7 + np.where(freq_ok, 0.3, 0.0)
    )
    den += weights.communication
    tz_both = ~np.isnan(f["tz"]) & ~np.isnan(col("tz"))
    gap = np.abs(np.nan_to_num(f["tz"]) - np.nan_to_num(col("tz"))) % 24
    gap = np.minimum(gap, 24 - gap)
    num += np.where(tz_both, weights.hours * np.clip(8 - gap, 0, None) / 8, 0.0)
    den += np.where(tz_both, weights.hours, 0.0)
    num += weights.waited * np.minimum(1.0, np.maximum(f["waited"], col("waited")) / 180)
    den += weights.waited
    scores = num / den
    scores[~allowed] = -np.inf
    index = np.arange(rows.start, rows.stop)
    scores[index - rows.start, index] = -np.inf  # nobody partners with itself
    return scores


def _best_on_cycle(cycle: list[int], weight: Callable[[int, int], float]) -> list[tuple[int, int]]:
    """Maximum-weight set of non-adjacent edges on a cycle (or a path, for two nodes)."""
    n = len(cycle)
    edges = [(cycle[t], cycle[(t + 1) % n]) for t in range(n)]

    def path(es: list[tuple[int, int]]) -> tuple[float, list[tuple[int, int]]]:
        take: tuple[float, list] = (0.0, [])
        skip: tuple[float, list] = (0.0, [])
        for e in es:  # take[t]: best using edge t; skip[t]: best without it
            w = weight(*e)
            take, skip = (skip[0] + w, [*skip[1], e]), max(take, skip, key=lambda x: x[0])
        return max(take, skip, key=lambda x: x[0])

    if n == 2:
        return [edges[0]]
    return max(path(edges[1:]), path(edges[:-1]), key=lambda x: x[0])[1]


def choose_pairs(
    profiles: list[Mapping[str, Any]],
    now: datetime,
    *,
    weights: Weights = DEFAULT_WEIGHTS,
    blocked: set[tuple[int, int]] = frozenset(),
    candidates: int = 10,
    min_score: float = 0.0,
) -> list[Proposal]:
    """Pairs for the whole pool at once. Profiles need an "id"; blocked holds (low, high) ids."""
    import numpy as np

    n = len(profiles)
    if n < 2:
        return []
    ids = [int(p["id"]) for p in profiles]
    position = {lib_id: i for i, lib_id in enumerate(ids)}
    banned: dict[int, list[int]] = {}
    for low, high in blocked:
        if low in position and high in position:
            banned.setdefault(position[low], []).append(position[high])
            banned.setdefault(position[high], []).append(position[low])
    f = features(profiles, now)
    edges: dict[tuple[int, int], float] = {}
    k = min(candidates, n - 1)
    block = 256
    for start in range(0, n, block):
        rows = slice(start, min(start + block, n))
        scores = _block_scores(f, rows, weights)
        for i in range(rows.start, rows.stop):
            for j in banned.get(i, ()):
                scores[i - start, j] = -np.inf
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        for r, i in enumerate(range(rows.start, rows.stop)):
            for j in top[r]:
                s = float(scores[r, j])
                if s > min_score and s != -np.inf:
                    edges[(min(i, int(j)), max(i, int(j)))] = s
    chosen = solve(n, edges)
    result = []
    for i, j in chosen:
        verdict = judge(profiles[i], profiles[j], now, weights)
        result.append(Proposal(ids[i], ids[j], verdict.score, verdict.reasons))
    return sorted(result, key=lambda p: -p.score)


def solve(n: int, edges: Mapping[tuple[int, int], float]) -> list[tuple[int, int]]:
    """A maximum-weight matching on nodes 0..n-1 with edges {(low, high): weight in (0, 1]}."""
    import numpy as np
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import min_weight_full_bipartite_matching

    if not edges:
        return []
    # Assignment relaxation: i -> j costs 2 - weight, i -> i (stay unpaired) costs 2. Costs are
    # integers (millionths): with float costs scipy's LAPJVsp can loop forever on near-ties.
    rows, cols, costs = [], [], []
    for (i, j), s in edges.items():
        cost = round((2.0 - s) * 1_000_000)
        rows += [i, j]
        cols += [j, i]
        costs += [cost, cost]
    rows += range(n)
    cols += range(n)
    costs += [2_000_000] * n
    graph = csr_matrix((np.array(costs, dtype=np.int64), (rows, cols)), shape=(n, n))
    _, partner = min_weight_full_bipartite_matching(graph)
    seen, chosen = [False] * n, []
    for start in range(n):
        if seen[start]:
            continue
        cycle, node = [], start
        while not seen[node]:
            seen[node] = True
            cycle.append(node)
            node = int(partner[node])
        if len(cycle) >= 2:
            chosen += _best_on_cycle(cycle, lambda a, b: edges.get((min(a, b), max(a, b)), 0.0))
    # Libraries the cycles left alone may still pair with each other.
    paired = {x for pair in chosen for x in pair}
    for (i, j), _s in sorted(edges.items(), key=lambda e: -e[1]):
        if i not in paired and j not in paired:
            chosen.append((i, j))
            paired |= {i, j}
    return chosen


def total_score(pairs: list[Proposal]) -> float:
    return round(sum(p.score for p in pairs), 4)
