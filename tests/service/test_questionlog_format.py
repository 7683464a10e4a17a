"""The question log's own formatting of a line (time and JSON) gives what the standard library's
general functions give."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

import pytest

from bot.service.questionlog import QuestionLog, _line, iso_time


def reference(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat(timespec="milliseconds")


def test_iso_time_is_datetimes_text() -> None:
    rng = random.Random(7)
    edges = [0.0, 1.0, 59.9995, 59.9999994, 59.9999996, 1e9 + 0.0005, 1_764_650_000.9999999]
    spread = [rng.uniform(0, 4e9) for _ in range(20_000)]
    now = [1_764_650_000 + n / 997 for n in range(5_000)]  # many lines within a few seconds
    for seconds in edges + spread + now:
        assert iso_time(seconds) == reference(seconds), seconds


def test_a_line_is_json_dumps_text() -> None:
    entry = {
        "question": 'Qu\u2019est-ce que « Tōkyō » "quoted" \\ \n\t\x00 \U0001f600',
        "score": 33.0874,
        "tiny": 1e-7,
        "big": 1.5e300,
        "k": 3,
        "none": None,
        "flags": [True, False],
        "passages": [{"id": 30, "source": "x", "score": -0.5}],
        "empty": {},
    }
    expected = json.dumps(entry, ensure_ascii=False) + "\n"
    assert _line(entry) == expected.encode("utf-8")


def test_an_entry_that_is_not_json_is_counted_lost(tmp_path: Path) -> None:
    log = QuestionLog(tmp_path / "q.jsonl", salt="s")
    with pytest.raises(TypeError, match="not JSON serializable"):
        _line({"bad": object()})
    for question, index in (("bad", object()), ("fine", "g1")):
        log.record(
            frontend="http",
            user_id=None,
            question=question,
            answer=None,
            latency_ms=1.0,
            k=3,
            index=index,  # type: ignore[arg-type]  # an object the line cannot hold
        )
    log.close()
    written = [json.loads(x) for x in (tmp_path / "q.jsonl").read_text().splitlines()]
    assert [e["question"] for e in written] == ["fine"] and log.dropped == 1
