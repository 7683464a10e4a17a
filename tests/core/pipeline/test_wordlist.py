"""The English word list read directly gives exactly wordfreq's Zipf frequencies."""

from __future__ import annotations

import subprocess
import sys

import pytest
from wordfreq import get_frequency_list, zipf_frequency

from bot.core.pipeline import wordlist

OTHERS = ["newsbot", "kuril", "lavrov", "zzzzq", "Tokyo", "café", "don't", "2023", "co2", "ümlaut"]


def test_every_word_of_the_list_and_others_score_as_wordfreq_says() -> None:
    words = [w for bucket in get_frequency_list("en", "small") for w in bucket]
    assert len(words) > 20_000
    for word in [*words, *OTHERS]:
        assert wordlist.zipf_frequency(word) == zipf_frequency(word, "en", wordlist="small"), word


def test_the_large_list_scores_rare_words_as_wordfreq_says() -> None:
    words = [w for bucket in get_frequency_list("en", "large") for w in bucket]
    assert len(words) > 300_000
    for word in [*words[::37], "signer", "gestated", *OTHERS]:
        expected = zipf_frequency(word, "en", wordlist="large")
        assert wordlist.zipf_frequency(word, "large") == expected, word
    assert wordlist.zipf_frequency("signer", "large") > 0 == wordlist.zipf_frequency("signer")


def test_an_unreadable_list_falls_back_to_wordfreq(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wordlist, "_buckets", lambda _: None)
    assert wordlist.zipf_frequency("treaty") == zipf_frequency("treaty", "en", wordlist="small")


def test_a_lower_case_word_does_not_import_wordfreq() -> None:
    code = (
        "import sys; from bot.core.pipeline.wordlist import zipf_frequency; "
        "assert zipf_frequency('treaty') > 3 and zipf_frequency('qzxv') == 0; "
        "print('wordfreq' in sys.modules)"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "False"
