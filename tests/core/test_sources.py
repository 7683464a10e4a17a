"""sources/: the cleaned articles, and how bad source files are reported."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.core.source_files import Problem, SourcesError, scan_sources, source_files
from bot.core.sources import load_sources, span_basis
from tests.helpers import ROOT, shared_path

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


def _outside_bylines(text: str) -> str:
    """The text with its ``::: byline`` blocks left out (credit lines are kept on purpose)."""
    return re.sub(r"^::: byline\n.*?^:::$", "", text, flags=re.S | re.M)


@pytest.mark.parametrize("phrase", BOILERPLATE)
def test_boilerplate_is_gone(phrase: str) -> None:
    for path in source_files(SOURCES):
        text = _outside_bylines(path.read_text(encoding="utf-8"))
        assert phrase.lower() not in text.lower(), path.name


def test_every_paragraph_comes_verbatim_from_its_seed() -> None:
    """Nothing invented: each block of article text appears word for word in the raw page."""
    seeds = shared_path("seeds")
    sources, _ = load_sources(SOURCES)
    for source in sources:
        seed_name = source.meta.extra["seed"]
        seed = _words((seeds / seed_name).read_text(encoding="utf-8"))
        for block in source.blocks:
            for line in source.text[block.start : block.end].splitlines():
                assert _words(line) in seed, (source.meta.id, line[:60])


def test_metadata_is_only_what_the_pages_state() -> None:
    seeds = shared_path("seeds")
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
        seed = (seeds / meta.extra["seed"]).read_text(encoding="utf-8")
        for value in (meta.title, meta.outlet, meta.author):
            if value:
                assert value.strip() in seed
        assert meta.url is None  # no page states its address


def test_byline_blocks_are_verbatim_runs_of_their_raw_pages() -> None:
    """Each byline block is the page's credit lines as they stand there, in order and unbroken."""
    seeds = shared_path("seeds")
    sources, _ = load_sources(SOURCES)
    bylines = {
        s.meta.id: [s.text[b.start : b.end] for b in s.blocks if b.kind == "byline"]
        for s in sources
    }
    assert bylines["caixin-japan-russia-trade-barbs"] == [
        "Contact reporter Chen Lixiong (takehiro.masutomo@caixin.com) and editor Lu Zhenhua "
        "(zhenhualu@caixin.com)"
    ]
    assert bylines["voda-crisis-in-russian-japanese-relations-2022"][0].startswith(
        "Authors\nKristina Voda\nOccupation: Senior Researcher"
    )
    for source in sources:
        seed = _words((seeds / source.meta.extra["seed"]).read_text(encoding="utf-8"))
        for block in bylines[source.meta.id]:
            assert _words(block) in seed, (source.meta.id, block[:60])
        if (
            bylines[source.meta.id] and source.meta.author
        ):  # front matter says no more than the page
            assert source.meta.author in " ".join(bylines[source.meta.id])


def test_captions_and_references_are_marked() -> None:
    sources, _ = load_sources(SOURCES)
    kinds = {b.kind for s in sources for b in s.blocks}
    assert {"body", "caption", "references", "byline"} <= kinds
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


def _warnings(problems: list[Problem]) -> list[str]:
    assert not any(p.error for p in problems), problems
    return [str(p) for p in problems]


@pytest.mark.parametrize("date", ["March 2022", "2022-02-30", "2022-13", "22 March"])
def test_a_bad_date_is_a_warning_and_the_article_is_kept(tmp_path: Path, date: str) -> None:
    _write(tmp_path, "a.md", f"---\ntitle: Talks\ndate: {date}\n---\n\nThe talks stalled.\n")
    sources, problems = load_sources(tmp_path)
    (source,) = sources
    assert source.meta.date is None and source.meta.extra["date_note"] == date
    (warning,) = _warnings(problems)
    assert warning.startswith("warning: a.md:3: date") and "stays unknown" in warning


def test_a_bad_date_keeps_an_existing_date_note_and_a_bad_url_is_dropped(tmp_path: Path) -> None:
    head = "---\ntitle: T\ndate: spring\ndate_note: Said to be spring 2022.\nurl: nope\n---\n"
    _write(tmp_path, "a.md", head + "\nThe talks stalled.\n")
    (source,), problems = load_sources(tmp_path)
    assert source.meta.extra["date_note"] == "Said to be spring 2022."
    assert source.meta.date is None and source.meta.url is None
    assert len(_warnings(problems)) == 2


def test_yaml_dates_stay_the_text_the_file_states(tmp_path: Path) -> None:
    _write(tmp_path, "a.md", "---\ntitle: T\ndate: 2022-03-22\n---\n\nThe talks stalled.\n")
    (source,), problems = load_sources(tmp_path)
    assert source.meta.date == "2022-03-22" and problems == []


@pytest.mark.parametrize(
    ("text", "title"),
    [
        (
            "# Talks stall again\n\nNo progress was made.\n\n## Later\n\nStill none.\n",
            "Talks stall again",
        ),
        ("Talks stall again\n\nNo progress was made.\n", "Talks stall again"),
    ],
)
def test_markdown_without_front_matter_reads_like_text(
    tmp_path: Path, text: str, title: str
) -> None:
    _write(tmp_path, "a.md", text)
    (source,), problems = load_sources(tmp_path)
    assert source.meta.title == title and source.meta.outlet is None
    body = [source.text[b.start : b.end] for b in source.blocks]
    assert body[0] == "No progress was made." and "## Later" not in body
    (warning,) = _warnings(problems)
    assert "no front matter" in warning


def test_jsonl_bad_date_is_kept_as_date_note(tmp_path: Path) -> None:
    _write(tmp_path, "d.jsonl", '{"id": "a", "text": "Snow fell.", "date": "Spring 2020"}\n')
    (source,), problems = load_sources(tmp_path)
    assert source.meta.date is None and source.meta.extra == {"date_note": "Spring 2020"}
    assert len(_warnings(problems)) == 1


def test_skipped_entries_are_listed_with_the_reason(tmp_path: Path) -> None:
    import os

    _write(tmp_path, "good.md", GOOD)
    _write(tmp_path, "photo.jpg", b"\xff\xd8")
    _write(tmp_path, "LICENSE", "MIT")
    _write(tmp_path, ".hidden.md", GOOD)
    (tmp_path / "gone.md").symlink_to(tmp_path / "nowhere.md")
    (tmp_path / "self.md").symlink_to(tmp_path / "self.md")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "again").symlink_to(tmp_path)
    _write(tmp_path / "sub", "inner.txt", "Inner\n\nAn inner article about snow.\n")
    os.mkfifo(tmp_path / "pipe.txt")
    paths, skipped = scan_sources(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == ["good.md", "sub/inner.txt"]
    reasons = {p.path: p.message for p in skipped}
    use = "(use .md, .txt, .html, .htm, .jsonl)"
    assert reasons == {
        "LICENSE": f"skipped: files without an extension are not read {use}",
        "gone.md": f"skipped: a broken symbolic link (to {tmp_path / 'nowhere.md'})",
        "photo.jpg": f"skipped: .jpg files are not read {use}",
        "pipe.txt": "skipped: not a regular file (a pipe, socket or device)",
        "self.md": "skipped: a symbolic link loop",
        "sub/again": "skipped: a symbolic link loop",
    }
    assert not any(p.error for p in skipped)
    sources, problems = load_sources(tmp_path)  # reading lists them too, and still reads the rest
    assert len(sources) == 2 and {p.path for p in problems} >= set(reasons)


def test_the_span_of_an_html_quote_is_into_its_extracted_text(tmp_path: Path) -> None:
    page = (
        '<html lang="ja"><head><title>Snow</title></head><body><article>'
        "<p>Heavy snow closed the roads around Sapporo for two days &amp; nights.</p>"
        "<p>Trains to Asahikawa ran again on Friday after the line was cleared.</p>"
        "</article></body></html>"
    )
    _write(tmp_path, "page.html", page)
    (source,), _ = load_sources(tmp_path)
    assert source.meta.language == "ja"
    for block in source.blocks:
        quote = source.text[block.start : block.end]
        assert quote in (
            "Heavy snow closed the roads around Sapporo for two days & nights.",
            "Trains to Asahikawa ran again on Friday after the line was cleared.",
        )
    assert source.text.split("\n\n")[1].startswith("Trains")
    assert span_basis("page.html") == "extracted_text" and span_basis("a/b.HTM") == "extracted_text"
    assert span_basis("docs.jsonl:12") == "jsonl_text" and span_basis("x.md") == "file"


def test_jsonl_problems_name_the_document_and_fields_are_trimmed(tmp_path: Path) -> None:
    lines = [
        '{"id": 7, "title": 3, "text": "Text."}',
        '{"id": "b", "text": "  "}',
        '{"text": "no id"}',
        '{"id": "c", "title": "  Kept  ", "author": " ", "text": "Some text."}',
    ]
    _write(tmp_path, "docs.jsonl", "\n".join(lines) + "\n")
    (source,), problems = load_sources(tmp_path / "docs.jsonl")
    assert [p.message for p in problems] == [
        "document 7: 'title' must be a string",
        "document 'b' has no 'text'",
        "document has no 'id' (a string or number)",
    ]
    assert (source.meta.title, source.meta.author, source.meta.path) == (
        "Kept",
        None,
        "docs.jsonl:4",
    )
