"""sources/: the cleaned articles, and how bad source files are reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.sources import SourcesError, load_sources, source_files
from tests.helpers import ROOT, SEEDS

SOURCES = ROOT / "sources"
BOILERPLATE = [
    "Sign up to read this article",
    "Already a member",
    "Download the app",
    "Related Stories",
    "Fourteen days free",
    "Support us",
    "small favor to ask",
    "Remind me later",
    "paiment methods",
    "Be the first to comment",
    "Leave a Reply",
    "Your email address will not be published",
    "Read also",
    "Write a review",
    "No posts found",
    "Number of purchasers",
    "Cite Download pdf",
    "Additional services",
    "Get our weekly free Must-Read newsletter",
    "Contact reporter",
    "Enjoying ad-free content",
]


def _words(text: str) -> str:
    return " ".join(text.replace("•", " ").split())


def test_five_clean_articles_load_without_problems() -> None:
    sources, problems = load_sources(SOURCES)
    assert len(sources) == 5
    assert problems == []


@pytest.mark.parametrize("phrase", BOILERPLATE)
def test_boilerplate_is_gone(phrase: str) -> None:
    for path in source_files(SOURCES):
        assert phrase.lower() not in path.read_text(encoding="utf-8").lower(), path.name


needs_seeds = pytest.mark.skipif(not SEEDS.is_dir(), reason=f"{SEEDS} is absent (../shared)")


@needs_seeds
def test_every_paragraph_comes_verbatim_from_its_seed() -> None:
    """Nothing invented: each block of article text appears word for word in the raw page."""
    sources, _ = load_sources(SOURCES)
    for source in sources:
        seed_name = source.meta.extra["seed"]
        seed = _words((SEEDS / seed_name).read_text(encoding="utf-8"))
        for block in source.blocks:
            for line in source.text[block.start : block.end].splitlines():
                assert _words(line) in seed, (source.meta.id, line[:60])


@needs_seeds
def test_metadata_is_only_what_the_pages_state() -> None:
    sources, _ = load_sources(SOURCES)
    by_id = {s.meta.id: s.meta for s in sources}
    caixin = by_id["caixin-japan-russia-trade-barbs"]
    assert (caixin.outlet, caixin.author, caixin.date, caixin.url) == (
        "Caixin Global",
        "Chen Lixiong",
        None,
        None,
    )
    assert by_id["moscow-times-japan-protests-russia-move"].outlet == "The Moscow Times"
    voda = by_id["voda-crisis-in-russian-japanese-relations-2022"]
    assert (voda.author, voda.date, voda.outlet) == ("Kristina Voda", "2023-03-06", None)
    for meta in by_id.values():
        assert meta.title and meta.language == "en"
        seed = (SEEDS / meta.extra["seed"]).read_text(encoding="utf-8")
        for value in (meta.title, meta.outlet, meta.author):
            if value:
                assert value.strip() in seed
        assert meta.url is None  # no page states its address


def test_captions_and_references_are_marked() -> None:
    sources, _ = load_sources(SOURCES)
    kinds = {b.kind for s in sources for b in s.blocks}
    assert {"body", "caption", "references"} <= kinds
    voda = next(s for s in sources if s.meta.id.startswith("voda"))
    refs = [b for b in voda.blocks if b.kind == "references"]
    assert len(refs) == 14
    assert voda.text[refs[3].start : refs[3].end].startswith("4. 林外務大臣会見")


def _write(folder: Path, name: str, data: str | bytes) -> None:
    folder.mkdir(exist_ok=True)
    path = folder / name
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")


GOOD = "---\ntitle: Good\n---\n\nA perfectly fine paragraph about the islands.\n"


@pytest.mark.parametrize(
    ("name", "data", "line", "fragment"),
    [
        (
            "bad-yaml.md",
            "---\ntitle: [unclosed\nauthor: x\n---\n\nText.\n",
            3,
            "invalid front matter",
        ),
        ("no-close.md", "---\ntitle: x\n\nText.\n", 1, "never closed"),
        ("no-front.md", "Just text\n", 1, "must start with '---'"),
        ("bad-date.md", "---\ntitle: x\ndate: March 2022\n---\n\nText.\n", 3, "YYYY"),
        ("bad-url.md", "---\ntitle: x\nurl: not a url\n---\n\nText.\n", 3, "http"),
        ("fence.md", "---\ntitle: x\n---\n\nText.\n\n::: caption\nPhoto.\n", 7, "never closed"),
        (
            "kind.md",
            "---\ntitle: x\n---\n\nText.\n\n::: sidebar\nx\n:::\n",
            7,
            "unknown block kind",
        ),
        ("empty-body.md", "---\ntitle: x\n---\n\n", None, "no article text"),
    ],
)
def test_malformed_files_name_file_and_line(
    tmp_path: Path, name: str, data: str, line: int | None, fragment: str
) -> None:
    _write(tmp_path, "good.md", GOOD)
    _write(tmp_path, name, data)
    sources, problems = load_sources(tmp_path)
    assert [s.meta.id for s in sources] == ["good"]  # the others still load
    assert len(problems) == 1
    problem = problems[0]
    assert problem.path == name and problem.line == line and problem.error
    assert fragment in problem.message
    assert str(problem).startswith(f"error: {name}")


def test_non_utf8_file_is_named(tmp_path: Path) -> None:
    _write(tmp_path, "good.md", GOOD)
    _write(tmp_path, "latin1.txt", "Title\n\nCaf\xe9 prices rose \xa315.\n".encode("latin-1"))
    sources, problems = load_sources(tmp_path)
    assert len(sources) == 1
    assert problems[0].path == "latin1.txt" and "UTF-8" in problems[0].message


def test_plain_text_file_uses_first_line_as_title_and_warns(tmp_path: Path) -> None:
    _write(tmp_path, "note.txt", "Islands talks stall\n\nNo progress was made on the islands.\n")
    sources, problems = load_sources(tmp_path)
    assert sources[0].meta.title == "Islands talks stall"
    assert sources[0].meta.outlet is None and sources[0].meta.date is None
    assert len(problems) == 1 and not problems[0].error and "unknown" in problems[0].message


def test_missing_and_empty_folders(tmp_path: Path) -> None:
    with pytest.raises(SourcesError, match="not found"):
        source_files(tmp_path / "nope")
    assert source_files(tmp_path) == []


def test_jsonl_documents_and_bad_lines(tmp_path: Path) -> None:
    lines = [
        '{"id": "a1", "title": "First", "text": "The islands were taken in 1945.", "outlet": "X"}',
        "{not json",
        '{"id": "a2", "text": ""}',
        '{"id": "a3", "title": "Third", "text": "Para one is here.\\n\\nPara two is here."}',
        '{"title": "no id", "text": "Some text."}',
    ]
    _write(tmp_path, "docs.jsonl", "\n".join(lines) + "\n")
    sources, problems = load_sources(tmp_path / "docs.jsonl")
    assert [s.meta.id for s in sources] == ["a1", "a3"]
    assert sources[0].meta.outlet == "X" and sources[0].meta.path == "docs.jsonl:1"
    assert [(p.line, p.error) for p in problems] == [(2, True), (3, True), (5, True)]
    assert "invalid JSON" in problems[0].message


def test_html_page_goes_through_article_extraction(tmp_path: Path) -> None:
    page = """<html><head><title>Talks suspended</title>
    <meta name="author" content="Jane Doe"></head><body>
    <nav>Home | Subscribe | Sign in</nav>
    <article><h1>Talks suspended</h1>
    <p>Russia said it would not continue peace treaty talks with Japan under current conditions.</p>
    <p>About 17,000 Japanese lived on the islands before the Soviet occupation in 1945.</p>
    </article><footer>Leave a comment. Subscribe to our newsletter.</footer></body></html>"""
    _write(tmp_path, "page.html", page)
    sources, problems = load_sources(tmp_path)
    assert problems == []
    (source,) = sources
    assert source.meta.title == "Talks suspended" and source.meta.author == "Jane Doe"
    assert "17,000 Japanese" in source.text and "Subscribe" not in source.text
    assert source.meta.date is None  # not stated by the page: not guessed
