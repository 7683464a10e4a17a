"""Read a ``.jsonl`` archive: one document per line, each a source with the metadata it states."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bot.core.source_files import Problem
from bot.core.sources import BAD_DATE, Source, SourceMeta, plain_source, valid_date


def read_jsonl(
    path: Path,
    base: Path,
    at: Callable[[int], None] | None,
    lines: tuple[int, int | None, int] = (0, None, 1),
) -> Iterator[tuple[Source | None, list[Problem]]]:
    """One document per line: ``id``, ``text``, optional ``title``, outlet, author, date, url.

    ``lines`` limits the reading to whole lines from one byte offset to another (None: the end),
    numbered from the third value (a build reads one archive in pieces, in parallel).
    """
    rel = path.relative_to(base).as_posix()
    start, end, number = lines
    with path.open("rb") as handle:
        handle.seek(start)
        number -= 1
        position = start  # where the next line starts (counted: no seek per line)
        for raw in handle:
            if end is not None and position >= end:
                break
            number += 1
            position += len(raw)
            if at is not None:
                at(position)
            if not raw.strip():
                continue
            try:
                record = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                yield None, [Problem(rel, "not UTF-8; the line is skipped", number)]
                continue
            except json.JSONDecodeError as exc:
                yield None, [Problem(rel, f"invalid JSON ({exc.msg}); the line is skipped", number)]
                continue
            yield _json_document(record, rel, number)


_FIELDS = ("title", "outlet", "author", "date", "url", "language")


def _label(doc_id: Any) -> str:
    """How a problem names the document."""
    return f"document {doc_id!r}" if doc_id is not None else "document"


def _json_document(record: Any, rel: str, number: int) -> tuple[Source | None, list[Problem]]:
    if not isinstance(record, dict):
        return None, [Problem(rel, "expected a JSON object per line", number)]
    doc_id = record.get("id")
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        return None, [Problem(rel, f"{_label(doc_id)} has no 'text'", number)]
    if not isinstance(doc_id, (str, int)) or isinstance(doc_id, bool) or not str(doc_id).strip():
        return None, [Problem(rel, "document has no 'id' (a string or number)", number)]
    values: dict[str, str | None] = {}
    for key in _FIELDS:
        value = record.get(key)
        if value is None:
            values[key] = None
        elif isinstance(value, str):
            values[key] = value.strip() or None
        else:
            return None, [Problem(rel, f"{_label(doc_id)}: {key!r} must be a string", number)]
    warnings, extra = [], {}
    if values["date"] and not valid_date(values["date"]):
        message = f"{_label(doc_id)}: {BAD_DATE.format(values['date'])}; kept as date_note"
        warnings.append(Problem(rel, message, number, False))
        extra["date_note"], values["date"] = values["date"], None
    meta = SourceMeta(id=str(doc_id), path=f"{rel}:{number}", extra=extra, **values)
    source = plain_source(meta, text)
    if source is None:
        return None, [Problem(rel, f"{_label(doc_id)} has no text", number)]
    return source, warnings
