"""Matching at scale: time to choose pairs for 1,000 / 5,000 / 10,000 seeking libraries, and the
total score against the exact optimum (networkx's blossom algorithm) on small pools.

    python bench/matching.py [--sizes 1000,5000,10000] [--small 40,60,80,120]

Figures are printed, never asserted. Target: under 10 s for 10,000 libraries.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import networkx as nx  # noqa: E402

from mailflow.matching import judge  # noqa: E402
from mailflow.matching_pool import choose_pairs, total_score  # noqa: E402

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
COUNTRIES = [
    ("Spain", ["es", "en"], "Europe/Madrid"), ("China", ["zh", "en"], "Asia/Shanghai"),
    ("Chile", ["es"], "America/Santiago"), ("France", ["fr", "en"], "Europe/Paris"),
    ("Kenya", ["sw", "en"], "Africa/Nairobi"), ("Mexico", ["es"], "America/Mexico_City"),
    ("Japan", ["ja", "en"], "Asia/Tokyo"), ("Brazil", ["pt", "es"], "America/Sao_Paulo"),
    ("Germany", ["de", "en"], "Europe/Berlin"), ("United States", ["en", "es"], "America/New_York"),
    ("India", ["en", "hi"], "Asia/Kolkata"), ("Egypt", ["ar", "en"], "Africa/Cairo"),
]  # fmt: skip
INTERESTS = ["children's reading", "local history", "digital services", "storytelling",
             "book exchange", "staff training", "culture and arts", "pen pals", "language learning"]  # fmt: skip
CHANNELS = [
    "email, monthly",
    "video calls weekly",
    "letters",
    "email and video, monthly",
    "WeChat, weekly",
]


def pool(n: int, seed: int) -> list[dict]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        country, langs, tz = rnd.choice(COUNTRIES)
        out.append({
            "id": i + 1, "country": country, "languages": rnd.sample(langs, rnd.randint(1, len(langs))),
            "library_type": rnd.choice(["public", "academic", "school", "special"]),
            "size": f"{rnd.randint(2, 2000)},000", "interests": ", ".join(rnd.sample(INTERESTS, rnd.randint(1, 3))),
            "communication": rnd.choice(CHANNELS), "timezone": tz, "waited_days": rnd.randint(0, 400),
            "interpreter": rnd.random() < 0.05,
        })  # fmt: skip
    return out


def exact(profiles: list[dict]) -> float:
    graph = nx.Graph()
    for i, a in enumerate(profiles):
        for b in profiles[i + 1 :]:
            verdict = judge(a, b, NOW)
            if verdict.allowed:
                graph.add_edge(a["id"], b["id"], weight=verdict.score)
    return round(sum(graph[u][v]["weight"] for u, v in nx.max_weight_matching(graph)), 4)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,5000,10000")
    parser.add_argument("--small", default="40,60,80,120")
    args = parser.parse_args()
    print("pool size   pairs   total score   seconds")
    for n in (int(x) for x in args.sizes.split(",")):
        profiles = pool(n, seed=n)
        started = time.perf_counter()
        pairs = choose_pairs(profiles, NOW, min_score=0.0)
        elapsed = time.perf_counter() - started
        print(f"{n:>9}   {len(pairs):>5}   {total_score(pairs):>11.2f}   {elapsed:>7.2f}")
    print("target: 10,000 libraries in under 10 s")
    print()
    print("small pool   mailflow total   exact optimum   ratio")
    ratios = []
    for n in (int(x) for x in args.small.split(",")):
        for seed in range(3):
            profiles = pool(n, seed=1000 + seed)
            ours = total_score(choose_pairs(profiles, NOW, min_score=0.0))
            best = exact(profiles)
            ratios.append(ours / best if best else 1.0)
            print(f"{n:>10}   {ours:>14.4f}   {best:>13.4f}   {ratios[-1]:.4f}")
    print(f"worst ratio {min(ratios):.4f}, mean {sum(ratios) / len(ratios):.4f}")


if __name__ == "__main__":
    main()
