"""Stock sentences: template text found in many articles of a run is not evidence that one derives from another."""

from __future__ import annotations

import numpy as np

from dedup.candidates import sentence_frequencies
from dedup.pipeline import cluster

STOCK = {"stock_min_articles": 2, "stock_ratio": 2.0, "frequency_threshold": 0.3}

TEMPLATE = (
    "The bonds will be available in denominations of 1,000 and 10,000 dlrs and will be listed in Luxembourg. "
    "The selling concession is 1-1/4 pct while management and underwriting combined pays 5/8 pct."
)

LEADS = [
    (
        "b1",
        "Toyota Motor Credit Corp is issuing a 100 mln dlr eurobond due March 1994 paying eight pct and priced "
        "at 101-1/2, lead manager Nomura International said. The borrower plans to use the funds to refinance "
        "short-term debt raised in the commercial paper market last autumn. Its last eurobond, sold in January, "
        "was quickly absorbed by Japanese investors.",
    ),
    (
        "b2",
        "Swedish Export Credit launched a 50 mln Australian dlr bond due 1990 with a 14-3/8 pct coupon, "
        "priced at par, said Hambros Bank as lead manager. Officials in Stockholm said the agency wanted to "
        "diversify its funding away from the Swiss franc sector. Demand came mainly from retail buyers in "
        "Belgium and Germany.",
    ),
    (
        "b3",
        "General Electric Capital is raising 150 mln dlrs through a five year issue carrying a seven pct "
        "coupon and pricing of 100-7/8, according to Morgan Guaranty Ltd. Dealers said the paper traded well "
        "inside the fees in the grey market on Tuesday afternoon. A further tranche in yen is being "
        "considered for next quarter.",
    ),
    (
        "b4",
        "Denmark's Kingdom treasury is tapping the market for 200 mln European currency units with a seven "
        "year deal yielding 7-1/4 pct, led by Banque Paribas Capital Markets. The country has been an active "
        "borrower this year as it covers a widening current account gap. Syndicate officials said the "
        "order book closed within two hours.",
    ),
    (
        "b5",
        "Philips Finance of the Netherlands announced an 80 mln guilder ten year bond at 6-3/4 pct priced "
        "at 99-3/4, arranged by Algemene Bank Nederland. The company said the money would fund expansion of its "
        "consumer electronics plants in the Far East. Shareholders approved the borrowing programme at "
        "a meeting in Eindhoven last week.",
    ),
]


def _articles() -> list[dict[str, str]]:
    articles = [{"id": key, "text": f"{lead} {TEMPLATE}"} for key, lead in LEADS]
    # a real copy of b2, lightly trimmed: still derived from it
    articles.append({"id": "b6", "text": articles[1]["text"].replace("Officials in Stockholm said", "It said")})
    return articles


def _relations(result) -> dict[tuple[str, str], str]:
    return {(v.a, v.b): v.relation for v in result.pairs}


def test_template_articles_are_not_derived_from_one_another() -> None:
    result = cluster(_articles(), workers=1, **STOCK)
    relations = _relations(result)
    leads = [key for key, _ in LEADS]
    for i, a in enumerate(leads):
        for b in leads[i + 1 :]:
            assert relations.get((a, b), "unrelated") in {"unrelated", "same-story"}, (a, b)
    grouped = [sorted(m.id for m in c.members) for c in result.clusters]
    assert ["b2", "b6"] in grouped
    assert relations[("b2", "b6")] in {"duplicate", "derived"}


def test_stock_passages_stay_for_display() -> None:
    result = cluster(_articles(), workers=1, **STOCK)
    verdict = next(v for v in result.pairs if (v.a, v.b) == ("b1", "b3"))
    assert verdict.passages
    assert verdict.evidence.get("stock_passages", 0) > 0


def test_off_by_default_template_text_is_evidence() -> None:
    relations = _relations(cluster(_articles(), workers=1))
    assert relations[("b1", "b3")] == "derived"


def test_sentence_frequencies_count_distinct_owners() -> None:
    rows = np.array([[1, 2, 3, 4]] * 3 + [[9, 9, 9, 9]], dtype=np.uint32)
    owners = np.array([0, 0, 1, 2], dtype=np.int64)
    assert sentence_frequencies(np.repeat(rows, 32, axis=1), owners, 0.4).tolist() == [2, 2, 2, 1]
