"""LruMap: bounded, least recently used out first, safe when threads share it."""

from __future__ import annotations

import threading
from pathlib import Path

from bot.core.lru import LruMap


def test_the_least_recently_used_entry_goes_first() -> None:
    cache: LruMap[str, int] = LruMap(2)
    cache["a"], cache["b"] = 1, 2
    assert cache.get("a") == 1  # "a" is now the most recent
    cache["c"] = 3
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)
    assert len(cache) == 2
    cache.clear()
    assert len(cache) == 0


def test_threads_sharing_a_small_map_never_break_it() -> None:
    cache: LruMap[int, int] = LruMap(8)
    failures: list[BaseException] = []

    def hammer(offset: int) -> None:
        try:
            for n in range(20_000):
                cache[(n + offset) % 13] = n
                cache.get((n * 7 + offset) % 13)
        except BaseException as exc:  # pragma: no cover - what the test is looking for
            failures.append(exc)

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures
    assert len(cache) <= 8


def test_the_index_keeps_a_bounded_number_of_decoded_sources(tmp_path: Path) -> None:
    from bot.core.index import load_index
    from bot.core.pipeline.engine import Engine
    from tests.helpers import write_corpus

    Engine.open(write_corpus(tmp_path / "sources"), tmp_path / "index")
    table = load_index(tmp_path / "index").sources
    table._cache.size = 1
    first, second = table[0], table[1]
    assert table[1] is second and table[0] is not first  # the older one was let go
    assert table[0] == first
