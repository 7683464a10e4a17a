"""Static word vectors offline: WordLlama's ``l2_supercat`` (256 dims), averaged over a text.

The PyPI package ``wordllama`` (MIT) ships the vectors (``weights/l2_supercat_256.safetensors``,
float16, never a pickle) and their tokenizer inside its wheel; they are read from there, and
nothing is fetched from a model hub. The package itself is not imported: its loader looks for the
tokenizer under a folder name the wheel does not use and then downloads it, and its inference
module configures the root logger when imported. The computation is WordLlama's ``embed(texts,
norm=True)``: its tokens (no special tokens, no truncation) looked up, averaged, L2-normalised;
tests check it against the package's own. No network layers, so a question costs well under a
millisecond and the vectors load in a few tens of milliseconds.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from bot.core.embedding import SemanticUnavailable

PACKAGE: Final = "wordllama"
NAME: Final = "wordllama-l2-supercat"
DIM: Final = 256
_WEIGHTS: Final = ("weights", "l2_supercat_256.safetensors")
_TOKENIZER: Final = ("tokenizers", "l2_supercat_tokenizer_config.json")
_TENSOR: Final = "embedding.weight"
_BATCH: Final = 256  # texts whose token rows are gathered at a time
_REINSTALL: Final = "pip install --force-reinstall 'wordllama>=0.4.0.post1,<0.5'"


@dataclass(frozen=True)
class StaticFiles:
    weights: Path
    tokenizer: Path


def locate_static_files() -> StaticFiles:
    """The vectors and tokenizer inside the installed package, found without importing it;
    SemanticUnavailable, saying how to install, when they are missing."""
    spec = importlib.util.find_spec(PACKAGE)
    roots = spec.submodule_search_locations if spec is not None else None
    for root in roots or ():
        files = StaticFiles(Path(root).joinpath(*_WEIGHTS), Path(root).joinpath(*_TOKENIZER))
        if files.weights.is_file() and files.tokenizer.is_file():
            return files
    raise SemanticUnavailable(
        f"the static word vectors ({PACKAGE}'s {_WEIGHTS[1]}) are not installed; "
        f"install with: {_REINSTALL}"
    )


def static_installed() -> bool:
    """Whether the static vectors can be used here."""
    try:
        locate_static_files()
    except SemanticUnavailable:
        return False
    return True


class StaticEmbedder:
    """``encode(texts)`` → (n, 256) float32 unit rows: the mean of the texts' token vectors."""

    dim: int = DIM
    name: str = NAME

    def __init__(self, files: StaticFiles | None = None) -> None:
        files = files or locate_static_files()
        # Imported here so that importing this module stays cheap for callers that never embed.
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        self.signature = f"{NAME}-{DIM}"  # what the vectors depend on
        tokenizer = Tokenizer.from_file(os.fspath(files.tokenizer))
        tokenizer.no_padding()
        tokenizer.no_truncation()
        self._tokenizer = tokenizer
        self._vectors: npt.NDArray[np.float16] = load_file(os.fspath(files.weights))[_TENSOR]

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Embed texts; a text with no tokens gets a zero row. Batches of ``_BATCH`` texts keep
        the token rows in memory small at rebuild."""
        if isinstance(texts, str):
            raise TypeError("encode() takes a list of strings, not a string")
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for start in range(0, len(texts), _BATCH):
            out[start : start + _BATCH] = self._mean_rows(list(texts[start : start + _BATCH]))
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, np.float32(1e-12))

    def _mean_rows(self, texts: list[str]) -> npt.NDArray[np.float32]:
        encodings = self._tokenizer.encode_batch(texts, add_special_tokens=False)
        lengths = np.array([len(e.ids) for e in encodings], dtype=np.int64)
        ids = np.concatenate([np.asarray(e.ids, dtype=np.int64) for e in encodings])
        np.clip(ids, 0, len(self._vectors) - 1, out=ids)
        means = np.zeros((len(texts), DIM), dtype=np.float32)
        filled = lengths > 0
        if filled.any():
            starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])[filled]
            sums = np.add.reduceat(self._vectors[ids], starts, axis=0, dtype=np.float32)
            means[filled] = sums / lengths[filled, None]
        return means
