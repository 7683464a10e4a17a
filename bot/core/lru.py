"""The one bounded cache for caches held by objects: a thread-safe least-recently-used map.

Used by the answer cache, the Discord front end's remembered answers, the backend's passage
tokens and the index's decoded source metadata. Pure functions on the hot path (the tokenizer's
word normalisation, word frequencies) are memoised with ``functools.lru_cache``, the standard
library's C implementation of the same policy.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LruMap(Generic[K, V]):
    """A dict keeping only the ``size`` most recently used entries; safe across threads."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._data)

    def __setitem__(self, key: K, value: V) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def get(self, key: K) -> V | None:
        """The value (now most recently used), or None."""
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._data.clear()
