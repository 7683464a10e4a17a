"""The stored vocabulary: sorted terms, a hash table as arrays, looked up without a dict."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from bot.core.bm25 import BM25Params
from bot.core.build import ensure_index
from bot.core.vocabulary import Vocabulary, encode_vocabulary, sorted_ids


def test_every_term_is_found_and_unknown_ones_are_not() -> None:
    rng = random.Random(3)
    alphabet = "abcdefghijklmnopqrstuvwxyzéß外務省мир"
    terms = sorted({"".join(rng.choices(alphabet, k=rng.randint(1, 8))) for _ in range(5000)})
    blob, offsets, table = encode_vocabulary(terms)
    vocabulary = Vocabulary(blob, offsets, table)
    assert len(vocabulary) == len(terms) and list(vocabulary) == terms
    assert all(vocabulary.get(t) == i and vocabulary[t] == i for i, t in enumerate(terms))
    assert vocabulary.term(17) == terms[17]
    for unknown in ("", "zzzzzzzzz", "外務省外務省外"):
        assert unknown not in vocabulary and vocabulary.get(unknown) is None
    with pytest.raises(KeyError):
        vocabulary["zzzzzzzzz"]
    empty = Vocabulary(*encode_vocabulary([]))
    assert len(empty) == 0 and empty.get("a") is None


def test_sorted_ids_maps_old_ids_to_sorted_positions() -> None:
    terms, new_of_old = sorted_ids(["pear", "apple", "fig"])
    assert terms == ["apple", "fig", "pear"] and list(new_of_old) == [2, 0, 1]


def test_an_index_of_an_older_format_is_rebuilt_not_refused(corpus: tuple[Path, Path]) -> None:
    sources, index_dir = corpus
    manifest = json.loads((index_dir / "manifest.json").read_text())
    manifest["format"] = 2
    (index_dir / "manifest.json").write_text(json.dumps(manifest))
    notes: list[str] = []
    assert ensure_index(sources, index_dir, BM25Params(), notes.append).size > 0
    assert notes[0] == "Rebuilding the index: it was built by another version of the index format."
