"""Incremental updates as a delta segment: a new article is quotable in a second at any size.

The sources added or changed since the last full build (the base) are read into a small delta
segment; the base's passages of removed or changed sources are marked gone; the collection's
statistics (N, df, average length, idf) are computed for the whole and stored with the delta.
Nothing of the base is rewritten, so the cost follows the delta, not the archive. The result
answers exactly as a full rebuild (``bot.core.segments``). When the delta outgrows
``MERGE_SHARE`` of the base — or the update is one a delta cannot express (passage vectors,
duplicate source ids, documents skipped in the base) — :func:`apply_delta` declines and the
caller merges: a full re-assembly, byte for byte a full rebuild.
"""

from __future__ import annotations

import bisect
import json
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bot.core.assemble import average_length, weigh
from bot.core.bm25 import BM25Params, idf, zero_weights
from bot.core.build import BuildReport, _add_files, _Previous
from bot.core.generation import finish_generation, generation_name
from bot.core.index import ARRAYS, Index, load_index, load_segment
from bot.core.manifest import FILES, changed_files, new_manifest, read_files
from bot.core.segments import MIX, SegmentedIndex
from bot.core.source_files import scan_sources, source_base
from bot.core.vocabulary import Vocabulary, encode_vocabulary
from bot.core.writer import GenerationWriter

MERGE_SHARE = 0.1  # a delta (or the base's passages gone) past this share of the base: merge


def apply_delta(
    sources_dir: Path, index_dir: Path, params: BM25Params, previous: Index
) -> BuildReport | None:
    """Write the changed sources as a delta over ``previous``'s base and swap it in.

    None (nothing written) when a merge is due or a delta cannot express the update.
    """
    began = time.perf_counter()
    if previous.extras:
        return None
    base = previous.base if isinstance(previous, SegmentedIndex) else previous
    old_delta = previous.delta if isinstance(previous, SegmentedIndex) else None
    paths, passed_over = scan_sources(sources_dir)
    root = source_base(sources_dir)
    files = read_files(index_dir, previous.manifest)
    _, removed, changed = changed_files(sources_dir, files)
    stale = set(removed) | set(changed)
    live = {r: e for r, e in files.items() if e.get("segment") != "delta" and r not in stale}
    if not paths or any(e["skipped"] for e in live.values()):
        return None
    base_manifest = previous.manifest.get("base", previous.manifest)
    base_files = read_files(index_dir, {"generation": base_manifest["generation"]})
    alive = np.ones(base.size, dtype=bool)
    for rel in set(base_files) - set(live):
        first, count = base_files[rel]["sources"]
        lo, hi = np.searchsorted(base.passage_source, [first, first + count])
        alive[lo:hi] = False
    rels = {path: path.relative_to(root).as_posix() for path in paths}
    delta_paths = [path for path in paths if rels[path] not in live]
    old = {r: {k: v for k, v in e.items() if k != "segment"} for r, e in files.items()}
    delta_old = {r: e for r, e in old.items() if files[r].get("segment") == "delta"}
    if (
        _estimate(base, old_delta, delta_paths, rels, delta_old, stale, alive)
        > MERGE_SHARE * base.size
    ):
        return None
    generation = generation_name()
    tmp = index_dir / f".tmp-{generation}"
    tmp.mkdir(parents=True)
    try:
        writer = GenerationWriter(tmp)
        reuse = _Previous(old_delta, delta_old, set(delta_old) - stale, {})
        delta_files, problems, reread = _add_files(
            writer, None, delta_paths, root, reuse, None, None
        )
        arrays = writer.close()
        matrices = writer.assembler.finish(params)
        n_delta = len(matrices.doc_len)
        ids = {i for e in delta_files.values() for i in e["ids"]}
        clash = any(not ids.isdisjoint(e["ids"]) for e in live.values())
        if clash:  # which of two sources with one id is kept depends on where they lie
            shutil.rmtree(tmp, ignore_errors=True)
            return None
        mix = _statistics(params, base, alive, matrices)
        average = average_length(np.concatenate([base.doc_len[alive], matrices.doc_len]))
        local_idf = mix["idf"][mix["term_map"]]
        arrays |= {
            "indptr": matrices.indptr,
            "docs": matrices.docs,
            "weights": weigh(
                params,
                matrices.indptr,
                matrices.docs,
                matrices.tf,
                matrices.doc_len,
                average,
                local_idf,
            ),
            "tf": matrices.tf,
            "zero": zero_weights(params, local_idf),
            "idf": local_idf,
            "doc_len": matrices.doc_len.astype(np.int32),
            "forward_indptr": matrices.forward_indptr,
            "forward_terms": matrices.forward_terms,
            "forward_counts": matrices.forward_counts,
        }
        blob, arrays["vocab_offsets"], arrays["vocab_table"] = encode_vocabulary(matrices.terms)
        (tmp / "terms.bin").write_bytes(blob)
        (tmp / FILES).write_text(json.dumps(delta_files, ensure_ascii=False), encoding="utf-8")
        arrays = {n: np.ascontiguousarray(a, dtype=ARRAYS[n][0]) for n, a in arrays.items()}
        order = _corpus_order(paths, rels, live, delta_files)
        mix |= _layout(order, base, arrays)
        runs = mix["runs"].reshape(-1, 5)
        for name, array in mix.items():
            np.save(tmp / f"{MIX}{name}.npy", array, allow_pickle=False)
        counts = {
            "sources": int((runs[:, 4] - runs[:, 3]).sum()),
            "passages": len(mix["doc_len"]),
            "vocabulary": len(mix["alphabetical"]),
        }
        own = {"sources": writer.sources, "passages": n_delta, "vocabulary": len(matrices.terms)}
        skipped = [s for f in delta_files.values() for s in f["skipped"]]
        manifest: dict[str, Any] = {
            **new_manifest(params, counts, skipped),
            "base": {k: base_manifest[k] for k in ("generation", "sizes", "digests", "counts")},
            "delta": {
                "counts": own,
                "dropped": sorted(set(base_files) - set(live)),
            },
        }
        if not counts["passages"]:
            shutil.rmtree(tmp, ignore_errors=True)
            return None
        finish_generation(index_dir, tmp, generation, manifest, arrays)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    written = load_index(index_dir)  # the delta's every digest and id checked, the base's cheaply
    load_segment(
        index_dir, {**written.manifest, "counts": manifest["delta"]["counts"]}, True, (MIX,)
    )
    return BuildReport(
        counts["sources"],
        counts["passages"],
        counts["vocabulary"],
        time.perf_counter() - began,
        passed_over + problems,
        reread,
        n_delta,
    )


def _estimate(
    base: Index,
    old_delta: Index | None,
    paths: list[Path],
    rels: dict[Path, str],
    delta_old: dict[str, dict[str, Any]],
    stale: set[str],
    alive: np.ndarray,
) -> float:
    """Passages the delta would hold or the base lose: the larger (before reading anything).

    Files to read are counted at the base's bytes of text per passage (an overestimate).
    """
    kept = 0
    if old_delta is not None:
        for rel, entry in delta_old.items():
            if rel not in stale:
                first, count = entry["sources"]
                lo, hi = np.searchsorted(old_delta.passage_source, [first, first + count])
                kept += int(hi - lo)
    fresh = sum(p.stat().st_size for p in paths if rels[p] not in delta_old or rels[p] in stale)
    per_passage = max(len(base.texts) / max(base.size, 1), 1.0)
    return max(kept + fresh / per_passage, base.size - int(alive.sum()))


def _statistics(
    params: BM25Params, base: Index, alive: np.ndarray, matrices: Any
) -> dict[str, np.ndarray]:
    """Combined term ids, df, idf and zero weights of the base's live passages and the delta's."""
    vocab = base.vocabulary
    n_base = len(vocab)
    term_map = np.empty(len(matrices.terms), dtype=np.int32)
    new: list[int] = []
    for local, term in enumerate(matrices.terms):
        found = vocab.get(term)
        if found is None:
            term_map[local] = n_base + len(new)
            new.append(local)
        else:
            term_map[local] = found
    df = np.zeros(n_base + len(new), dtype=np.int64)
    df[:n_base] = np.diff(base.postings.indptr)
    gone = np.flatnonzero(~alive)
    if len(gone):
        _, terms, _ = base.forward(gone)
        df[:n_base] -= np.bincount(terms, minlength=n_base)
    df[term_map] += np.diff(matrices.indptr)
    listed = _Listed(vocab)
    places = [bisect.bisect_left(listed, matrices.terms[local]) for local in new]
    alphabetical = np.insert(np.arange(n_base), places, n_base + np.arange(len(new)))
    in_use = alphabetical[df[alphabetical] > 0].astype(np.int32)
    n_docs = int(alive.sum()) + len(matrices.doc_len)
    term_idf = np.zeros(len(df))
    term_idf[in_use] = idf(params, df[in_use], n_docs)
    return {
        "term_map": term_map,
        "new_terms": np.asarray(new, dtype=np.int32),
        "df": df,
        "idf": term_idf,
        "zero": zero_weights(params, term_idf),
        "alphabetical": in_use,
        "live": alive.astype(np.uint8),
    }


class _Listed(Sequence[str]):
    """The base's sorted terms as a sequence, for a binary search."""

    def __init__(self, vocab: Vocabulary) -> None:
        self._vocab = vocab

    def __len__(self) -> int:
        return len(self._vocab)

    def __getitem__(self, i: Any) -> Any:
        return self._vocab.term(i)


def _corpus_order(
    paths: list[Path],
    rels: dict[Path, str],
    live: dict[str, dict[str, Any]],
    delta_files: dict[str, dict[str, Any]],
) -> list[tuple[int, int, int]]:
    """Each source file in corpus order as (segment, first source, source count)."""
    order = []
    for path in paths:
        rel = rels[path]
        which, entry = (0, live[rel]) if rel in live else (1, delta_files[rel])
        order.append((which, *entry["sources"]))
    return order


def _layout(
    order: list[tuple[int, int, int]], base: Index, delta: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """The runs of corpus order and the per-passage arrays a full rebuild would hold."""
    owners = (np.asarray(base.passage_source), delta["passage_source"])
    runs: list[list[int]] = []
    for which, first, count in order:
        if not count:
            continue
        lo, hi = (int(v) for v in np.searchsorted(owners[which], [first, first + count]))
        if runs and runs[-1][0] == which and runs[-1][2] == lo and runs[-1][4] == first:
            runs[-1][2], runs[-1][4] = hi, first + count
        else:
            runs.append([which, lo, hi, first, first + count])
    names = ("passage_source", "passage_start", "passage_end", "passage_kind", "doc_len")
    columns = {n: (np.asarray(getattr(base, n)), delta[n]) for n in names if n != "passage_source"}
    out: dict[str, list[np.ndarray]] = {n: [] for n in names}
    source = 0
    for which, lo, hi, first, last in runs:
        out["passage_source"].append(owners[which][lo:hi] - first + source)
        for name, pair in columns.items():
            out[name].append(pair[which][lo:hi])
        source += last - first
    layout = {n: np.concatenate(v).astype(ARRAYS[n][0]) for n, v in out.items() if v}
    if not runs:
        layout = {n: np.zeros(0, ARRAYS[n][0]) for n in names}
    layout["runs"] = np.asarray(runs, dtype=np.int64).reshape(-1)
    return layout
