"""Turn a saved web page into a source with trafilatura (article text and the metadata it states).

The extracted paragraphs, joined by blank lines, become the source text every quote is a slice of:
for a page, a quote's span locates it in that extracted text, not in the HTML (see
:func:`bot.core.sources.span_basis`). Only metadata the page itself declares is kept: no date
guessing from URLs or body text; the language is the page's ``<html lang>``.
"""

from __future__ import annotations

from pathlib import Path

from bot.core.source_files import Problem
from bot.core.sources import Source, SourceMeta, plain_source


def read_html(path: Path, base: Path) -> tuple[Source | None, list[Problem]]:
    """Extract the article of one HTML file; a page with no article is an error naming the file."""
    import trafilatura

    rel = path.relative_to(base).as_posix()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, [Problem(rel, f"cannot read: {exc.strerror}")]
    document = trafilatura.bare_extraction(
        raw,
        with_metadata=True,
        include_comments=False,
        include_tables=False,
        date_extraction_params={"extensive_search": False, "original_date": True},
    )
    text = getattr(document, "text", None) if document is not None else None
    if not text or not text.strip():
        return None, [Problem(rel, "no article text found in the page")]
    title = (getattr(document, "title", None) or "").strip() or None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if title and lines and lines[0] == title:
        lines = lines[1:]
    meta = SourceMeta(
        id=rel.rsplit(".", 1)[0],
        path=rel,
        title=title,
        outlet=getattr(document, "sitename", None) or None,
        author=getattr(document, "author", None) or None,
        date=getattr(document, "date", None) or None,
        url=getattr(document, "url", None) or None,
        language=_declared_language(raw) or getattr(document, "language", None) or None,
    )
    source = plain_source(meta, "\n\n".join(lines))
    if source is None:
        return None, [Problem(rel, "no article text found in the page")]
    return source, []


def _declared_language(raw: bytes) -> str | None:
    """The language the page declares on its root element (``lang`` or ``xml:lang``)."""
    import lxml.html
    from lxml.etree import ParserError

    try:
        root = lxml.html.document_fromstring(raw)
    except (ParserError, ValueError):
        return None
    value = root.get("lang") or root.get("{http://www.w3.org/XML/1998/namespace}lang") or ""
    return value.strip() or None
