"""Extra arrays: what another stage keeps per passage in a build (the semantic stage's vectors).

The index format knows nothing of what they hold; a build takes them as :class:`ExtraArray`
objects, files named ``extra-*.npy``, and each may reuse what the index it replaces holds
(:class:`PassageStore`: a loaded index, or an older format's texts and extras).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

EXTRA = "extra-"  # the file-name prefix of an extra array


class PassageStore(Protocol):
    """What an extra array reads of the index it replaces: an :class:`Index`, or the texts and
    extras of one an older format wrote (:class:`bot.core.previous.PreviousPassages`)."""

    @property
    def generation(self) -> Path:
        """The folder it was read from."""
        ...

    @property
    def size(self) -> int:
        """How many passages it holds."""
        ...

    def text(self, passage: int) -> str:
        """The verbatim text of a passage."""
        ...

    def extra(self, name: str, dtype: str) -> np.ndarray | None:
        """An extra array of ``dtype``, or None when it has none."""
        ...


class ExtraArray(Protocol):
    """An array a later stage keeps per passage in the build (e.g. passage vectors)."""

    name: str  # the file is ``{name}.npy``; starts with EXTRA
    what: str  # for the rebuild's reason: "passage vectors"
    required: bool  # an index without it is stale; else it is only kept up to date

    def compute(self, texts: Sequence[str], current: PassageStore | None) -> np.ndarray | None:
        """The 1-D array for these passage texts (``current``: the index being replaced), or
        None to leave it out (an optional extra the current index does not have)."""
        ...
