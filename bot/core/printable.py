"""Text safe to show a person: control characters from sources, questions or logs made visible.

A source (or a logged question) may hold ``ESC[2J``, an OSC title sequence or BEL; shown raw,
one article could clear a screen or retitle a terminal. :func:`printable` is the one place that
neutralises them, one character for one (so spans into the text stay valid); :func:`json_text`
keeps JSON output escaped, including the DEL and C1 characters ``json.dumps`` leaves raw.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

# C0 controls become their Unicode "control picture" (ESC → ␛, BEL → ␇, CR → ␍), DEL → ␡ and
# the C1 controls (0x80–0x9F, which some terminals treat as ESC sequences) → U+FFFD. A newline
# stays a newline and a tab becomes a space.
_VISIBLE = {code: 0x2400 + code for code in range(0x20)}
_VISIBLE |= {0x0A: 0x0A, 0x09: 0x20, 0x7F: 0x2421}
_VISIBLE |= {code: 0xFFFD for code in range(0x80, 0xA0)}
_RAW_IN_JSON = re.compile("[\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with every control character but the newline replaced by a visible symbol."""
    return text.translate(_VISIBLE)


def json_text(value: Any, **options: Any) -> str:
    """``json.dumps`` (UTF-8 kept readable) with DEL and C1 characters escaped as ``\\u00XX``."""
    text = json.dumps(value, ensure_ascii=False, **options)
    return _RAW_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


class PrintableLogs(logging.Filter):
    """A handler filter that makes each log line printable before any formatter (colours kept)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace the message (and the traceback text) by its printable form; keep the record."""
        record.msg, record.args = printable(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = printable(logging.Formatter().formatException(record.exc_info))
        return True
