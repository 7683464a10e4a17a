"""Text safe to show a person: control characters from sources, questions or logs made visible.

A source (or a logged question) may hold ``ESC[2J``, an OSC title sequence or BEL; shown raw,
one article could clear a screen or retitle a terminal. :func:`printable` is the one place that
neutralises them, one character for one (so spans into the text stay valid). JSON keeps them
escaped instead: :func:`json_text` (the CLI) and :func:`json_bytes` (the HTTP API's bodies and
the question log's lines) escape the DEL and C1 characters ``json.dumps`` leaves raw, both with
:func:`escape_raw_json`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

# C0 controls become their Unicode "control picture" (ESC → ␛, BEL → ␇, CR → ␍), DEL → ␡ and
# the C1 controls (0x80–0x9F, which some terminals treat as ESC sequences) → U+FFFD. A newline
# stays a newline and a tab becomes a space.
_VISIBLE = {code: 0x2400 + code for code in range(0x20)}
_VISIBLE |= {0x0A: 0x0A, 0x09: 0x20, 0x7F: 0x2421}
_VISIBLE |= {code: 0xFFFD for code in range(0x80, 0xA0)}
# In UTF-8, DEL is the byte 0x7F and a C1 control is 0xC2 then 0x80–0x9F; no other character's
# encoding holds either, so a body with neither byte (two memchr searches) needs no regex scan.
_RAW_IN_UTF8 = re.compile(rb"\x7f|\xc2[\x80-\x9f]")
_C1_IN_UTF8 = re.compile(rb"\xc2[\x80-\x9f]")


def printable(text: str) -> str:
    """``text`` with every control character but the newline replaced by a visible symbol."""
    return text.translate(_VISIBLE)


def escape_raw_json(data: bytes) -> bytes:
    """UTF-8 JSON with its raw DEL and C1 characters written as ``\\u00XX`` (same strings)."""
    if b"\x7f" in data or (b"\xc2" in data and _C1_IN_UTF8.search(data)):
        return _RAW_IN_UTF8.sub(_escape, data)
    return data


def _escape(match: re.Match[bytes]) -> bytes:
    """The JSON escape of one raw character matched in UTF-8."""
    return b"\\u%04x" % ord(match.group().decode("utf-8"))


def json_text(value: Any, **options: Any) -> str:
    """``json.dumps`` (UTF-8 kept readable) with DEL and C1 characters escaped as ``\\u00XX``."""
    # surrogatepass: a lone surrogate (from a non-UTF-8 argv, say) stays as json.dumps left it.
    data = json.dumps(value, ensure_ascii=False, **options).encode("utf-8", "surrogatepass")
    return escape_raw_json(data).decode("utf-8", "surrogatepass")


def _unencodable(value: object) -> object:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _made_once() -> Callable[[Any], str]:
    """``json.dumps(value, ensure_ascii=False)`` with its C encoder made once: ``dumps`` and
    ``JSONEncoder.encode`` make a new one (and its closures) at every call, which costs more
    than a log line's or a small answer's JSON does. No circular check: values are trees. Where
    the C accelerator is missing (or takes other arguments), the standard encoder."""
    fallback = json.JSONEncoder(ensure_ascii=False).encode
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return fallback
    try:
        chunks = make(
            None, _unencodable, json.encoder.encode_basestring, None, ": ", ", ", False, False, True
        )
    except TypeError:
        return fallback
    return lambda value: "".join(chunks(value, 0))


_dumps = _made_once()


def json_bytes(value: Any) -> bytes:
    """:func:`json_text` as UTF-8 bytes, for every response and log line: the HTTP API's bodies
    and the question log's lines."""
    return escape_raw_json(_dumps(value).encode("utf-8"))


class PrintableLogs(logging.Filter):
    """A handler filter that makes each log line printable before any formatter (colours kept)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace the message (and the traceback text) by its printable form; keep the record."""
        record.msg, record.args = printable(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = printable(logging.Formatter().formatException(record.exc_info))
        return True
