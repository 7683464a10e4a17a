"""A saved web page as a source: the article text and only the metadata the page declares."""

from __future__ import annotations

from pathlib import Path

from bot.core.html_source import read_html

PAGE = """<html lang="en-GB"><head><title>Snow closes roads</title>
<meta name="author" content="Kenji Sato"><meta property="og:site_name" content="Hokkaido Daily">
</head><body><nav>Sign in | Subscribe</nav><article><h1>Snow closes roads</h1>
<p>Heavy snow closed the roads around Sapporo for two days this week, the city said.</p>
<p>Schools stayed shut on Tuesday and trains ran on a reduced timetable until Thursday.</p>
</article><footer>Read also: ten winter recipes</footer></body></html>"""


def _page(tmp_path: Path, html: str, name: str = "page.html") -> Path:
    path = tmp_path / name
    path.write_text(html, encoding="utf-8")
    return path


def test_the_article_text_becomes_the_source_without_the_page_furniture(tmp_path: Path) -> None:
    source, problems = read_html(_page(tmp_path, PAGE), tmp_path)
    assert problems == [] and source is not None
    assert "Heavy snow closed the roads around Sapporo" in source.text
    assert "trains ran on a reduced timetable" in source.text
    assert "Sign in" not in source.text and "Read also" not in source.text
    assert not source.text.startswith("Snow closes roads")  # the title is not body text
    for block in source.blocks:
        assert source.text[block.start : block.end].strip()


def test_only_declared_metadata_is_kept(tmp_path: Path) -> None:
    source, _ = read_html(_page(tmp_path, PAGE), tmp_path)
    assert source is not None
    meta = source.meta
    assert (meta.id, meta.path, meta.title) == ("page", "page.html", "Snow closes roads")
    assert meta.language == "en-GB"  # from <html lang>
    assert meta.date is None  # nothing on the page states one


def test_a_page_without_an_article_is_a_problem_naming_the_file(tmp_path: Path) -> None:
    source, problems = read_html(
        _page(tmp_path, "<html><body></body></html>", "empty.html"), tmp_path
    )
    assert source is None
    assert [(p.path, p.message) for p in problems] == [
        ("empty.html", "no article text found in the page")
    ]


def test_an_unreadable_page_is_a_problem_not_a_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "gone.html"
    source, problems = read_html(missing, tmp_path)
    assert source is None and "cannot read" in problems[0].message
