"""Rating answers on Discord (👍, 👎, "Wrong source") and clicks that come back very fast.

The real NewsBot against the stand-in: votes reach the question log with the salted user hash,
count in /metrics, and ``python -m bot report`` lists the answers voted down with their quotes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from bot.frontends.cli.main import main
from bot.frontends.discord_bot.views import EXPIRED
from tests.frontends.discord_session import (
    EPHEMERAL,
    MULTI,
    QUESTION,
    Json,
    Session,
    assert_no_mentions,
    buttons,
    embed_of,
    make_settings,
    scenario,
)


def votes_counted(s: Session, vote: str) -> float | None:
    """``newsbot_answer_votes_total`` for Discord and ``vote``, as /metrics shows it."""
    registry = s.service.metrics.registry
    return registry.value("newsbot_answer_votes_total", frontend="discord", vote=vote)


async def click(s: Session, message: Json, label: str, user: str = "member") -> Json:
    """Click a button of ``message`` and return the bot's response."""
    inter = await s.standin.click_button(message, buttons(message)[label]["custom_id"], user=user)
    return await s.standin.wait_for_response(inter, timeout=5)


def test_votes_are_private_one_per_person_and_reach_log_metrics_and_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    seen: dict[str, Any] = {}

    async def check(s: Session) -> None:
        _, out = await s.ask(QUESTION)
        answer = out["message"]
        thanks = await click(s, answer, "👍")
        assert thanks["message"]["flags"] & EPHEMERAL
        assert thanks["message"]["content"] == "Thanks, noted: 👍."
        again = await click(s, answer, "👍")
        assert again["message"]["content"] == "You already rated this answer: 👍."
        changed = await click(s, answer, "👎")
        assert changed["message"]["content"].startswith("Changed your rating to 👎.")
        ask = await click(s, answer, "Wrong source", user="admin")
        assert ask["message"]["flags"] & EPHEMERAL
        assert ask["message"]["content"] == "Which quote is from the wrong source?"
        select = ask["message"]["components"][0]["components"][0]
        assert select["type"] == 3
        assert [o["value"] for o in select["options"]] == ["1", "2"]
        assert select["options"][1]["label"] == "2. Japan-Russia peace talks suspended"
        assert select["options"][1]["description"].startswith("The return of what Japan")
        pick = await s.standin.click_button(
            ask["message"], select["custom_id"], user="admin", values=["2"]
        )
        picked = await s.standin.wait_for_response(pick, timeout=5)
        assert picked["body"]["type"] == 7  # the private question becomes the thanks
        assert picked["message"]["content"].startswith(
            "Thanks, noted: quote 2 is from the wrong source."
        )
        assert picked["message"]["components"] == []
        assert votes_counted(s, "up") == 1 and votes_counted(s, "down") == 1
        assert votes_counted(s, "wrong_source") == 1
        seen["log"] = s.settings.question_log.path
        assert_no_mentions(s.standin)

    scenario(make_settings(tmp_path), check)
    lines = [json.loads(line) for line in seen["log"].read_text(encoding="utf-8").splitlines()]
    votes = [e for e in lines if "vote" in e]
    assert [v["vote"] for v in votes] == ["up", "down", "wrong_source"]
    assert votes[0]["user"] == votes[1]["user"] == lines[0]["user"] != votes[2]["user"]
    assert len({v["answer"] for v in votes}) == 1 and votes[2]["quote"] == 2
    assert main(["report", "--log", str(seen["log"])]) == 0
    text = capsys.readouterr().out
    assert "0 up, 1 down, 1 wrong source" in text  # member's 👍 was replaced by 👎
    assert "2 down, 0 up  How many Japanese lived on the islands before the" in text
    assert "← wrong source ×1" in text and "\u201cAccording to the Japanese government" in text


@pytest.mark.parametrize("label", ["Full passage 1", "👍", "More"])
def test_a_click_before_the_bot_hears_its_message_id_is_answered(
    tmp_path: Path, label: str
) -> None:
    async def check(s: Session) -> None:
        for n, send in enumerate(("slash", "mention")):
            clicked = s.standin.click_when_sent(label, user="admin")
            if send == "slash":
                await s.ask(MULTI)
            else:
                await s.standin.send_message(f"{MULTI} ({n})", mentions=["bot"])
            inter = await clicked
            response = await s.standin.wait_for_response(inter, timeout=5)
            assert response["message"]["content"] != EXPIRED, response
            if label == "👍":
                assert response["message"]["content"] == "Thanks, noted: 👍."
            elif label == "More":  # a new answer; "More" retires on the first once it is bound
                assert re.search(r"quotes? 4", embed_of(response)["footer"]["text"])
                first: str = inter["message"]["id"]

                def edit_of_first(o: Json, first: str = first) -> bool:
                    return bool(o["kind"] == "edit" and o["message"]["id"] == first)

                edited = await s.standin.wait_for_output(edit_of_first)
                assert buttons(edited["message"])["More"]["disabled"] is True
            else:
                assert "\u25b6 " in embed_of(response)["description"]
        await s.quiet(0.1)  # let the bot finish the answer whose response was held
        s.standin.assert_clean()

    scenario(make_settings(tmp_path), check)


def test_a_click_on_a_view_that_is_gone_says_expired(tmp_path: Path) -> None:
    async def check(s: Session) -> None:
        _, out = await s.ask(QUESTION)
        await s.bot.views.close()  # as after a restart: no view knows this answer
        for label in ("👍", "Full passage 1", "Wrong source"):
            response = await click(s, out["message"], label)
            assert response["message"]["flags"] & EPHEMERAL
            assert response["message"]["content"] == EXPIRED
        s.standin.assert_clean()

    scenario(make_settings(tmp_path), check)
