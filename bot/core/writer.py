"""Streaming one index generation's passages into its temporary folder, in corpus order.

Pieces read (by workers or in-process) and sources reused from the previous index arrive one
after the other: their texts and metadata go straight to the blob files, their passage columns
are kept as a few int64 arrays per piece, their token streams go to the stream files, their term
counts to the :class:`Assembler`.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO

import numpy as np

from bot.core.assemble import Assembler, Chunk
from bot.core.index import Index
from bot.core.reading import COLUMNS, Read
from bot.core.streams import StreamWriter


class GenerationWriter:
    """Texts, metadata and passage columns of one generation, written as they come."""

    def __init__(self, tmp: Path) -> None:
        self.texts: IO[bytes] = (tmp / "texts.bin").open("wb")
        self.metas: IO[bytes] = (tmp / "sources.jsonl").open("wb")
        self.assembler = Assembler()
        self.streams = StreamWriter(tmp)
        self.columns: dict[str, list[np.ndarray]] = {k: [] for k in (*COLUMNS, "meta_len")}
        self.sources = 0

    def add(self, read: Read) -> None:
        """Append one piece's sources and passages."""
        self.texts.write(read.texts)
        self.metas.write(read.metas)
        for name in COLUMNS:
            values = read.columns[name]
            self.columns[name].append(values + self.sources if name == "source" else values)
        self.columns["meta_len"].append(read.meta_lens)
        assert read.chunk.streams is not None
        self.streams.add(read.chunk.streams)
        self.assembler.add(read.chunk)
        self.sources += len(read.ids)

    def reuse(self, old: Index, first: int, count: int, old_terms: list[str]) -> None:
        """Copy sources ``first…first+count`` of the previous index, passages and all."""
        lo, hi = np.searchsorted(old.passage_source, [first, first + count])
        text_lo, text_hi = int(old.text_offsets[lo]), int(old.text_offsets[hi])
        self.texts.write(old.texts[text_lo:text_hi])
        copied = {
            "source": old.passage_source[lo:hi].astype(np.int64) + (self.sources - first),
            "start": old.passage_start[lo:hi],
            "end": old.passage_end[lo:hi],
            "kind": old.passage_kind[lo:hi],
            "text_len": np.diff(old.text_offsets[lo : hi + 1]),
        }
        for name, values in copied.items():
            self.columns[name].append(np.asarray(values, dtype=np.int64))
        offsets = old.sources._offsets[first : first + count + 1]
        self.metas.write(old.sources._blob[int(offsets[0]) : int(offsets[-1])])
        self.columns["meta_len"].append(np.diff(offsets).astype(np.int64))
        self.sources += count
        self.streams.add(old.streams.slice(int(lo), int(hi)))
        fwd = old.forward_counts
        e_lo, e_hi = int(fwd.indptr[lo]), int(fwd.indptr[hi])
        self.assembler.add(
            Chunk(
                old_terms,
                np.asarray(fwd.terms[e_lo:e_hi]),
                np.asarray(fwd.counts[e_lo:e_hi]),
                np.diff(fwd.indptr[lo : hi + 1]),
                np.asarray(old.doc_len[lo:hi]),
            )
        )

    def close(self) -> dict[str, np.ndarray]:
        """Finish the files; the passage table as arrays."""
        self.streams.close()
        self.texts.close()
        self.metas.close()
        cat = {
            k: np.concatenate(v) if v else np.zeros(0, np.int64) for k, v in self.columns.items()
        }
        self.columns = {}
        return {
            "passage_source": cat["source"].astype(np.int32),
            "passage_start": cat["start"],
            "passage_end": cat["end"],
            "passage_kind": cat["kind"].astype(np.uint8),
            "text_offsets": np.concatenate([[0], np.cumsum(cat["text_len"])]).astype(np.int64),
            "source_offsets": np.concatenate([[0], np.cumsum(cat["meta_len"])]).astype(np.int64),
        }
