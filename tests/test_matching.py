"""Matching: hard rules always hold, the pool is solved as a whole, scores agree with judge()."""

from __future__ import annotations

import random

import networkx as nx
import pytest

from mailflow.matching import Weights, judge
from mailflow.matching_pool import choose_pairs, features, row_scores, solve
from tests.helpers import T0

COUNTRIES = [("Spain", ["es", "en"], "Europe/Madrid"), ("China", ["zh", "en"], "Asia/Shanghai"),
             ("Chile", ["es"], "America/Santiago"), ("France", ["fr", "en"], "Europe/Paris"),
             ("Kenya", ["sw", "en"], "Africa/Nairobi"), ("Mexico", ["es"], "America/Mexico_City")]  # fmt: skip
INTERESTS = [
    "children's reading",
    "local history",
    "digital services",
    "storytelling",
    "book exchange",
    "staff training",
]


def library(i: int, rnd: random.Random) -> dict:
    country, langs, tz = rnd.choice(COUNTRIES)
    return {
        "id": i + 1,
        "country": country,
        "languages": rnd.sample(langs, rnd.randint(1, len(langs))),
        "library_type": rnd.choice(["public", "academic", "school"]),
        "size": f"{rnd.randint(2, 900)},000",
        "interests": ", ".join(rnd.sample(INTERESTS, 2)),
        "communication": rnd.choice(
            ["email, monthly", "video calls weekly", "letters", "email and video, monthly"]
        ),
        "timezone": tz,
        "waited_days": rnd.randint(0, 300),
        "interpreter": rnd.random() < 0.1,
    }


def test_vector_scores_agree_with_judge() -> None:
    rnd = random.Random(7)
    pool = [library(i, rnd) for i in range(60)]
    f = features(pool, T0)
    for i in range(0, 60, 7):
        row = row_scores(f, i, Weights())
        for j in range(60):
            verdict = judge(pool[i], pool[j], T0)
            if i == j or not verdict.allowed:
                assert row[j] == float("-inf")
            else:
                assert row[j] == pytest.approx(verdict.score, abs=1e-4)


def test_hard_rules_hold_for_every_proposed_pair() -> None:
    rnd = random.Random(3)
    pool = [library(i, rnd) for i in range(300)]
    blocked = {(1, 2), (3, 4), (5, 6)}
    pairs = choose_pairs(pool, T0, blocked=blocked)
    by_id = {p["id"]: p for p in pool}
    seen: set[int] = set()
    assert len(pairs) > 100
    for pair in pairs:
        a, b = by_id[pair.a], by_id[pair.b]
        assert a["country"] != b["country"]
        assert set(a["languages"]) & set(b["languages"]) or (a["interpreter"] and b["interpreter"])
        assert (min(pair.a, pair.b), max(pair.a, pair.b)) not in blocked
        assert pair.a not in seen and pair.b not in seen  # nobody is proposed twice
        seen |= {pair.a, pair.b}
        assert pair.reasons and pair.reasons[0].startswith("different countries")


def test_the_pool_is_solved_as_a_whole_not_greedily() -> None:
    # Greedy takes 0-1 (0.9) and strands 2 and 3; the whole-pool answer is 0-2 and 1-3 (1.6).
    edges = {(0, 1): 0.9, (0, 2): 0.8, (1, 3): 0.8}
    assert sorted(solve(4, edges)) == [(0, 2), (1, 3)]


@pytest.mark.parametrize("seed", range(8))
def test_close_to_the_exact_optimum_on_small_pools(seed: int) -> None:
    rnd = random.Random(seed)
    n = 40
    edges = {}
    for i in range(n):
        for j in range(i + 1, n):
            if rnd.random() < 0.2:
                edges[(i, j)] = round(rnd.uniform(0.05, 1.0), 3)
    ours = sum(edges[(min(a, b), max(a, b))] for a, b in solve(n, edges))
    graph = nx.Graph()
    graph.add_weighted_edges_from((i, j, w) for (i, j), w in edges.items())
    best = sum(graph[a][b]["weight"] for a, b in nx.max_weight_matching(graph))
    assert ours <= best + 1e-9
    assert ours >= 0.97 * best


def test_match_command_proposes_pairs_from_real_applications(make_services, tmp_path) -> None:  # noqa: ANN001
    """Libraries apply by mail; `mailflow match` proposes only allowed pairs, each to staff."""
    import json
    import mailbox

    from click.testing import CliRunner
    from sqlalchemy import select

    from mailflow.cli import main
    from mailflow.inbound.intake import Incoming, store
    from mailflow.runtime import Runtime
    from mailflow.store.schema import Partnership
    from tests.helpers import SECRET, application, confirm_stored

    services = make_services()
    with services.db.unit_of_work() as s:
        for raw in [
            application(1),
            application(2),
            application(3, lang="zh"),
            application(4, lang="zh"),
        ]:
            store(s, Incoming(raw=raw, source="file", mailbox="test"), services.clock.now())
    Runtime(services).process()
    assert confirm_stored(services) == 4  # each applicant answers the confirmation mail
    env = {"MAILFLOW_DATABASE_URL": str(services.db.url), "MAILFLOW_PROGRAM_SECRET": SECRET,
           "MAILFLOW_PROGRAM_STAFF": "coordinator@program.example",
           "MAILFLOW_OUTBOUND_MAILDIR": str(tmp_path / "out")}  # fmt: skip
    dry = CliRunner(env=env).invoke(main, ["match", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    doc = json.loads(dry.output)  # one JSON document
    pairs = doc["pairs"]
    assert doc["dry_run"] is True and doc["reason"] is None
    assert len(pairs) == 2  # two Spanish and two Chinese libraries: each pair crosses the border
    with services.db.unit_of_work() as s:
        assert s.scalars(select(Partnership)).all() == []  # a dry run proposes nothing
    real = CliRunner(env=env).invoke(main, ["match"])
    assert real.exit_code == 0 and "proposed 2 pair(s)" in real.output
    with services.db.unit_of_work() as s:
        proposals = s.scalars(select(Partnership)).all()
        assert [p.state for p in proposals] == ["proposed", "proposed"]
        assert all(p.library_a.country != p.library_b.country for p in proposals)
        assert all(p.reasons and p.score for p in proposals)
    from email.header import decode_header, make_header

    subjects = [
        str(make_header(decode_header(m["Subject"])))
        for m in mailbox.Maildir(tmp_path / "out", create=False)
    ]
    staff_mail = [s for s in subjects if s.startswith("Proposal #")]
    assert len(staff_mail) == 2
    again = CliRunner(env=env).invoke(main, ["match", "--json"])
    doc = json.loads(again.output)
    assert doc["pairs"] == []  # libraries with an open proposal are not proposed again
    assert doc["reason"].startswith("0 library(ies) can be matched now")
