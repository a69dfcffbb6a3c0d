"""Spans for the punctuation tests: non-overlapping, in order, each from a word character to a word character."""

from __future__ import annotations


def word_spans(text: str, cuts: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Each cut ``(gap, width)`` starts ``gap`` characters after the previous span; cuts that would not start and
    end on a letter or digit inside ``text`` are dropped."""
    spans, position = [], 0
    for gap, width in cuts:
        begin = position + gap
        end = begin + width
        if end > len(text) or not text[begin].isalnum() or not text[end - 1].isalnum():
            continue
        spans.append((begin, end))
        position = end
    return spans
