"""The passages of an index another format wrote, for what extras reuse across a format change.

A new index format makes the old index unloadable, but its passage texts and extra arrays
(passage vectors: minutes of CPU per thousand passages) are still good. This reads just those,
straight from the old generation folder, each file checked against the manifest's digest; any
doubt and it is not used (the extras are then computed afresh).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.core.manifest import MANIFEST, data_digest, file_digest


@dataclass(frozen=True)
class PreviousPassages:
    """Texts and extra arrays of an older generation (what :class:`ExtraArray` reads of it)."""

    generation: Path
    texts: bytes
    offsets: np.ndarray
    digests: dict[str, str]

    @property
    def size(self) -> int:
        """How many passages it holds."""
        return len(self.offsets) - 1

    def text(self, passage: int) -> str:
        """The verbatim text of a passage."""
        lo, hi = int(self.offsets[passage]), int(self.offsets[passage + 1])
        return self.texts[lo:hi].decode("utf-8")

    def extra(self, name: str, dtype: str) -> np.ndarray | None:
        """An extra array of ``dtype`` whose digest matches, or None."""
        path = self.generation / f"{name}.npy"
        if not _verified(path, self.digests):
            return None
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError):
            return None
        return array if array.dtype == np.dtype(dtype) and array.ndim == 1 else None


def previous_passages(index_dir: Path) -> PreviousPassages | None:
    """The passages of the index in ``index_dir`` whatever its format, or None when unreadable."""
    try:
        manifest = json.loads((index_dir / MANIFEST).read_text(encoding="utf-8"))
        generation = index_dir / str(manifest["generation"])
        digests = {str(k): str(v) for k, v in dict(manifest["digests"]).items()}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if generation.parent != index_dir or generation.is_symlink() or not generation.is_dir():
        return None
    texts_path, offsets_path = generation / "texts.bin", generation / "text_offsets.npy"
    if texts_path.is_symlink() or not _verified(offsets_path, digests):
        return None
    try:
        offsets = np.load(offsets_path, allow_pickle=False)
        texts = texts_path.read_bytes()  # read once: digested in memory
    except (OSError, ValueError):
        return None
    if data_digest(texts) != digests.get(texts_path.name):
        return None
    well_formed = (
        offsets.ndim == 1
        and offsets.dtype.kind in "iu"
        and len(offsets) >= 1
        and int(offsets[0]) == 0
        and int(offsets[-1]) == len(texts)
        and bool(np.all(np.diff(offsets) >= 0))
    )
    return PreviousPassages(generation, texts, offsets, digests) if well_formed else None


def _verified(path: Path, digests: dict[str, str]) -> bool:
    if path.is_symlink() or not path.is_file() or path.name not in digests:
        return False
    try:
        return file_digest(path) == digests[path.name]
    except OSError:
        return False
