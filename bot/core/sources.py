"""Read the article corpus: ``.md`` (YAML front matter + text), ``.txt``, ``.html`` or ``.jsonl``.

A source is kept as the exact decoded text of its file plus the spans of its blocks (paragraphs,
captions, references), so every quote can be proven to be a verbatim slice of it. Problems are
collected per file, never raised past the loader: a bad file is reported and skipped.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.core.source_files import Problem, scan_sources, source_base

if TYPE_CHECKING:
    import yaml

# Kinds of text a ``::: kind`` fenced block may hold; everything outside a fence is "body".
BLOCK_KINDS = ("body", "caption", "references", "note", "byline")
META_FIELDS = ("title", "outlet", "author", "date", "url", "language")
_KNOWN = frozenset(("id", "path", *META_FIELDS))  # SourceMeta's own fields
EXTRA_FIELDS = ("seed", "section", "date_note", "keywords", "pages", "identifier")
_DATE = re.compile(r"\d{4}(-\d{2}(-\d{2})?)?")
BAD_DATE = "date {!r} is not YYYY, YYYY-MM or YYYY-MM-DD, so the date stays unknown"
_HEADING = re.compile(r"#{1,6}\s+(\S.*)")


@cache
def _front_matter_loader() -> type[yaml.SafeLoader]:
    """Safe YAML that keeps dates as the text the file states (so a bad one is a warning); made
    at the first front matter read, so that only a rebuild imports the YAML parser."""
    import yaml

    class FrontMatterLoader(yaml.SafeLoader):
        pass

    FrontMatterLoader.yaml_implicit_resolvers = {
        first: [r for r in resolvers if r[0] != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    return FrontMatterLoader


@dataclass(frozen=True)
class SourceMeta:
    """What the article says about itself; ``None`` where it does not say."""

    id: str
    path: str
    title: str | None = None
    outlet: str | None = None
    author: str | None = None
    date: str | None = None
    url: str | None = None
    language: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The one JSON shape of a source: in answers, ``sources --json``, /api/sources, index."""
        data: dict[str, Any] = {"id": self.id, "path": self.path}
        data.update({name: getattr(self, name) for name in META_FIELDS})
        data.update(self.extra)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SourceMeta:
        """Inverse of :meth:`to_dict`."""
        extra = (
            {} if _KNOWN.issuperset(data) else {k: v for k, v in data.items() if k not in _KNOWN}
        )
        fields: dict[str, Any] = {k: data.get(k) for k in _KNOWN}
        return cls(**fields, extra=extra)


@dataclass(frozen=True)
class Block:
    """A paragraph-level unit of a source: ``text[start:end]`` of the source, of one kind."""

    kind: str
    start: int
    end: int
    heading: str | None = None


@dataclass(frozen=True)
class Source:
    """One article: metadata, the full decoded text, and its blocks."""

    meta: SourceMeta
    text: str
    blocks: tuple[Block, ...]


class _FormatError(Exception):
    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def span_basis(path: str) -> str:
    """What a quote's span is an offset into, for a source's ``path`` (see the README).

    ``file``: the source file's text (UTF-8, a byte-order mark dropped); ``jsonl_text``: the
    ``text`` field of the document's line; ``extracted_text``: the article text extracted from a
    web page, its paragraphs joined by blank lines.
    """
    name = path.rsplit(":", 1)[0] if ".jsonl:" in path.lower() else path
    base = name.rsplit("/", 1)[-1]  # a posix path: PurePath.suffix without making a Path
    dot = base.rfind(".")
    suffix = base[dot:].lower() if 0 < dot < len(base) - 1 else ""
    if suffix == ".jsonl":
        return "jsonl_text"
    return "extracted_text" if suffix in (".html", ".htm") else "file"


def valid_date(text: str) -> bool:
    """``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``, and a real month and day."""
    if not _DATE.fullmatch(text):
        return False
    try:
        dt.date.fromisoformat(text if len(text) == 10 else f"{text}-01-01"[:10])
    except ValueError:
        return False
    return True


def read_source(path: Path, root: Path) -> tuple[Source | None, list[Problem]]:
    """Parse one file; on error return ``None`` and the problem naming file and line."""
    rel = path.relative_to(root).as_posix()
    source_id = rel.rsplit(".", 1)[0]
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        byte = f"byte 0x{exc.object[exc.start]:02x} at offset {exc.start}"
        return None, [Problem(rel, f"not UTF-8 ({byte}); save it as UTF-8")]
    except OSError as exc:
        return None, [Problem(rel, f"cannot read: {exc.strerror}")]
    warnings: list[Problem] = []
    markdown = path.suffix.lower() == ".md"
    try:
        if markdown and text.lstrip("\n").startswith("---"):
            meta, body_at, body_line = _front_matter(text, source_id, rel, warnings)
        else:
            meta, body_at, body_line = _title_line(text, source_id, rel, warnings, markdown)
        blocks = tuple(_blocks(text, body_at, body_line, plain=not markdown))
    except _FormatError as exc:
        return None, [Problem(rel, exc.message, exc.line)]
    if not any(block.kind == "body" for block in blocks):
        return None, [Problem(rel, "no article text after the metadata")]
    return Source(meta, text, blocks), warnings


def read_file(
    path: Path,
    base: Path,
    at: Callable[[int], None] | None = None,
    lines: tuple[int, int | None, int] = (0, None, 1),
) -> Iterator[tuple[Source | None, list[Problem]]]:
    """The source(s) in one file: one for .md/.txt/.html, one per line for .jsonl.

    ``at`` is told how many bytes of a .jsonl file have been read, after each document;
    ``lines`` picks a range of a .jsonl file's lines (see ``read_jsonl``).
    """
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        from bot.core.jsonl_source import read_jsonl

        yield from read_jsonl(path, base, at, lines)
    elif suffix in (".html", ".htm"):
        from bot.core.html_source import read_html

        yield read_html(path, base)
    else:
        yield read_source(path, base)


def iter_sources(root: Path) -> Iterator[tuple[Path, Source | None, list[Problem]]]:
    """Stream every source under ``root`` with the file it came from; duplicates are errors."""
    base = source_base(root)
    seen: set[str] = set()
    paths, skipped = scan_sources(root)
    for problem in skipped:
        yield root / problem.path, None, [problem]
    for path in paths:
        for source, found in read_file(path, base):
            if source is not None and source.meta.id in seen:
                found = [
                    *found,
                    Problem(source.meta.path, f"duplicate source id {source.meta.id!r}"),
                ]
                source = None
            if source is not None:
                seen.add(source.meta.id)
            yield path, source, found


def load_sources(root: Path) -> tuple[list[Source], list[Problem]]:
    """Every readable source under ``root`` and the problems met on the way."""
    sources: list[Source] = []
    problems: list[Problem] = []
    for _, source, found in iter_sources(root):
        problems.extend(found)
        if source is not None:
            sources.append(source)
    return sources, problems


def plain_source(meta: SourceMeta, text: str) -> Source | None:
    """A source whose text has no markup: paragraphs separated by blank lines."""
    blocks = tuple(_blocks(text, 0, 1, plain=True))
    return Source(meta, text, blocks) if blocks else None


def _front_matter(
    text: str, source_id: str, rel: str, warnings: list[Problem]
) -> tuple[SourceMeta, int, int]:
    lines = text.splitlines(keepends=True)
    if lines[0].strip() != "---":
        raise _FormatError(1, "front matter must start on line 1 with '---'")
    closing = next((i for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), None)
    if closing is None:
        raise _FormatError(1, "front matter opened on line 1 is never closed with '---'")
    raw = "".join(lines[1:closing])
    import yaml

    try:
        data = yaml.load(raw, Loader=_front_matter_loader()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 1
        problem = getattr(exc, "problem", None) or "invalid YAML"
        context = getattr(exc, "context_mark", None)
        if context is not None and context.line + 2 != line:
            problem += f" (in what starts on line {context.line + 2})"
        raise _FormatError(line, f"invalid front matter: {problem}") from None
    if not isinstance(data, dict):
        raise _FormatError(2, "front matter must be a mapping of keys to values")
    key_line: dict[str, int] = {}
    for i, line in enumerate(lines[1:closing]):
        if m := re.match(r"([\w-]+)\s*:", line):
            key_line[m.group(1)] = i + 2
    meta = _validate_meta(data, key_line, source_id, rel, warnings)
    body_at = sum(len(line) for line in lines[: closing + 1])
    return meta, body_at, closing + 2


def _validate_meta(
    data: dict[Any, Any],
    key_line: dict[str, int],
    source_id: str,
    rel: str,
    warnings: list[Problem],
) -> SourceMeta:
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in data.items():
        line = key_line.get(str(key))
        if key not in META_FIELDS and key not in EXTRA_FIELDS:
            warnings.append(Problem(rel, f"unknown front-matter key {key!r} ignored", line, False))
            continue
        if key == "keywords":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise _FormatError(line, "'keywords' must be a list of strings")
        elif value is not None and not isinstance(value, str | int | float):
            raise _FormatError(line, f"{key!r} must be a single value, not {type(value).__name__}")
        elif value is not None:
            value = str(value).strip() or None
        if key == "date" and value is not None and not valid_date(value):
            note = "kept as date_note" if "date_note" not in data else "ignored"
            warnings.append(Problem(rel, f"{BAD_DATE.format(value)}; {note}", line, False))
            if "date_note" not in data:
                extra["date_note"] = value
            value = None
        if key == "url" and value is not None and not re.match(r"https?://\S+$", value):
            message = f"url {value!r} is not an http(s) address; the url stays unknown"
            warnings.append(Problem(rel, message, line, False))
            value = None
        (values if key in META_FIELDS else extra)[key] = value
    if not values.get("title"):
        warnings.append(Problem(rel, "no title in the front matter", 1, False))
    return SourceMeta(id=source_id, path=rel, extra=extra, **values)


def _title_line(
    text: str, source_id: str, rel: str, warnings: list[Problem], markdown: bool = False
) -> tuple[SourceMeta, int, int]:
    """A source without metadata: its first line (a Markdown heading's text) is the title."""
    offset = 0
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        offset += len(line)
        if line.strip():
            title = line.strip()
            if markdown and (m := _HEADING.fullmatch(title)):
                title = m.group(1).strip()
            what = "no front matter, so the first line is the title" if markdown else "plain text"
            message = f"{what}: outlet, author, date and url unknown"
            warnings.append(Problem(rel, message, None, False))
            return SourceMeta(id=source_id, path=rel, title=title), offset, number + 1
    raise _FormatError(None, "the file is empty")


def _blocks(text: str, offset: int, line_number: int, plain: bool = False) -> Iterator[Block]:
    """Split the body into blocks: blank-line separated paragraphs, ``::: kind`` fences, headings.

    ``plain`` text (.txt, .jsonl, extracted HTML) has paragraphs only: no fences, no headings.
    """
    fence: str | None = None
    fence_line = 0
    heading: str | None = None
    para: tuple[int, int] | None = None
    for line in text[offset:].splitlines(keepends=True):
        stripped = line.strip()
        if not plain and stripped.startswith(":::"):
            name = stripped[3:].strip()
            if para:
                yield Block(fence or "body", *para, heading)
                para = None
            if fence and name:
                raise _FormatError(
                    line_number, f"'::: {name}' inside '::: {fence}' (line {fence_line})"
                )
            if fence:
                fence = None
            elif not name:
                raise _FormatError(line_number, "closing ':::' without an opening '::: kind'")
            elif name not in BLOCK_KINDS[1:]:
                kinds = ", ".join(BLOCK_KINDS[1:])
                raise _FormatError(line_number, f"unknown block kind {name!r} (use {kinds})")
            else:
                fence, fence_line = name, line_number
        elif not stripped:
            if para:
                yield Block(fence or "body", *para, heading)
                para = None
        elif not plain and not fence and (m := _HEADING.fullmatch(stripped)):
            if para:
                yield Block("body", *para, heading)
                para = None
            heading = m.group(1).strip()
        else:
            start = offset + len(line) - len(line.lstrip())
            end = offset + len(line.rstrip())
            para = (para[0] if para else start, end)
        offset += len(line)
        line_number += 1
    if fence:
        raise _FormatError(fence_line, f"'::: {fence}' is never closed with ':::'")
    if para:
        yield Block("body", *para, heading)
