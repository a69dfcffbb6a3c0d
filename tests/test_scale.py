"""The scale benchmark's quality breakdown, on a generated corpus's truth."""

from __future__ import annotations

import pytest

from benchmarks.generate import DEFAULT_DATA, write_corpus
from benchmarks.scale import wrong_pairs

pytestmark = pytest.mark.skipif(not (DEFAULT_DATA / "bbc").exists(), reason="shared data not available")


def test_wrong_pairs_counts_what_a_predicted_cluster_joins(tmp_path) -> None:
    truth = write_corpus(tmp_path, 300, 3)
    first, second = truth["clusters"][0], truth["clusters"][1]
    members_first = [m["id"] for m in first["members"]]
    members_second = [m["id"] for m in second["members"]]
    in_story = {m["id"] for c in truth["clusters"] for m in c["members"]}
    pool = [d["id"] for d in truth["distractors"] if d["id"] not in in_story][:3]
    assert len(pool) == 3
    # the truth's own clusters: nothing wrong
    assert wrong_pairs(truth, [[m["id"] for m in c["members"]] for c in truth["clusters"]]) == {
        "pool-pool": 0,
        "pool-story": 0,
        "story-story": 0,
    }
    merged = [members_first + members_second + pool[:2], [pool[2]]]
    assert wrong_pairs(truth, merged) == {
        "pool-pool": 1,
        "pool-story": 2 * (len(members_first) + len(members_second)),
        "story-story": len(members_first) * len(members_second),
    }
