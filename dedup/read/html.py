"""HTML reader: main text, title, date and canonical URL via trafilatura.

trafilatura finds the publication date with htmldate (``original_date``, extensive search),
so the date comes from the page's markup (meta tags, ``<time>``, JSON-LD, URL) and, failing
those, from dates written in the page.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from dedup.model import Article
from dedup.read.text import Found, Outcome, SkipInput, Source, decode_bytes

if TYPE_CHECKING:
    from trafilatura.settings import Document

logger = logging.getLogger(__name__)

NO_MAIN_TEXT = "no main text found in HTML"

# Document metadata passed on in ``Article.extra`` when trafilatura finds it.
_EXTRA_METADATA = ("author", "hostname", "description", "language", "categories", "tags")


def read_html(data: bytes, source: Source) -> list[Outcome]:
    """Read one HTML page into one article; boilerplate (menus, footers) is left to trafilatura."""
    html = decode_bytes(data, source.path)
    if not html.strip():
        raise SkipInput("empty text")
    document = _extract(html)
    if document is None:
        raise SkipInput(NO_MAIN_TEXT)

    extra: dict[str, Any] = {}
    for name in _EXTRA_METADATA:
        value = getattr(document, name, None)
        if value:
            extra[name] = value
    article = Article(
        id=source.id,
        text=document.text,
        title=document.title or None,
        url=document.url or None,
        outlet=document.sitename or None,
        published=document.date or None,
        path=source.path,
        extra=extra,
    )
    return [Found(article, source.path)]


def _extract(html: str) -> Document | None:
    """trafilatura's document for ``html``, or None when it finds no main text with a word in it."""
    # imported here, not with the module: trafilatura takes seconds to import, and readers of JSON Lines
    # (every copies-only worker) never need it
    import trafilatura
    from trafilatura.settings import Document

    try:
        document = trafilatura.bare_extraction(
            html,
            with_metadata=True,
            include_comments=False,
            include_tables=True,
        )
    except Exception as error:  # trafilatura/lxml can fail in many ways on hostile markup
        logger.debug("trafilatura failed: %s", error)
        return None
    if not isinstance(document, Document):
        return None
    text = document.text or ""
    if not any(character.isalnum() for character in text):
        return None
    return document
