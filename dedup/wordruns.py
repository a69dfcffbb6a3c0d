"""Word runs of a text found on an array of its code points, for the tokenizer and the copies-only hasher.

A token is a run of word characters (``str.isalnum``, the regex ``[^\\W_]``), and every ``%`` is a token of its own.
Numpy only (``dedup.copies`` stays light to import).
"""

from __future__ import annotations

import numpy as np

_PERCENT = 37


def code_points(text: str) -> np.ndarray:
    """The code points of ``text``: ``uint8`` where all are below 256 (most news prose: a quarter of the bytes),
    else ``uint32`` (lone surrogates kept as their code points)."""
    try:
        return np.frombuffer(text.encode("latin-1"), dtype=np.uint8)
    except UnicodeEncodeError:
        return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def word_flags(codes: np.ndarray) -> np.ndarray:
    """An array one longer than ``codes`` at both ends (0 there), to be filled with each character's word flag
    (0 or 1) at ``[1:-1]`` and passed to :func:`token_bounds`."""
    classes = np.empty(len(codes) + 2, dtype=np.uint8)
    classes[0] = classes[-1] = 0
    return classes


def token_bounds(classes: np.ndarray, codes: np.ndarray, has_percent: bool) -> tuple[np.ndarray, np.ndarray]:
    """The ``[start, end)`` offsets of the tokens, given the padded word flags of :func:`word_flags`.

    Each ``%`` gets class 2 or 3 by its position's parity (so ``%%`` is two runs; ``classes`` is changed in place,
    a caller may read it: a token starting at ``s`` is a ``%`` when ``classes[s + 1] >= 2``). An edge ``e`` is a
    change of class before character ``e``; classes are 0 at both padded ends, so edges alternate start, end, ...
    but where a ``%`` touches a word or another ``%``: that edge ends one token and starts the next, counted twice.
    ``has_percent``: whether the text holds a ``%`` (else the classes are 0 and 1 only).
    """
    percents = np.flatnonzero(codes == _PERCENT) if has_percent else None
    if percents is not None:
        classes[percents + 1] = 2 + (percents & 1)
    edges = np.flatnonzero(classes[1:] != classes[:-1])
    if percents is not None:
        near = np.concatenate((percents, percents + 1))
        both = near[(classes[near] != 0) & (classes[near + 1] != 0) & (classes[near] != classes[near + 1])]
        if len(both):
            both = np.unique(both)
            edges = np.insert(edges, np.searchsorted(edges, both), both)
    return edges[0::2], edges[1::2]
