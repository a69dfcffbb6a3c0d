"""``regroup`` (one article joining a component) gives ``cluster.group``'s groups over the whole component."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dedup.grouping import group
from dedup.model import PairVerdict
from dedup.regroup import build_state, combine, regroup, related_keys, single

RELATIONS = ("duplicate", "derived", "same-story", "unrelated")


def verdict(a: str, b: str, relation: str, coverage: float) -> PairVerdict:
    a, b = min(a, b), max(a, b)
    return PairVerdict(a, b, relation, [], coverage, coverage / 2, 0.0, 0.0, coverage)


@st.composite
def components(draw: st.DrawFn) -> tuple[list[str], list[PairVerdict], dict[str, str]]:
    size = draw(st.integers(2, 14))
    ids = [f"{n:02d}" for n in range(size)]
    pairs = draw(
        st.sets(
            st.tuples(st.integers(0, size - 1), st.integers(0, size - 1)).filter(lambda p: p[0] < p[1]), max_size=40
        )
    )
    verdicts = [
        verdict(ids[a], ids[b], draw(st.sampled_from(RELATIONS)), draw(st.sampled_from((0.3, 0.5, 0.5, 0.8, 1.0))))
        for a, b in sorted(pairs)
    ]
    stories = {
        article_id: draw(st.sampled_from("ABC")) for article_id in ids if draw(st.booleans()) and draw(st.booleans())
    }
    return ids, verdicts, stories


def versions_of(stories: dict[str, str]) -> list[list[str]]:
    by_story: dict[str, list[str]] = {}
    for article_id, story in stories.items():
        by_story.setdefault(story, []).append(article_id)
    return [sorted(ids) for _, ids in sorted(by_story.items())]


@settings(max_examples=400, deadline=None)
@given(components(), st.data())
def test_regroup_is_group_over_the_whole_component(component, data) -> None:
    ids, verdicts, stories = component
    x = data.draw(st.sampled_from(ids))
    before = build_state(
        [i for i in ids if i != x],
        related_keys(v for v in verdicts if x not in (v.a, v.b)),
        {k: s for k, s in stories.items() if k != x},
    )
    assert before.groups == group(
        [i for i in ids if i != x],
        [v for v in verdicts if x not in (v.a, v.b)],
        versions_of({k: s for k, s in stories.items() if k != x}),
    )
    after = regroup(before, x, related_keys(v for v in verdicts if x in (v.a, v.b)), stories.get(x))
    full = build_state(ids, related_keys(verdicts), stories)
    assert after.groups == group(ids, verdicts, versions_of(stories)) == full.groups
    assert after.merges == full.merges
    assert after.incident == full.incident and after.neighbours == full.neighbours


@settings(max_examples=200, deadline=None)
@given(components(), components(), st.data())
def test_regroup_joining_several_components(first, second, data) -> None:
    ids_a, verdicts_a, stories_a = first
    ids_b = [f"b{i}" for i in second[0]]
    verdicts_b = [verdict(f"b{v.a}", f"b{v.b}", v.relation, v.coverage_a) for v in second[1]]
    stories_b = {f"b{k}": f"b{s}" for k, s in second[2].items()}  # a slug's holders are in one component
    x = "x"
    links = data.draw(st.lists(st.sampled_from(ids_a + ids_b), max_size=6, unique=True))
    new = [verdict(x, other, data.draw(st.sampled_from(RELATIONS)), 0.6) for other in links]
    story = data.draw(st.sampled_from([None, "A", "bB", "D"]))
    joined = combine(
        [
            build_state(ids_a, related_keys(verdicts_a), stories_a),
            build_state(ids_b, related_keys(verdicts_b), stories_b),
            single("zz"),
        ]
    )
    after = regroup(joined, x, related_keys(new), story)
    everything = [*ids_a, *ids_b, "zz", x]
    all_stories = {**stories_a, **stories_b, **({x: story} if story else {})}
    assert after.groups == group(sorted(everything), verdicts_a + verdicts_b + new, versions_of(all_stories))
    assert after.merges == build_state(everything, related_keys(verdicts_a + verdicts_b + new), all_stories).merges
