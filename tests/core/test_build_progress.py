"""The rebuild reports its progress as bytes of source files read, of their total."""

from __future__ import annotations

from pathlib import Path

from bot.core.bm25 import BM25Params
from bot.core.build import build_index
from tests.helpers import write_corpus


def test_progress_rises_to_the_total_bytes_of_the_sources(tmp_path: Path) -> None:
    sources = write_corpus(tmp_path / "s")
    lines = "".join(
        f'{{"id": "n{i}", "text": "Snow fell on Sapporo, day {i}."}}\n' for i in range(50)
    )
    (sources / "archive.jsonl").write_text(lines, encoding="utf-8")
    total = sum(p.stat().st_size for p in sources.iterdir())
    seen: list[tuple[int, int]] = []
    build_index(sources, tmp_path / "i", BM25Params(), progress=lambda *a: seen.append(a))
    assert {t for _, t in seen} == {total}
    done = [d for d, _ in seen]
    assert done == sorted(done) and done[-1] == total
    assert len(set(done)) > 50  # the .jsonl reports within the file, not only at its end
