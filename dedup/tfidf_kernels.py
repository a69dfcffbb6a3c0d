"""The pruned TF-IDF search's pools, compiled (numba, nopython); the reference is ``sparse_dot_topn``'s product.

:func:`pools` gives each row of a block of suffix rows its ``top`` best partners by the product of the row with the
posting lists, as ``sparse_dot_topn.sp_matmul_topn(block, lists, top_n=top, threshold=0.0)`` keeps them
(``candidates.reference_pruned_pools``). The library sums every partner's score in an array as long as the corpus
has articles, with a second one linking the partners met: at 100k articles the two stay in a core's 1 MB cache, at
1M they are 12 MB, and nearly every multiply-add of the product (~11k a row) then waits on the shared cache
(measured on the same rows and lists: 13 ns a multiply-add against 100k columns, 33–35 against 1M). Here a row's
partners are summed in an open-addressing table sized for that row (twice its posting entries, a few hundred KB),
whatever the corpus's size: 13 ns a multiply-add at both sizes.

The same partners, ties included: each score is added up in the library's order (the row's stems in order, each
posting list in order; a product then a sum, no fused multiply-add, as the library's compiled code), so the floats
are equal; the partners are offered to a heap of ``top`` slots in the library's order (the last met first: its
linked list) and the heap is the library's ``MaxHeap`` (``std::pop_heap`` / ``std::push_heap`` of libstdc++ with
``std::greater`` on the scores), so of partners tied at the last place it keeps the ones the library keeps.
``candidates._pool_kernels`` checks that on a fixture full of ties when it loads the kernel, and leaves the
library's product in place where they differ (another C++ library, another version of ``sparse_dot_topn``).
Tested against the library on random rows with ties (``tests/test_fast_paths.py``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: the high bits of the product spread the article numbers


@njit(cache=True, nogil=True, inline="always")
def _table_bits(entries: int) -> int:
    """Bits of a table with at least twice ``entries`` slots (at least 64)."""
    bits = 6
    while (1 << bits) < 2 * entries:
        bits += 1
    return bits


@njit(cache=True, nogil=True)
def _push_heap(values: np.ndarray, partners: np.ndarray, hole: int, top: int, value: float, partner: int) -> None:
    """libstdc++'s ``std::__push_heap`` with ``std::greater`` on the values (a min-heap)."""
    parent = (hole - 1) // 2
    while hole > top and values[parent] > value:
        values[hole] = values[parent]
        partners[hole] = partners[parent]
        hole = parent
        parent = (hole - 1) // 2
    values[hole] = value
    partners[hole] = partner


@njit(cache=True, nogil=True)
def _adjust_heap(values: np.ndarray, partners: np.ndarray, length: int, value: float, partner: int) -> None:
    """libstdc++'s ``std::__adjust_heap`` from the root: the hole walks down to a leaf by the smaller child (the
    right one unless the left is smaller), then ``value`` goes up from there."""
    hole = second = 0
    while second < (length - 1) // 2:
        second = 2 * (second + 1)
        if values[second] > values[second - 1]:
            second -= 1
        values[hole] = values[second]
        partners[hole] = partners[second]
        hole = second
    if length % 2 == 0 and second == (length - 2) // 2:
        second = 2 * (second + 1)
        values[hole] = values[second - 1]
        partners[hole] = partners[second - 1]
        hole = second - 1
    _push_heap(values, partners, hole, 0, value, partner)


@njit(cache=True, nogil=True)
def _push_pop(values: np.ndarray, partners: np.ndarray, value: float, partner: int) -> float:
    """``sparse_dot_topn``'s ``MaxHeap.push_pop``: ``std::pop_heap`` (the smallest to the back), the back replaced
    by the new score, ``std::push_heap``; the new smallest score."""
    size = len(values)
    if size > 1:
        last = size - 1
        moved_value, moved_partner = values[last], partners[last]
        values[last], partners[last] = values[0], partners[0]
        _adjust_heap(values, partners, last, moved_value, moved_partner)
    values[size - 1] = value
    partners[size - 1] = partner
    _push_heap(values, partners, size - 1, 0, value, partner)
    return values[0]


@njit(cache=True, nogil=True)
def pools(
    row_indptr: np.ndarray,
    row_stems: np.ndarray,
    row_weights: np.ndarray,
    list_indptr: np.ndarray,
    list_articles: np.ndarray,
    list_weights: np.ndarray,
    columns: int,
    top: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``top`` best partners by its product with the posting lists (a CSR block of rows and the lists'
    CSR arrays; ``columns``: the articles), as ``sp_matmul_topn(..., threshold=0.0)`` keeps them: an indptr and
    the partners (each row's in no set order)."""
    rows = len(row_indptr) - 1
    sizes = np.zeros(rows, dtype=np.int64)  # each row's partners at most: its posting entries, at most the articles
    for row in range(rows):
        entries = 0
        for at in range(row_indptr[row], row_indptr[row + 1]):
            stem = row_stems[at]
            entries += list_indptr[stem + 1] - list_indptr[stem]
        sizes[row] = min(entries, columns)
    largest = sizes.max() if rows else 0
    capacity = 1 << _table_bits(largest)
    slot_partner = np.full(capacity, -1, dtype=np.int64)
    slot_score = np.zeros(capacity)
    touched = np.empty(max(largest, 1), dtype=np.int64)  # slots in the order their partners were first met
    heap_values = np.empty(top)
    heap_partners = np.empty(top, dtype=np.int64)
    indptr = np.zeros(rows + 1, dtype=np.int64)
    partners = np.empty(rows * top, dtype=np.int64)
    found = 0
    for row in range(rows):
        bits = _table_bits(sizes[row])
        shift = np.uint64(64 - bits)
        mask = (1 << bits) - 1
        met = 0
        for at in range(row_indptr[row], row_indptr[row + 1]):
            stem = row_stems[at]
            weight = row_weights[at]
            for place in range(list_indptr[stem], list_indptr[stem + 1]):
                partner = np.int64(list_articles[place])
                slot = np.int64((np.uint64(partner) * _GOLDEN) >> shift)
                while slot_partner[slot] != partner and slot_partner[slot] != -1:
                    slot = (slot + 1) & mask
                if slot_partner[slot] == -1:
                    slot_partner[slot] = partner
                    touched[met] = slot
                    met += 1
                product = weight * list_weights[place]
                slot_score[slot] += product
        # the library's heap: every slot at the threshold (0), the partners offered last met first (its linked list)
        heap_values[:] = 0.0
        heap_partners[:] = -1
        smallest = 0.0
        for number in range(met - 1, -1, -1):
            slot = touched[number]
            if slot_score[slot] > smallest:
                smallest = _push_pop(heap_values, heap_partners, slot_score[slot], slot_partner[slot])
            slot_partner[slot] = -1
            slot_score[slot] = 0.0
        for number in range(top):  # a partner's score is above 0: the threshold's slots are the ones left
            if heap_partners[number] >= 0:
                partners[found] = heap_partners[number]
                found += 1
        indptr[row + 1] = found
    return indptr, partners[:found]


def warm() -> None:
    """Load (or compile, the first time in a checkout) :func:`pools` and :func:`capped_lists` for the argument types
    the pruned search passes (int32 indices and index pointers, float64 weights), before the workers fork."""
    indptr = np.array([0, 1], dtype=np.int32)
    stems = np.array([0], dtype=np.int32)
    weights = np.array([1.0])
    pools(indptr, stems, weights, indptr, stems, weights, 1, 1)
    capped_lists(indptr, stems, weights, 1, 1)


@njit(cache=True, nogil=True, inline="always")
def _worse(weights: np.ndarray, rows: np.ndarray, a: int, b: int) -> bool:
    """Whether slot ``a`` of a capped list ranks below slot ``b``: lighter, or as heavy and a later row."""
    return weights[a] < weights[b] or (weights[a] == weights[b] and rows[a] > rows[b])


@njit(cache=True, nogil=True)
def _sift_down(weights: np.ndarray, rows: np.ndarray, hole: int, length: int) -> None:
    """Restore the heap (the worst-ranked slot first) below ``hole``."""
    while True:
        child = 2 * hole + 1
        if child >= length:
            return
        if child + 1 < length and _worse(weights, rows, child + 1, child):
            child += 1
        if not _worse(weights, rows, child, hole):
            return
        weights[hole], weights[child] = weights[child], weights[hole]
        rows[hole], rows[child] = rows[child], rows[hole]
        hole = child


@njit(cache=True, nogil=True)
def capped_lists(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, stems: int, cap: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each stem's posting list (rows ascending, their weights) kept to the ``cap`` rows where it weighs most (ties
    to the lower row), from the rows of a CSR matrix, without transposing the whole matrix first: a stem held by more
    than ``cap`` rows keeps its best ``cap`` in a heap (the worst-ranked first) as the rows go by; the others are
    copied as they come. (indptr (int64), row numbers (of ``indices``' type), weights) of the capped lists."""
    held = np.zeros(stems, dtype=np.int64)
    for k in range(len(indices)):
        held[indices[k]] += 1
    heap_of = np.full(stems, -1, dtype=np.int32)
    crowded = 0
    for stem in range(stems):
        if held[stem] > cap:
            heap_of[stem] = crowded
            crowded += 1
    heap_weights = np.empty((crowded, cap), dtype=data.dtype)
    heap_rows = np.empty((crowded, cap), dtype=np.int64)
    filled = np.zeros(crowded, dtype=np.int64)
    worst = np.full(crowded, -np.inf)  # each full heap's worst weight (-inf while it fills): one small array to test
    starts = np.zeros(stems + 1, dtype=np.int64)
    for stem in range(stems):
        starts[stem + 1] = starts[stem] + min(held[stem], cap)
    out_rows = np.empty(starts[stems], dtype=indices.dtype)  # row numbers: the caller passes a wide enough type
    out_weights = np.empty(starts[stems], dtype=data.dtype)
    cursor = starts[:-1].copy()
    for row in range(len(indptr) - 1):
        for k in range(indptr[row], indptr[row + 1]):
            stem = indices[k]
            heap = heap_of[stem]
            if heap < 0:
                out_rows[cursor[stem]] = row
                out_weights[cursor[stem]] = data[k]
                cursor[stem] += 1
                continue
            if data[k] <= worst[heap]:
                continue  # no heavier than the worst kept (as heavy: a later row, which ranks below)
            weights, rows = heap_weights[heap], heap_rows[heap]
            length = filled[heap]
            if length < cap:  # push: the new slot goes up while it ranks below its parent
                hole = length
                weights[hole], rows[hole] = data[k], row
                while hole > 0:
                    parent = (hole - 1) // 2
                    if not _worse(weights, rows, hole, parent):
                        break
                    weights[hole], weights[parent] = weights[parent], weights[hole]
                    rows[hole], rows[parent] = rows[parent], rows[hole]
                    hole = parent
                filled[heap] = length + 1
                if length + 1 == cap:
                    worst[heap] = weights[0]
            else:  # heavier than the worst kept: it takes the worst's slot
                weights[0], rows[0] = data[k], row
                _sift_down(weights, rows, 0, cap)
                worst[heap] = weights[0]
    for stem in range(stems):
        heap = heap_of[stem]
        if heap >= 0:
            order = np.argsort(heap_rows[heap])
            begin = starts[stem]
            for place in range(cap):
                out_rows[begin + place] = heap_rows[heap][order[place]]
                out_weights[begin + place] = heap_weights[heap][order[place]]
    return starts, out_rows, out_weights
