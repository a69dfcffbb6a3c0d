"""``cluster.group`` again after one article joins a component, replaying only what the article changes.

``group`` merges a component's related pairs in one fixed order (``order_key``), each merge decided by
a test on the two groups it would join (a duplicate pair, or enough support between them, and no two
different wire stories). A run over the component plus a new article *x* (R') differs from the stored
run over the component (R) only through groups that hold *x* or that R' grouped differently from R:

- A test between two groups that are *clean* — equal to groups of R at that moment — has R's answer:
  support between two groups reads only their members' neighbours among each other (and whether either
  holds wire takes), and *x* is in neither; their stories are theirs in both runs. So R' merges two clean
  groups exactly where R did.
- Every other group is *dirty*: *x*'s group from the start, a group R' merged with a dirty one, and a
  clean group whose R counterpart R merged where R' did not.

So R' is R's merges (``GroupState.merges``, recorded when the state was made) replayed cheaply, with the
full test only for the pairs that touch a dirty group at their turn (every pair of a member is queued
when its group turns dirty). The clean groups at the end are R's final groups; the dirty ones come from
the replay. ``regroup(...).groups == group(...)`` over the component plus *x* (tests/test_regroup.py
checks this on random components against ``cluster.group`` itself).
"""

from __future__ import annotations

import heapq
from bisect import bisect_right, insort
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass

from dedup.grouping import _STRENGTH, RELATED, supported
from dedup.model import PairVerdict

OrderKey = tuple[int, float, str, str]  # (strength, -max coverage, a, b): ``group``'s merge order


def order_key(verdict: PairVerdict) -> OrderKey:
    """A related pair's place in ``group``'s merge order."""
    return pair_key(verdict.a, verdict.b, verdict.relation, verdict.coverage_a, verdict.coverage_b)


def pair_key(a: str, b: str, relation: str, coverage_a: float, coverage_b: float) -> OrderKey:
    """``order_key`` from a pair's fields (strength 0: a duplicate pair)."""
    return (_STRENGTH[relation], -max(coverage_a, coverage_b), a, b)


def related_keys(verdicts: Iterable[PairVerdict]) -> list[OrderKey]:
    """The order keys of the related ones among ``verdicts``."""
    return [order_key(v) for v in verdicts if v.relation in RELATED]


@dataclass(slots=True)
class GroupState:
    """One ``group`` run over a component's ids, kept so that an article joining it is grouped cheaply."""

    groups: list[list[str]]  # ``group``'s output (each sorted, sorted by first id; singletons included)
    neighbours: dict[str, set[str]]  # every id → the ids it is related to
    incident: dict[str, list[OrderKey]]  # every id → its pairs, in merge order
    merges: list[OrderKey]  # the pairs at which the run merged two groups, in merge order
    story_of: dict[str, Hashable]  # ids with a wire story (slug): takes of one story start as one group


class _Run:
    """``group``'s union-find and merge test (the same rules, in the same order).

    Only merged groups are stored (an id absent from ``parent`` is its own root, and a root absent from
    ``members`` is alone): a component of thousands of ids is set up without an object per id.
    """

    def __init__(self, neighbours: Mapping[str, set[str]], story_of: Mapping[str, Hashable]):
        self.parent: dict[str, str] = {}
        self.members: dict[str, set[str]] = {}
        self.stories: dict[str, set[Hashable]] = {article_id: {story} for article_id, story in story_of.items()}
        self.neighbours = neighbours
        self.unsupported: set[tuple[str, int, str, int]] = set()
        versions: dict[Hashable, list[str]] = {}
        for article_id, story in story_of.items():
            versions.setdefault(story, []).append(article_id)
        for _, version_ids in sorted(versions.items(), key=lambda item: min(item[1])):
            known = sorted(version_ids)
            for other in known[1:]:
                root_a, root_b = self.find(known[0]), self.find(other)
                if root_a != root_b:
                    self.union(root_a, root_b)

    def find(self, article_id: str) -> str:
        parent = self.parent
        while (up := parent.get(article_id, article_id)) != article_id:
            top = parent.get(up, up)
            parent[article_id] = top
            article_id = top
        return article_id

    def group_of(self, root: str) -> set[str]:
        return self.members.get(root) or {root}

    def union(self, root_a: str, root_b: str) -> str:
        members_a, members_b = self.group_of(root_a), self.group_of(root_b)
        if len(members_a) < len(members_b) or (len(members_a) == len(members_b) and root_b < root_a):
            root_a, root_b, members_a, members_b = root_b, root_a, members_b, members_a
        self.parent[root_b] = root_a
        self.members.pop(root_b, None)
        members_a |= members_b  # the stored set of a group, or a new one for a lone id
        self.members[root_a] = members_a
        stories_b = self.stories.pop(root_b, None)  # only groups holding wire takes have stories
        if stories_b:
            self.stories[root_a] = self.stories.get(root_a, set()) | stories_b
        return root_a

    def merges(self, key: OrderKey, root_a: str, root_b: str) -> bool:
        """Whether ``group`` merges the groups of ``root_a`` and ``root_b`` at the pair of ``key``."""
        members_a, members_b = self.group_of(root_a), self.group_of(root_b)
        if key[0] != _STRENGTH["duplicate"]:
            state = (root_a, len(members_a), root_b, len(members_b))
            if state in self.unsupported:
                return False
            wire_story = bool(self.stories.get(root_a) or self.stories.get(root_b))
            if not supported(members_a, members_b, self.neighbours, wire_story):
                self.unsupported.add(state)
                return False
        stories_a, stories_b = self.stories.get(root_a), self.stories.get(root_b)
        return not (stories_a and stories_b and stories_a != stories_b)

    def groups(self, ids: Iterable[str]) -> list[list[str]]:
        roots = {self.find(article_id) for article_id in ids}
        return [sorted(self.group_of(root)) for root in roots]


def build_state(
    ids: Iterable[str], related: Iterable[OrderKey], story_of: Mapping[str, Hashable] | None = None
) -> GroupState:
    """``group(ids, verdicts, versions)`` with its record, from the ``related_keys`` of the verdicts
    (versions: the ids of each story in ``story_of``)."""
    ids = sorted(set(ids))
    neighbours: dict[str, set[str]] = {article_id: set() for article_id in ids}
    incident: dict[str, list[OrderKey]] = {article_id: [] for article_id in ids}
    keys = sorted(set(related))
    for key in keys:
        a, b = key[2], key[3]
        neighbours[a].add(b)
        neighbours[b].add(a)
        incident[a].append(key)
        incident[b].append(key)
    stories = {k: v for k, v in (story_of or {}).items() if k in neighbours}
    run = _Run(neighbours, stories)
    merges = []
    for key in keys:
        root_a, root_b = run.find(key[2]), run.find(key[3])
        if root_a != root_b and run.merges(key, root_a, root_b):
            run.union(root_a, root_b)
            merges.append(key)
    groups = sorted(run.groups(ids), key=lambda g: g[0])
    return GroupState(groups, neighbours, incident, merges, stories)


def combine(states: Iterable[GroupState]) -> GroupState:
    """The state of the union of components that share no id and no pair (``group`` keeps them apart)."""
    states = list(states)
    if len(states) == 1:
        return states[0]
    combined = GroupState([], {}, {}, [], {})
    for state in states:
        combined.groups += state.groups
        combined.neighbours.update(state.neighbours)
        combined.incident.update(state.incident)
        combined.story_of.update(state.story_of)
    combined.groups.sort(key=lambda g: g[0])
    combined.merges = list(heapq.merge(*(state.merges for state in states)))
    return combined


def single(article_id: str, story: Hashable | None = None) -> GroupState:
    """The state of one id without related pairs."""
    return GroupState(
        [[article_id]], {article_id: set()}, {article_id: []}, [], {} if story is None else {article_id: story}
    )


def regroup(
    state: GroupState, new_id: str, new_related: Iterable[OrderKey], new_story: Hashable | None = None
) -> GroupState:
    """The state of ``state``'s ids plus ``new_id``, whose related pairs (all with ids of ``state``; their
    ``related_keys``) are ``new_related``; ``state`` is left as it was. Its ``groups`` are ``group``'s over
    all of them."""
    x = new_id
    neighbours = dict(state.neighbours)
    incident = dict(state.incident)
    neighbours[x] = set()
    incident[x] = []
    for key in sorted(set(new_related)):
        other = key[3] if key[2] == x else key[2]
        neighbours[other] = neighbours[other] | {x}
        neighbours[x].add(other)
        incident[other] = list(incident[other])
        insort(incident[other], key)
        incident[x].append(key)
    story_of = dict(state.story_of)
    if new_story is not None:
        story_of[x] = new_story
    run = _Run(neighbours, story_of)

    recorded = set(state.merges)
    dirty: set[str] = set()
    queue: list[OrderKey] = []

    def mark(root: str, after: OrderKey | None) -> None:
        """The members of ``root``'s group turn dirty: their pairs after ``after`` are tested in full."""
        for member in run.group_of(root):
            if member in dirty:
                continue
            dirty.add(member)
            keys = incident[member]
            for key in keys if after is None else keys[bisect_right(keys, after) :]:
                heapq.heappush(queue, key)

    mark(run.find(x), None)
    merges: list[OrderKey] = []
    recorded_keys, position, last = state.merges, 0, None
    while True:
        if queue and (position >= len(recorded_keys) or queue[0] <= recorded_keys[position]):
            key = heapq.heappop(queue)
        elif position < len(recorded_keys):
            key = recorded_keys[position]
            position += 1
        else:
            break
        if key == last:
            continue
        last = key
        root_a, root_b = run.find(key[2]), run.find(key[3])
        if root_a == root_b:
            continue
        merged_before = key in recorded
        clean_a, clean_b = root_a not in dirty, root_b not in dirty
        if clean_a and clean_b:  # R's groups, R's answer
            if merged_before:
                run.union(root_a, root_b)
                merges.append(key)
            continue
        if run.merges(key, root_a, root_b):
            mark(run.union(root_a, root_b), key)
            merges.append(key)
        elif merged_before:  # R merged here: a clean side no longer equals a group of R
            if clean_a:
                mark(root_a, key)
            if clean_b:
                mark(root_b, key)
    groups = [g for g in state.groups if g[0] not in dirty] + run.groups(dirty)
    groups.sort(key=lambda g: g[0])
    return GroupState(groups, neighbours, incident, merges, story_of)
