"""The one way in: every front end's questions are checked, answered, counted and logged alike."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.core.answer import Answer
from bot.errors import BadInput, QuestionTooLong
from bot.service import service as service_module
from bot.service.limits import Limits
from bot.service.service import INLINE_SECONDS, Request, Service, ServiceUnavailable
from bot.service.settings import Settings
from tests.helpers import run_cli, service_settings, write_corpus

QUESTION = "How many Japanese lived on the islands before the Soviet occupation?"


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Service]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NEWSBOT_LOG_SALT", "test-salt")
    opened = Service.open(service_settings(tmp_path))
    yield opened
    opened.close()  # no writer thread outlives its test (closing twice is harmless)


def _count(service: Service, name: str, **labels: str) -> float | None:
    return service.metrics.registry.value(name, **labels)


def _logged(service: Service) -> list[dict[str, object]]:
    service.close()
    assert service.settings is not None
    path = service.settings.question_log.path
    assert path is not None
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_the_sync_call_answers_counts_and_logs(service: Service) -> None:
    answer = service.answer(Request(QUESTION, frontend="cli", k=2))
    assert answer.answered and "17,000" in answer.quotes[0].text
    assert _count(service, "newsbot_questions_total", frontend="cli", outcome="answered") == 1
    [entry] = _logged(service)
    assert (entry["frontend"], entry["question"], entry["k"]) == ("cli", QUESTION, 2)


def test_the_async_call_is_the_same_answer(service: Service) -> None:
    request = Request(QUESTION, frontend="http", k=2)
    assert asyncio.run(service.ask(request)) == service.answer(request)
    assert (
        _count(service, "newsbot_answer_cache_total", result="hit") == 1
    )  # the second ask came from the cache
    assert _count(service, "newsbot_questions_in_flight") == 0


@pytest.mark.parametrize(
    ("request_", "error", "message"),
    [
        (Request(QUESTION, frontend="cli", k=0), BadInput, "k must be a whole number"),
        (Request(QUESTION, frontend="cli", offset=101), BadInput, "offset must be"),
        (Request("x" * 1001, frontend="http"), QuestionTooLong, "the limit is 1,000"),
        (
            Request("x" * 301, frontend="discord", limits=Limits(max_question_chars=300)),
            QuestionTooLong,
            "the limit is 300",
        ),
        (Request("the of and", frontend="cli"), BadInput, "no searchable words"),
    ],
)
def test_bad_requests_are_refused_counted_and_logged_as_rejected(
    service: Service, request_: Request, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        service.answer(request_)
    assert (
        _count(service, "newsbot_questions_total", frontend=request_.frontend, outcome="rejected")
        == 1
    )
    [entry] = _logged(service)
    assert entry["error"] is not None and message in str(entry["error"])


def test_whitespace_variants_share_one_cache_entry(service: Service) -> None:
    service.answer(Request(QUESTION, frontend="cli"))
    service.answer(Request("  " + QUESTION.replace(" ", "\n  "), frontend="cli"))
    assert _count(service, "newsbot_answer_cache_total", result="hit") == 1


def test_no_index_is_unavailable_and_health_says_so(tmp_path: Path) -> None:
    service = Service(Settings(), engine=None)
    assert service.health() == (False, "the index is not loaded yet")
    assert service.index_info() is None
    with pytest.raises(ServiceUnavailable):
        service.answer(Request(QUESTION, frontend="cli"))
    service.close()


def test_index_info_describes_the_loaded_index(service: Service) -> None:
    info = service.index_info()
    assert info is not None
    assert info.sources == 2 and info.passages > 0
    assert info.built_timestamp is not None and info.built_timestamp > 1.6e9
    assert service.health() == (True, f"index loaded: {info.passages} passages")


def test_surrounding_uses_the_engine_that_answered(service: Service) -> None:
    engine, answer = service.answer_with_engine(Request(QUESTION, frontend="discord"))
    around = service.surrounding(engine, answer.quotes[0].passage_id)
    assert answer.quotes[0].text in [text for _, text in around]


def test_cli_questions_are_logged_where_the_settings_file_says(tmp_path: Path) -> None:
    """With a settings file, ``report`` shows the CLI's questions next to the others."""
    write_corpus(tmp_path / "sources")
    (tmp_path / "config.yaml").write_text("question_log:\n  path: qlog.jsonl\n", encoding="utf-8")
    assert run_cli("ask", QUESTION, cwd=tmp_path).returncode == 0
    assert run_cli("ask", "the of and", cwd=tmp_path).returncode == 2
    result = run_cli("report", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["frontends"]["cli"]["questions"] == 2
    assert report["frontends"]["cli"]["rejected"] == 1


def test_without_a_settings_file_the_cli_leaves_no_log(tmp_path: Path) -> None:
    write_corpus(tmp_path / "sources")
    assert run_cli("ask", QUESTION, cwd=tmp_path).returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index", "sources"]


@pytest.fixture
def batches(service: Service, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every batch the service answers on the loop, in order (a quick engine)."""
    sizes: list[int] = []
    real = service._answer_batch

    def counting(batch):  # type: ignore[no-untyped-def]
        sizes.append(len(batch))
        real(batch)

    monkeypatch.setattr(service, "_answer_batch", counting)
    service.engine_seconds = 0.0  # a quick engine: answered on the loop
    return sizes


def test_questions_arriving_together_are_answered_back_to_back_in_one_callback(
    service: Service, batches: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service_module, "BATCH_SECONDS", 60.0)  # time for all in one callback
    asked = [Request(f"{QUESTION} {n}", frontend="http", k=2) for n in range(5)]

    async def scenario() -> list[object]:
        together = await asyncio.gather(*(service.ask(r) for r in asked), return_exceptions=True)
        alone = await service.ask(Request("", frontend="http"))
        return [*together, alone]

    with pytest.raises(BadInput):  # a refusal still reaches its asker, from the same callback
        asyncio.run(scenario())
    assert batches == [5, 1]
    answers = asyncio.run(asyncio.wait_for(service.ask(asked[0]), 10))  # a new loop: a new batch
    assert answers.answered and batches == [5, 1, 1]
    assert _count(service, "newsbot_questions_total", frontend="http", outcome="answered") == 6
    assert _count(service, "newsbot_questions_in_flight") == 0


def test_a_request_queued_on_the_loop_is_in_flight_until_answered(
    service: Service, batches: list[int]
) -> None:
    async def scenario() -> list[float | None]:
        futures = [service.submit(Request(f"{QUESTION} {n}", frontend="http")) for n in range(3)]
        queued = _count(service, "newsbot_questions_in_flight")
        futures[0].cancel()  # its asker went away: still answered, counted, then not in flight
        await asyncio.gather(*futures[1:])
        return [queued, _count(service, "newsbot_questions_in_flight")]

    assert asyncio.run(asyncio.wait_for(scenario(), 10)) == [3, 0]
    assert batches == [3]
    assert _count(service, "newsbot_questions_total", frontend="http", outcome="answered") == 3


def test_a_long_batch_yields_the_loop_between_answers(
    service: Service, batches: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service_module, "BATCH_SECONDS", 0.0)  # every answer overruns it
    asked = [Request(f"{QUESTION} {n}", frontend="http", k=2) for n in range(3)]

    async def scenario() -> list[Answer]:
        return await asyncio.gather(*(service.ask(r) for r in asked))

    answers = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert [a.question for a in answers] == [r.question for r in asked]
    assert batches == [3, 2, 1]  # one answer per callback, the rest queued behind


def test_a_quick_engine_answers_on_the_loop_and_a_slow_one_in_the_answer_thread(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    hops: list[str] = []
    real = service.answers.submit

    def counting(func, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        hops.append(func.__name__)
        return real(func, *args, **kwargs)

    monkeypatch.setattr(service.answers, "submit", counting)
    request = Request(QUESTION, frontend="http", k=2)

    async def scenario() -> None:
        assert service.engine_seconds == INLINE_SECONDS  # no answer measured yet
        await service.ask(request)  # the first engine answer: in the thread, and measured
        await service.ask(request)  # from the cache: answered on the event loop
        with pytest.raises(BadInput):
            await service.ask(Request(QUESTION, frontend="http", k=0))  # refused on the loop
        service.engine_seconds = INLINE_SECONDS / 4  # an engine answering quickly
        await service.ask(Request(QUESTION, frontend="http", k=1))  # the engine, on the loop
        service.engine_seconds = 1.0  # an engine as slow as a large index
        await service.ask(Request(QUESTION, frontend="http", k=3))  # the engine, in the thread
        assert service.engine_seconds < 1.0  # the estimate follows what the engine took

    asyncio.run(scenario())
    assert hops == ["_answer_queued", "_answer_queued"]
    assert _count(service, "newsbot_answer_cache_total", result="hit") == 1
    assert _count(service, "newsbot_answer_cache_total", result="miss") == 3
    assert _count(service, "newsbot_questions_total", frontend="http", outcome="rejected") == 1
    service.close()


def test_questions_queued_for_the_answer_thread_are_primed_in_one_batch(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    primed: list[list[str]] = []
    engine = service.engine
    monkeypatch.setattr(engine, "prime", lambda questions: primed.append(list(questions)))
    service.inline_seconds = 0.0  # every engine answer goes to the answer thread
    questions = [f"{QUESTION} ({n})" for n in range(4)]
    expected = [engine.ask(q, 2).quotes for q in questions]
    release = threading.Event()
    service.answers.submit(release.wait, 10)  # the thread is busy while the questions queue

    async def scenario() -> list[Answer]:
        asked = [
            asyncio.ensure_future(service.ask(Request(q, frontend="http", k=2))) for q in questions
        ]
        await asyncio.sleep(0.05)
        release.set()
        return await asyncio.wait_for(asyncio.gather(*asked), 10)

    answers = asyncio.run(scenario())
    assert primed == [questions]  # the first to run prepared all four, the rest found them ready
    assert [a.quotes for a in answers] == expected
