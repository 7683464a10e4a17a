"""Votes on answers: logged with the user hash, counted in /metrics, reported (last vote wins)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from bot.frontends.cli.main import main
from bot.service.service import Request, Service
from bot.service.votes import Vote, summarise_votes
from tests.helpers import ROOT, service_settings

QUESTION = "How many Japanese lived on the islands?"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in tmp_path so no config.yaml or index of the repository is picked up."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NEWSBOT_LOG_SALT", "test-salt")


def lifetime(settings: Any, votes: list[tuple[int, str, str, int | None]]) -> Service:
    """One run of the service (a bot start to a restart): ask once, record ``votes``."""

    async def go() -> Service:
        service = await asyncio.to_thread(Service.open, settings)
        request = Request(QUESTION, frontend="discord", k=2, user_id=1)
        engine, answer = await service.ask_with_engine(request)
        for user, answer_id, vote, quote in votes:
            service.record_vote(Vote("discord", user, answer_id, answer, vote, quote), engine)
        await service.aclose()
        return service

    return asyncio.run(go())


def test_votes_are_logged_counted_and_the_last_per_user_and_answer_wins(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = service_settings(tmp_path).model_copy(update={"sources": ROOT / "sources"})
    first = lifetime(
        settings,
        [(7, "a1", "up", None), (8, "a1", "down", None), (9, "a2", "up", None)],
    )
    metrics = first.metrics.registry
    assert metrics.value("newsbot_answer_votes_total", frontend="discord", vote="up") == 2
    assert metrics.value("newsbot_answer_votes_total", frontend="discord", vote="down") == 1
    # after a restart user 7 changes their mind and user 9 flags the second quote of a2
    lifetime(settings, [(7, "a1", "down", None), (9, "a2", "wrong_source", 2)])
    assert settings.question_log.path is not None
    lines = settings.question_log.path.read_text(encoding="utf-8").splitlines()
    logged = [json.loads(line) for line in lines]
    votes = [e for e in logged if "vote" in e]
    assert len(logged) == 7 and len(votes) == 5
    assert all(len(v["user"]) == 16 and v["user"] not in ("7", "8", "9") for v in votes)
    assert votes[0]["question"] == QUESTION and votes[0]["passages"][0]["excerpt"]
    assert votes[0]["index"] and votes[-1]["quote"] == 2

    assert main(["report", "--json", "--log", str(settings.question_log.path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["totals"]["questions"] == 2  # votes are not questions
    assert report["votes"]["totals"] == {"up": 0, "down": 2, "wrong_source": 1}
    a1, a2 = report["votes"]["voted_down"]
    assert (a1["answer"], a1["down"], a1["up"]) == ("a1", 2, 0)
    assert (a2["answer"], a2["wrong_source"], a2["up"]) == ("a2", 1, 0)
    assert [q["flagged"] for q in a2["quotes"]] == [0, 1]
    assert "17,000" in a1["quotes"][0]["excerpt"]

    assert main(["report", "--log", str(settings.question_log.path)]) == 0
    text = capsys.readouterr().out
    assert "0 up, 2 down, 1 wrong source" in text
    assert f"2 down, 0 up  {QUESTION}" in text
    assert "2. passage" in text and "← wrong source ×1" in text
    assert "\u201cAccording to the Japanese government, about 17,000" in text


def test_a_vote_must_be_up_down_or_wrong_source() -> None:
    from bot.core.answer import Answer

    with pytest.raises(ValueError, match="up, down, wrong_source"):
        Vote("discord", 1, "a", Answer("q", False), "meh")


def test_votes_without_a_user_each_count() -> None:
    votes: list[dict[str, Any]] = [
        {"time": "1", "frontend": "x", "user": None, "answer": "a", "vote": "down"},
        {"time": "2", "frontend": "x", "user": None, "answer": "a", "vote": "down"},
        {"time": "3", "frontend": "x", "user": "u", "answer": "a", "vote": "bogus"},
    ]
    summary = summarise_votes(votes)
    assert summary["totals"] == {"up": 0, "down": 2, "wrong_source": 0}
    assert summary["voted_down"][0]["down"] == 2
