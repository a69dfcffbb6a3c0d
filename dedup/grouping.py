"""Clusters from accepted pairs, with a guard against chaining.

Pairs are merged strongest first (duplicate, derived, then same-story; higher score
first). A duplicate pair always merges its two groups. A derived or same-story pair only
merges two groups when enough of the pairs between them are related (at least half of the
smaller group's members must be related to the other group), so one shared phrase, one
topical neighbour or one loose rewrite cannot chain two stories together.

Support is asked both ways (half of the larger group's members related to the smaller one too)
unless one of the two groups holds a wire story's takes (``versions``). The copies and rewrites of
one report are related to nearly all of each other, so an article or pair that reaches a group
through one or two of its members is a neighbour (a follow-up of a running story, a house
template with other names), not a member. A wire story is the exception: its takes and
write-throughs share few sentences, and a paper written from one take is related to that take
alone, so one link to a group holding takes is support enough.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from dedup.credits import wire_slug
from dedup.model import PairVerdict

RELATED = ("duplicate", "derived", "same-story")

# The version of the rules that make a cluster's members and origin (this module's merges, ``dedup.regroup``'s
# incremental form, ``dedup.origin``). A persistent index stores it beside the cluster records it holds; records
# made by other rules are still read right (a check or add that joins one remakes it) but cost a rebuild at every
# such join, so ``Index.open`` warns and ``Index.regroup`` (``dedup index regroup``) remakes them all once.
# Raise it with any change to those rules. 1: before stop 17; 2: support asked both ways (stop 17).
CLUSTER_RULES = 2
_STRENGTH = {"duplicate": 0, "derived": 1, "same-story": 2}


def group(
    ids: Sequence[str], verdicts: Sequence[PairVerdict], versions: Sequence[Sequence[str]] = ()
) -> list[list[str]]:
    """Groups of ids (each sorted; groups sorted by first id), singletons included.

    ``versions`` are sets of ids known to be versions of one story (wire takes under one slug):
    each starts as one group, and two groups holding different stories' versions are never merged
    (a follow-up story that repeats yesterday's background paragraphs is still a new story).
    """
    parent = {article_id: article_id for article_id in ids}
    members = {article_id: {article_id} for article_id in ids}
    related = [v for v in verdicts if v.relation in RELATED]
    neighbours: dict[str, set[str]] = {article_id: set() for article_id in ids}
    for verdict in related:
        neighbours[verdict.a].add(verdict.b)
        neighbours[verdict.b].add(verdict.a)

    def find(article_id: str) -> str:
        while parent[article_id] != article_id:
            parent[article_id] = parent[parent[article_id]]
            article_id = parent[article_id]
        return article_id

    def union(root_a: str, root_b: str) -> None:
        if len(members[root_a]) < len(members[root_b]) or (
            len(members[root_a]) == len(members[root_b]) and root_b < root_a
        ):
            root_a, root_b = root_b, root_a
        parent[root_b] = root_a
        members[root_a] |= members.pop(root_b)
        stories[root_a] |= stories.pop(root_b)

    story_of: dict[str, int] = {}
    for number, version_ids in enumerate(versions):
        for article_id in version_ids:
            story_of.setdefault(article_id, number)
    stories = {article_id: {story_of[article_id]} if article_id in story_of else set() for article_id in ids}

    for version_ids in versions:
        known = sorted(i for i in version_ids if i in parent)
        for other in known[1:]:
            root_a, root_b = find(known[0]), find(other)
            if root_a != root_b:
                union(root_a, root_b)
    # a group only grows, and then its size changes: (root, size) names a member set, so a support test
    # that failed is not repeated for the next pair between the same two groups
    unsupported: set[tuple[str, int, str, int]] = set()
    for verdict in sorted(related, key=lambda v: (_STRENGTH[v.relation], -max(v.coverage_a, v.coverage_b), v.a, v.b)):
        root_a, root_b = find(verdict.a), find(verdict.b)
        if root_a == root_b:
            continue
        if verdict.relation != "duplicate":
            state = (root_a, len(members[root_a]), root_b, len(members[root_b]))
            if state in unsupported:
                continue
            if not supported(members[root_a], members[root_b], neighbours, bool(stories[root_a] or stories[root_b])):
                unsupported.add(state)
                continue
        if stories[root_a] and stories[root_b] and stories[root_a] != stories[root_b]:
            continue
        union(root_a, root_b)
    return sorted((sorted(group_members) for group_members in members.values()), key=lambda g: g[0])


def wire_versions(articles: Iterable[tuple[str, str]]) -> list[list[str]]:
    """Ids of ``(id, text)`` articles grouped by wire slug: the takes and versions of one wire story."""
    by_slug: dict[str, list[str]] = {}
    for article_id, text in articles:
        slug = wire_slug(text)
        if slug is not None:
            by_slug.setdefault(slug, []).append(article_id)
    return [sorted(ids) for _, ids in sorted(by_slug.items())]


def supported(first: set[str], second: set[str], neighbours: Mapping[str, set[str]], wire_story: bool) -> bool:
    """Half of the smaller group's members related to the larger group, and (unless ``wire_story``: one of
    them holds a wire story's takes) half of the larger group's members related to the smaller one."""
    smaller, larger = (first, second) if len(first) <= len(second) else (second, first)
    linked = sum(1 for article_id in smaller if not neighbours[article_id].isdisjoint(larger))
    if linked * 2 < len(smaller):
        return False
    if wire_story:
        return True
    reached: set[str] = set()
    for article_id in smaller:
        reached |= neighbours[article_id] & larger
    return len(reached) * 2 >= len(larger)
