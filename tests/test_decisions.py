"""Small real-shaped fixtures for each decision: wire-vs-sibling origin, derived extent, stock-phrase negative.

The texts are invented but shaped like the METER material: PA wire takes as transmitted (slug
header, ``<`` line ends, control characters, several short takes of one story) and newspaper
rewrites of them.
"""

from __future__ import annotations

from dedup import cluster
from dedup.credits import find_credits, own_outlets

RULE = "  " + "-" * 72


def wire_take(time: str, page: int, catchline: str, paragraphs: list[str], byline: str | None = None) -> str:
    """A PA take as transmitted: rules, the slug header, ``<`` line ends, control characters."""
    lines = [RULE, "", RULE, "", f"                {time} 14/03/00: Page {page} (HHH) COURTS {catchline}", RULE]
    body = [f"By {byline}, PA News"] if byline else []
    body += paragraphs
    lines.append(body[0] + "<")
    lines += ["\x19" + paragraph + "<" for paragraph in body[1:]]
    lines.append("\x19mfl<")
    return "\n".join(lines) + "\n"


TAKE_ONE = [
    "A bakery owner who sold pies filled with out-of-date meat was today fined £8,000 by magistrates in Leeds.",
    "Gordon Pilling, 52, admitted nine charges under the Food Safety Act after inspectors found mouldy beef "
    "in the freezer of his shop in Headingley.",
    "Environmental health officer Susan Marsh told the court the meat was more than six months past its "
    "use-by date when it was seized last August.",
]
TAKE_TWO = [
    "The court heard that two customers had complained of stomach pains after eating pies bought from the shop "
    "on the same afternoon.",
    "Mr Pilling told inspectors he had been too busy to check the labels because his assistant had left "
    "without notice.",
    "Chairman of the bench Robert Hale said: ``You put the health of your customers at risk to save a few pounds.''",
]
PAPER = (
    "A BAKER who sold pies packed with mouldy meat has been fined £8,000.\n\n"
    "Gordon Pilling, 52, admitted nine charges under the Food Safety Act after inspectors found mouldy beef in "
    "the freezer of his shop in Headingley, Leeds.\n\n"
    "Environmental health officer Susan Marsh said the meat was more than six months past its use-by date "
    "when it was seized.\n\n"
    "Two customers had complained of stomach pains after eating pies bought from the shop on the same "
    "afternoon, the court heard.\n\n"
    "Pilling told inspectors he had been too busy to check the labels because his assistant had left.\n\n"
    'Chairman of the bench Robert Hale told him: "You put the health of your customers at risk to save a few '
    'pounds."\n\n'
    "Last night a neighbour said the shop had been closed since the raid and the windows were boarded up.\n"
)
SIBLING = (
    "PIE shop boss Gordon Pilling was fined £8,000 yesterday for selling pies filled with out-of-date meat.\n\n"
    "Pilling, 52, admitted nine charges under the Food Safety Act after inspectors found mouldy beef in the "
    "freezer of his shop in Headingley, Leeds.\n\n"
    "Two customers had complained of stomach pains after eating pies bought from the shop on the same "
    "afternoon, the court heard.\n\n"
    'Chairman of the bench Robert Hale told him: "You put the health of your customers at risk to save a few '
    'pounds."\n'
)


def pies_takes() -> list[dict[str, str]]:
    """The two PA takes of the pie-shop story (one slug), as records."""
    return [
        {"id": "pa/pies1.txt", "text": wire_take("11:02", 1, "Pies", TAKE_ONE, byline="Jane Roe")},
        {"id": "pa/pies2.txt", "text": wire_take("12:40", 2, "Pies", TAKE_TWO)},
    ]


def follow_up_take() -> str:
    """Next week's wire story (another slug) that repeats the first take's paragraphs as background."""
    first = wire_take("11:02", 1, "Pies", TAKE_ONE, byline="Jane Roe")
    follow_up = first.replace("14/03/00", "21/03/00").replace("COURTS Pies", "COURTS Pieshop")
    return follow_up.replace(
        TAKE_ONE[0],
        "A bakery in Leeds whose owner was fined last week for selling pies filled with out-of-date meat has "
        "been closed by the city council.",
    )


def test_wire_header_is_an_own_wire_credit():
    take = wire_take("15:30", 2, "Pies", TAKE_TWO)
    credits = find_credits(take)
    assert own_outlets(credits) == {"PA"}
    assert credits[0].snippet == "15:30 14/03/00: Page 2 (HHH) COURTS Pies"


def test_paper_built_from_short_wire_takes_derives_from_the_wire_not_a_sibling():
    articles = [
        *pies_takes(),
        {"id": "papers/pies_mail.txt", "text": PAPER},
        {"id": "papers/pies_star.txt", "text": SIBLING},
    ]
    result = cluster(articles)
    assert len(result.clusters) == 1
    record = result.clusters[0]
    assert record.origin is not None and record.origin.startswith("pa/")
    roles = {m.id: m for m in record.members}
    for paper in ("papers/pies_mail.txt", "papers/pies_star.txt"):
        assert roles[paper].role == "derived"
        assert roles[paper].sources[0].startswith("pa/")  # the wire take, not the sibling rewrite
    assert roles["pa/pies2.txt"].role != "derived" or roles["pa/pies2.txt"].sources[0].startswith("pa/")


INDEPENDENT = (
    "Shopkeeper fined over mouldy pies\n\n"
    "A Headingley shopkeeper was ordered to pay £8,000 yesterday after health inspectors discovered rotten "
    "beef in a freezer at his premises.\n\n"
    "Magistrates heard that officers from the city council raided the business last summer following a tip-off "
    "from a former employee who had seen green meat being minced.\n\n"
    "Gordon Pilling, who has run the shop for twenty years, pleaded guilty to nine offences.\n\n"
    "His solicitor, Anne Cole, said her client deeply regretted what had happened and had since retired from the "
    "trade.\n\n"
    "Council leader Brian Watts welcomed the fine and urged anyone with concerns about food hygiene to ring the "
    "council's hotline.\n"
)


def test_paper_with_little_wire_text_is_not_derived_from_it():
    """An independent report of the same hearing shares names and figures, not the wire's passages."""
    articles = [
        *pies_takes(),
        {"id": "papers/pies_mail.txt", "text": PAPER},
        {"id": "papers/pies_post.txt", "text": INDEPENDENT},
    ]
    result = cluster(articles)
    roles = {m.id: m for c in result.clusters for m in c.members}
    assert roles["papers/pies_mail.txt"].role == "derived"
    assert "papers/pies_post.txt" in result.singletons or roles["papers/pies_post.txt"].role == "same-story"


def test_wire_passages_cover_the_paper_but_not_its_own_paragraph():
    """Two wire takes together cover most of the paper (whole); its own closing paragraph stays new."""
    articles = [
        *pies_takes(),
        {"id": "papers/pies_mail.txt", "text": PAPER},
        {"id": "papers/pies_star.txt", "text": SIBLING},
    ]
    result = cluster(articles)
    roles = {m.id: m for c in result.clusters for m in c.members}
    mail = roles["papers/pies_mail.txt"]
    assert mail.role == "derived" and mail.extent == "whole"
    assert mail.sources[0].startswith("pa/") and mail.sources[1].startswith("pa/")
    wire_only = [p for p in result.passages if p.target == mail.id and p.source.startswith("pa/")]
    assert wire_only
    last_paragraph = PAPER.index("Last night a neighbour")
    assert not any(p.target_span[1] > last_paragraph for p in wire_only)  # the paper's own paragraph is new


def test_wire_takes_under_one_slug_are_one_cluster():
    """A later take continuing the story shares no sentence with the first, but carries the same slug."""
    from dedup.credits import wire_slug

    later = [
        "Later the court heard that the shop had passed a routine inspection only a year before the raid.",
        "The case was adjourned for reports on the company's finances until next month.",
    ]
    first = wire_take("11:02", 1, "Pies", TAKE_ONE, byline="Jane Roe")
    third = wire_take("16:15", 3, "Pies Lead", later)
    assert wire_slug(first) == wire_slug(third) == "14/03/00 courts pies"
    result = cluster(
        [
            {"id": "pa/pies1.txt", "text": first},
            {"id": "pa/pies3.txt", "text": third},
            {"id": "papers/pies_mail.txt", "text": PAPER},
        ]
    )
    assert [sorted(m.id for m in c.members) for c in result.clusters] == [
        ["pa/pies1.txt", "pa/pies3.txt", "papers/pies_mail.txt"]
    ]
    assert result.clusters[0].origin == "pa/pies1.txt"


def test_follow_up_story_repeating_background_is_a_separate_story():
    """Next week's wire story repeats last week's paragraphs as background; the slugs say two stories."""
    first = wire_take("11:02", 1, "Pies", TAKE_ONE, byline="Jane Roe")
    follow_up = follow_up_take()
    result = cluster(
        [
            {"id": "pa/pies1.txt", "text": first},
            {"id": "pa/pieshop1.txt", "text": follow_up},
            {"id": "papers/pies_mail.txt", "text": PAPER},
        ]
    )
    groups = sorted(sorted(m.id for m in c.members) for c in result.clusters)
    assert ["pa/pies1.txt", "pa/pieshop1.txt"] not in groups
    assert not any({"pa/pies1.txt", "pa/pieshop1.txt"} <= set(g) for g in groups)
    assert any({"pa/pies1.txt", "papers/pies_mail.txt"} <= set(g) for g in groups)


def test_rewritten_lead_keeps_copied_words_verbatim_and_the_rest_rewrite():
    """METER's convention: inside a rewritten sentence, words kept in order are verbatim, changed words rewrite."""
    result = cluster(
        [
            *pies_takes(),
            {"id": "papers/pies_mail.txt", "text": PAPER},
        ]
    )
    lead_end = PAPER.index("\n")
    lead = sorted(
        (p.target_span, p.kind)
        for p in result.passages
        if p.target == "papers/pies_mail.txt" and p.target_span[1] <= lead_end
    )
    # word by word (align step 5): the kept content word "meat" is verbatim, the lone stopword "with" is chance,
    # and the reworded opening "A BAKER" (wire: "A bakery owner") is part of the rewritten clause
    assert [(PAPER[b:e], kind) for (b, e), kind in lead] == [
        ("A BAKER", "rewrite"),
        ("who sold pies", "verbatim"),
        ("packed with mouldy", "rewrite"),
        ("meat", "verbatim"),
        ("has been", "rewrite"),
        ("fined £8,000.", "verbatim"),  # with the full stop written on its last word (align step 7)
    ]
    strict = cluster(
        [*pies_takes(), {"id": "papers/pies_mail.txt", "text": PAPER}],
        detail_word_alignment=False,
        detail_kept_words=False,
    )
    assert ("packed with mouldy meat has been", "rewrite") in [
        (PAPER[slice(*p.target_span)], p.kind) for p in strict.passages if p.target == "papers/pies_mail.txt"
    ]
    assert not any(p.target_span[0] < PAPER.index("who") for p in strict.passages if p.target.startswith("papers/"))


BRIEF = (
    "A van driver who ran a red light and injured a cyclist in Armley was today fined £8,000 by magistrates in "
    "Leeds.\n\nHe was also banned from driving for a year.\n"
)


def test_stock_phrase_shared_with_a_short_brief_does_not_relate_them():
    """'was today fined £8,000 by magistrates in Leeds' in a different story's brief is a stock phrase, not reuse."""
    from dedup.compare import compare
    from dedup.model import Article

    take = Article("pa/pies1.txt", wire_take("11:02", 1, "Pies", TAKE_ONE, byline="Jane Roe"))
    comparison = compare(take, Article("papers/van_post.txt", BRIEF))
    assert comparison.forward.passages  # the phrase is found ...
    assert comparison.forward.relation == comparison.backward.relation == "unrelated"  # ... and is not enough


def test_derived_pair_shows_short_copied_runs_that_do_not_count_as_evidence():
    """Once a paper is judged derived from a take, a short phrase copied into a new sentence is shown as verbatim;
    the pair's verdict (its evidence) and the member's coverage stay those of the strict alignment."""
    extra = "Neighbours said they had no idea that pies filled with out-of-date meat were on sale in the street.\n\n"
    paper = PAPER.replace("Last night a neighbour", extra + "Last night a neighbour")
    phrase = paper.index("pies filled with out-of-date meat")
    articles = [*pies_takes(), {"id": "papers/pies_sun.txt", "text": paper}]

    def shown(result):
        return [
            (p.source, p.kind, paper[p.target_span[0] : p.target_span[1]])
            for p in result.passages
            if p.target == "papers/pies_sun.txt" and p.target_span[0] <= phrase < p.target_span[1]
        ]

    detailed, strict = cluster(articles), cluster(articles, detail_derived=False)
    assert shown(detailed) == [("pa/pies1.txt", "verbatim", "pies filled with out-of-date meat")]
    assert shown(strict) == []
    assert detailed.pairs == strict.pairs
    members = [[(m.id, m.role, m.coverage, m.extent) for m in c.members] for c in detailed.clusters]
    assert members == [[(m.id, m.role, m.coverage, m.extent) for m in c.members] for c in strict.clusters]


RATING_GM = (
    "Standard and Poor's Corp said that General Motors Corp's planned five billion dlr stock repurchase would "
    "not affect the carmaker's debt ratings.\n\n"
    "S and P said the parent company would generate enough cash over the next several years to fund the "
    "buyback without weakening its financial position.\n\n"
    "S and P affirmed the AA ratings on the senior debt of GM, General Motors Acceptance Corp and various "
    "overseas units.\n\n"
    "Also affirmed were GM's AA preferred stock, and GMAC's AA-minus subordinated debt and A-1-plus commercial "
    "paper.\n"
)
RATING_PNC = (
    "Standard and Poor's Corp said it affirmed the ratings on 500 mln dlrs of debt of PNC Funding Corp, a unit "
    "of PNC Financial Corp.\n\n"
    "Affirmed were PNC Funding's AA-plus senior debt and A-1-plus commercial paper, and the parent's AA "
    "preferred stock and the certificates of deposit of Pittsburgh National Bank and Provident National Bank.\n\n"
    "S and P said PNC's 110 mln dlr provision would cut second quarter earnings by 66 mln dlrs.\n"
)


def test_house_template_about_other_companies_is_not_reuse():
    """Two rating notices in one agency's wording about different companies: the names are the news, not shared."""
    result = cluster([{"id": "gm.txt", "text": RATING_GM}, {"id": "pnc.txt", "text": RATING_PNC}])
    (pair,) = result.pairs
    assert pair.relation == "unrelated"
    assert pair.passages  # the wording aligns ...
    assert pair.evidence["names_kept"] < 0.34  # ... but the aligned units name other companies
    assert not result.clusters
    loose = cluster([{"id": "gm.txt", "text": RATING_GM}, {"id": "pnc.txt", "text": RATING_PNC}], min_name_share=0)
    assert loose.pairs[0].relation != "unrelated"  # what the template looked like without the names test


def test_rewrite_that_keeps_the_names_is_still_derived():
    result = cluster([*pies_takes(), {"id": "papers/pies_mail.txt", "text": PAPER}])
    verdicts = {(v.a, v.b): v for v in result.pairs}
    verdict = verdicts[("pa/pies1.txt", "papers/pies_mail.txt")]
    assert verdict.relation == "derived"
    assert verdict.evidence["names_kept"] >= 0.5


def test_exact_copies_vote_for_the_earlier_published_text():
    """Trims of a story cover its first text and a later verbatim copy equally: the earlier one is the origin,
    whatever the ids (the copy's id sorts first)."""
    story = "\n\n".join([*TAKE_ONE, *TAKE_TWO]) + "\n"
    lead = "\n\n".join(TAKE_ONE[:2]) + "\n"
    articles = [
        {"id": "z_first.txt", "text": story, "published": "2024-09-07T11:27:00Z"},
        {"id": "a_copy.txt", "text": "The Redcliff Ledger\n\n" + story, "published": "2024-09-09T12:35:00Z"},
        {"id": "b_trim.txt", "text": lead, "published": "2024-09-09T13:00:00Z"},
        {"id": "c_trim.txt", "text": "Local news\n\n" + lead, "published": "2024-09-10T08:00:00Z"},
    ]
    (record,) = cluster(articles).clusters
    assert record.origin == "z_first.txt"


# A company report (no wire slug) with its background at the end, copied by three papers that keep only its
# news: a later report on another event repeats the background word for word, so it relates to the report alone.
MINE_NEWS = [
    "Cominco Ltd said it would close its Pine Point lead and zinc mine in the Northwest Territories by the end "
    "of the year because the ore body is nearly exhausted.",
    "The company said about 450 workers would lose their jobs and that it would take a charge of 38 mln "
    "Canadian dlrs against first quarter earnings to cover the closure.",
    "Cominco president Robert Hallbauer said the company had studied every way of extending the mine's life "
    "but none would pay at current metal prices.",
]
MINE_BACKGROUND = [
    "Cominco's Trail operations in British Columbia produced 240,000 long tons of zinc and 110,000 long tons of "
    "lead in 1986, most of it from concentrates shipped from Pine Point and the Sullivan mine at Kimberley.",
    "The company, 52 pct owned by Canadian Pacific Ltd, lost 20.3 mln dlrs in 1986 after a loss of 58.1 mln dlrs "
    "in 1985, when a strike shut the Trail smelter for four months.",
]
MINE_FOLLOW_UP = [
    "Cominco Ltd said it agreed to sell its 50 pct stake in the Polaris zinc mine on Little Cornwallis Island "
    "to Teck Corp for 95 mln Canadian dlrs in cash.",
    "Teck chairman Norman Keevil said the purchase would give his company a second source of zinc concentrate "
    "for the smelter it is building in partnership with Japanese buyers.",
    *MINE_BACKGROUND,
]


def test_follow_up_reaching_a_copied_report_through_one_member_stays_apart():
    """Three papers copy a report's news, a follow-up repeats its background: the follow-up is related to the
    report alone (one of the four), a neighbour of the story, not a member; the copies stay one cluster."""
    report = "\n\n".join([*MINE_NEWS, *MINE_BACKGROUND]) + "\n"
    news = "\n\n".join(MINE_NEWS) + "\n"
    articles = [
        {"id": "report.txt", "text": report},
        {"id": "copy_herald.txt", "text": "The Herald\n\n" + news},
        {"id": "copy_ledger.txt", "text": "The Ledger\n\n" + news},
        {"id": "copy_post.txt", "text": "The Post\n\n" + news},
        {"id": "follow_up.txt", "text": "\n\n".join(MINE_FOLLOW_UP) + "\n"},
    ]
    result = cluster(articles)
    related = {(v.a, v.b) for v in result.pairs if v.relation != "unrelated"}
    assert ("follow_up.txt", "report.txt") in related  # the background is shared, and seen
    assert not any("follow_up.txt" in pair for pair in related - {("follow_up.txt", "report.txt")})
    assert [sorted(m.id for m in c.members) for c in result.clusters] == [
        ["copy_herald.txt", "copy_ledger.txt", "copy_post.txt", "report.txt"]
    ]
    assert result.singletons == ["follow_up.txt"]


def test_paper_written_from_one_wire_take_joins_the_whole_story():
    """A wire story's takes share no sentence; a paper written from the last take alone is related to that take
    only, one member of five, and still joins: one link to a group holding a wire story's takes is enough."""
    later = [
        "Later the court heard that the shop had passed a routine inspection only a year before the raid.",
        "The case was adjourned for reports on the company's finances until next month, when the bench will "
        "decide whether to ban Mr Pilling from running a food business.",
        "Outside court Mr Pilling said he was ashamed and would sell the shop as soon as he could find a buyer.",
    ]
    late_paper = (
        "SHAMED pie shop boss Gordon Pilling faces a ban on running a food business.\n\n"
        "The court heard that the shop had passed a routine inspection only a year before the raid.\n\n"
        "The case was adjourned for reports on the company's finances until next month, when the bench will "
        "decide whether to ban him from running a food business.\n\n"
        "Pilling said outside court that he was ashamed and would sell the shop as soon as he could find a buyer.\n"
    )
    articles = [
        *pies_takes(),
        {"id": "pa/pies3.txt", "text": wire_take("16:15", 3, "Pies Lead", later)},
        {"id": "papers/pies_mail.txt", "text": PAPER},
        {"id": "papers/pies_star.txt", "text": SIBLING},
        {"id": "papers/pies_sun.txt", "text": late_paper},
    ]
    result = cluster(articles)
    related = {(v.a, v.b) for v in result.pairs if v.relation != "unrelated"}
    assert {pair for pair in related if "papers/pies_sun.txt" in pair} == {("pa/pies3.txt", "papers/pies_sun.txt")}
    assert [sorted(m.id for m in c.members) for c in result.clusters] == [
        [a["id"] for a in sorted(articles, key=lambda a: a["id"])]
    ]
