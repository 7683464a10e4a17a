"""Metrics: one registry per service, metrics made once by name, index gauges read at scrape."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.service.metrics import Registry
from bot.service.questionlog import QuestionLog
from bot.service.service import Service
from tests.helpers import service_settings


def test_a_metric_is_made_once_and_fetched_by_name() -> None:
    reg = Registry()
    first = reg.counter("x_total", "Things.", ("kind",))
    assert reg.counter("x_total", "Things.", ("kind",)) is first
    first.labels("a").inc(2)
    assert reg.value("x_total", kind="a") == 2
    assert reg.value("x_total", kind="b") is None
    with pytest.raises(ValueError, match="another type"):
        reg.gauge("x_total", "Things.")


def test_each_service_has_its_own_registry(tmp_path: Path) -> None:
    one = Service(service_settings(tmp_path), engine=None)
    two = Service(service_settings(tmp_path), engine=None)
    one.metrics.questions.labels("http", "answered").inc()
    assert (
        one.metrics.registry.value("newsbot_questions_total", frontend="http", outcome="answered")
        == 1
    )
    assert (
        two.metrics.registry.value("newsbot_questions_total", frontend="http", outcome="answered")
        is None
    )


def test_index_gauges_and_drops_are_read_at_scrape_time(tmp_path: Path) -> None:
    log = QuestionLog(None, queue_limit=1)
    log._pending.dropped = 7
    service = Service(service_settings(tmp_path), engine=None, question_log=log)
    value = service.metrics.registry.value
    assert value("newsbot_index_loaded") == 0
    assert value("newsbot_index_passages") == 0
    assert value("newsbot_question_log_dropped_total") == 7
    text = service.metrics.registry.render().decode()
    assert "newsbot_question_log_dropped_total 7.0" in text.splitlines()
