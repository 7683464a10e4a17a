"""The HTTP API over real HTTP on 127.0.0.1: endpoints, errors, health, metrics, auth, shutdown."""

from __future__ import annotations

import asyncio
import json
import mmap
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.core.answer import Answer
from bot.frontends.http_api import policy
from bot.frontends.http_api.policy import answer_json
from bot.frontends.http_api.server import bound_address, start_http
from bot.service.limits import MAX_QUESTION_CHARS
from bot.service.service import Service
from bot.service.settings import Settings
from tests.helpers import ROOT, free_port, run, service_settings, serving, write_corpus

ANSWERABLE = "How many Japanese lived on the islands before the Soviet occupation?"
UNANSWERABLE = "What is the capital of Australia?"


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings over a two-article temp corpus; no token, a fixed log salt, cwd in tmp_path."""
    monkeypatch.chdir(tmp_path)  # no stray .env or config.yaml from the repository
    monkeypatch.delenv("NEWSBOT_API_TOKEN", raising=False)
    monkeypatch.setenv("NEWSBOT_LOG_SALT", "test-salt")
    return service_settings(tmp_path)


@pytest.fixture
def service(settings: Settings) -> Iterator[Service]:
    """A Service with a real engine over the temp corpus."""
    service = Service.open(settings)
    yield service
    service.close()


async def get(url: str, **kwargs: Any) -> tuple[int, Any, Any]:
    """GET (or another method via ``method=``) → (status, parsed JSON or text, headers)."""
    method = kwargs.pop("method", "GET")
    async with aiohttp.ClientSession() as session, session.request(method, url, **kwargs) as resp:
        text = await resp.text()
        is_json = resp.content_type == "application/json"
        return resp.status, json.loads(text) if is_json else text, resp.headers


def test_ask_returns_the_json_of_ask_json(service: Service, settings: Settings) -> None:
    async def scenario() -> tuple[int, Any, Any]:
        async with serving(service, settings) as url:
            return await get(f"{url}/api/ask", params={"q": ANSWERABLE, "k": "2"})

    status, body, headers = run(scenario())
    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    assert body == service.engine.ask(ANSWERABLE, k=2).to_json()
    assert body["answered"] is True
    assert "17,000 Japanese" in body["results"][0]["text"]


def test_ask_abstains_when_the_sources_do_not_answer(service: Service, settings: Settings) -> None:
    async def scenario() -> tuple[int, Any, Any]:
        async with serving(service, settings) as url:
            return await get(f"{url}/api/ask", params={"q": UNANSWERABLE})

    status, body, _ = run(scenario())
    assert status == 200
    assert body["answered"] is False
    assert body["results"] == []
    assert body["message"] == "I couldn't find that in the sources."


def test_sources_lists_the_corpus_metadata(service: Service, settings: Settings) -> None:
    async def scenario() -> tuple[int, Any, Any]:
        async with serving(service, settings) as url:
            return await get(f"{url}/api/sources")

    status, body, _ = run(scenario())
    assert status == 200
    assert body == [m.to_dict() for m in service.engine.sources()]
    assert {m["title"] for m in body} == {"Islands dispute drags on", "Baking at home"}


BAD_REQUESTS = [
    ("GET", "/api/ask", {}, 400, "missing query parameter q"),
    ("GET", "/api/ask", {"q": "word " * 250}, 413, "too long"),
    ("GET", "/api/ask", {"q": "x" * (MAX_QUESTION_CHARS + 1)}, 413, "the limit is 1,000"),
    ("GET", "/api/ask", {"q": "islands\x01"}, 400, "control characters"),
    ("GET", "/api/ask", {"q": "   "}, 400, "the question is empty"),
    ("GET", "/api/ask", {"q": "the of and"}, 400, "no searchable words"),
    (
        "GET",
        "/api/ask",
        {"q": "islands", "k": "0"},
        400,
        "k must be a whole number between 1 and 5",
    ),
    ("GET", "/api/ask", {"q": "islands", "k": "6"}, 400, "between 1 and 5"),
    ("GET", "/api/ask", {"q": "islands", "k": "abc"}, 400, "between 1 and 5"),
    ("GET", "/api/ask", {"q": "islands", "k": "2.5"}, 400, "between 1 and 5"),
    ("GET", "/api/ask", {"q": "islands", "k": "-1"}, 400, "between 1 and 5"),
    ("GET", "/api/ask", {"q": "islands", "offset": "x"}, 400, "offset must be"),
    ("GET", "/nothing/here", {}, 404, "not found: /nothing/here"),
    ("GET", "/api/unknown", {}, 404, "endpoints: /api/ask"),
    ("POST", "/api/ask", {"q": "islands"}, 405, "method POST not allowed"),
    ("DELETE", "/healthz", {}, 405, "not allowed"),
]


@pytest.mark.parametrize(("method", "path", "params", "status", "fragment"), BAD_REQUESTS)
def test_bad_requests_get_json_errors(
    service: Service,
    settings: Settings,
    method: str,
    path: str,
    params: dict[str, str],
    status: int,
    fragment: str,
) -> None:
    async def scenario() -> tuple[int, Any, Any]:
        async with serving(service, settings) as url:
            return await get(f"{url}{path}", method=method, params=params)

    got, body, headers = run(scenario())
    assert got == status
    assert body["status"] == status
    assert fragment in body["error"]
    assert "Traceback" not in json.dumps(body)
    if status == 405:
        assert "GET" in headers["Allow"]


def test_a_rejected_question_is_logged_and_counted(service: Service, settings: Settings) -> None:
    async def scenario() -> str:
        async with serving(service, settings) as url:
            await get(f"{url}/api/ask", params={"q": "the of and"})
            return (await get(f"{url}/metrics"))[1]

    metrics = run(scenario())
    assert 'newsbot_questions_total{frontend="http",outcome="rejected"} 1' in metrics
    service.question_log.flush()
    assert settings.question_log.path is not None
    entry = json.loads(settings.question_log.path.read_text(encoding="utf-8"))
    assert entry["answered"] is False
    assert "no searchable words" in entry["error"]


def test_unexpected_errors_are_json_500_with_the_traceback_only_in_the_log(
    service: Service, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    texts = service.engine.index.texts
    assert isinstance(texts, mmap.mmap)
    texts.close()  # a real failure: the passage texts are gone

    async def scenario() -> tuple[int, Any, Any]:
        async with serving(service, settings) as url:
            return await get(f"{url}/api/ask", params={"q": ANSWERABLE})

    status, body, _ = run(scenario())
    assert status == 500
    assert body == {"error": "internal server error; the server log has the details", "status": 500}
    logged = [
        r for r in caplog.records if r.name.startswith("bot.frontends.http_api") and r.exc_info
    ]
    assert logged and "GET /api/ask" in logged[0].getMessage()
    assert (
        service.metrics.registry.value("newsbot_questions_total", frontend="http", outcome="error")
        == 1
    )


def test_healthz_is_ok_with_an_index_and_503_without(settings: Settings) -> None:
    service = Service(settings, engine=None)

    async def scenario() -> list[tuple[int, Any]]:
        results = []
        async with serving(service, settings) as url:
            for path in ("/healthz", "/api/ask?q=islands", "/api/sources"):
                status, body, _ = await get(f"{url}{path}")
                results.append((status, body))
            await service.load()
            status, body, _ = await get(f"{url}/healthz")
            results.append((status, body))
            service.unload("the index is being replaced")
            status, body, _ = await get(f"{url}/healthz")
            results.append((status, body))
        return results

    try:
        (health, ask, sources, loaded, unloaded) = run(scenario())
    finally:
        service.close()
    assert health == (503, {"status": "unavailable", "reason": "the index is not loaded yet"})
    assert ask[0] == sources[0] == 503
    assert ask[1]["error"] == "the index is not loaded yet"
    assert loaded[0] == 200
    assert loaded[1]["status"] == "ok"
    assert loaded[1]["sources"] == 2
    assert loaded[1]["passages"] > 0
    assert unloaded == (503, {"status": "unavailable", "reason": "the index is being replaced"})


def test_healthz_follows_the_health_checks_it_is_given(
    service: Service, settings: Settings
) -> None:
    state = {"ok": False}

    def probe() -> tuple[bool, str]:
        if state.get("broken"):
            raise RuntimeError("check exploded")
        return (True, "gateway connected") if state["ok"] else (False, "gateway disconnected")

    async def scenario() -> list[tuple[int, Any]]:
        results = []
        async with serving(service, settings, lambda: (True, "first ok"), probe) as url:
            for change in ({}, {"ok": True}, {"broken": True}):
                state.update(change)
                status, body, _ = await get(f"{url}/healthz")
                results.append((status, body["reason"]))
        return results

    assert run(scenario()) == [
        (503, "gateway disconnected"),
        (200, "gateway connected"),
        (503, "health check failed: RuntimeError"),
    ]


def test_metrics_in_prometheus_text_format(service: Service, settings: Settings) -> None:
    async def scenario() -> tuple[int, Any, Any]:
        async with serving(service, settings) as url:
            await get(f"{url}/api/ask", params={"q": ANSWERABLE})
            await get(f"{url}/api/ask", params={"q": UNANSWERABLE})
            await get(f"{url}/api/ask", params={"q": "Where do bakers prefer long fermentation?"})
            return await get(f"{url}/metrics")

    status, text, headers = run(scenario())
    assert status == 200
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    lines = text.splitlines()
    sample = re.compile(r"[a-z_]+(\{[a-z_]+=\"[^\"]*\"(,[a-z_]+=\"[^\"]*\")*\})? \S+")
    assert all(line.startswith("# ") or sample.fullmatch(line) for line in lines), text
    assert 'newsbot_questions_total{frontend="http",outcome="answered"} 2.0' in lines
    assert 'newsbot_questions_total{frontend="http",outcome="abstained"} 1.0' in lines
    assert 'newsbot_question_latency_seconds_count{frontend="http"} 3.0' in lines
    assert 'newsbot_question_latency_seconds_bucket{frontend="http",le="+Inf"} 3.0' in lines
    assert f"newsbot_index_passages {service.engine.index.size}.0" in lines
    assert "newsbot_index_sources 2.0" in lines
    assert any(line.startswith("newsbot_index_built_timestamp_seconds 1") for line in lines)
    assert "# TYPE newsbot_question_latency_seconds histogram" in lines
    assert 'newsbot_http_requests_total{route="/api/ask",status="200"} 3.0' in lines
    assert "newsbot_question_log_dropped_total 0.0" in lines
    assert "# TYPE newsbot_question_log_dropped_total counter" in lines
    assert "newsbot_index_loaded 1.0" in lines
    assert not any("_created" in line for line in lines)


def test_bearer_token_protects_the_api_only(
    service: Service, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSBOT_API_TOKEN", "s3cret-token")
    ask = {"params": {"q": ANSWERABLE}}

    async def scenario() -> list[tuple[int, Any, Any]]:
        async with serving(service, settings) as url:
            return [
                await get(f"{url}/api/ask", **ask),
                await get(f"{url}/api/ask", headers={"Authorization": "Bearer wrong"}, **ask),
                await get(f"{url}/api/ask", headers={"Authorization": "Basic s3cret-token"}, **ask),
                await get(f"{url}/api/sources", headers={"Authorization": "Bearer s3cret-token"}),
                await get(
                    f"{url}/api/ask", headers={"Authorization": "Bearer s3cret-token"}, **ask
                ),
                await get(f"{url}/healthz"),
                await get(f"{url}/metrics"),
            ]

    missing, wrong, basic, sources, right, health, metrics = run(scenario())
    assert missing[0] == wrong[0] == basic[0] == 401
    assert missing[2]["WWW-Authenticate"] == 'Bearer realm="newsbot"'
    assert wrong[2]["WWW-Authenticate"] == 'Bearer realm="newsbot", error="invalid_token"'
    assert wrong[1] == {"error": "invalid token", "status": 401}
    assert sources[0] == right[0] == health[0] == metrics[0] == 200
    assert right[1]["answered"] is True


def test_reindex_swaps_the_engine_while_questions_are_answered(
    service: Service, settings: Settings
) -> None:
    old = service.engine
    extra = {"tea.md": "---\ntitle: Tea\n---\n\nMatcha is a powdered green tea from Uji.\n"}

    async def scenario() -> tuple[list[int], Any]:
        async with serving(service, settings) as url, aiohttp.ClientSession() as session:

            async def ask(n: int) -> int:
                params = {"q": f"{ANSWERABLE} {n}"}  # distinct: none from the answer cache
                async with session.get(f"{url}/api/ask", params=params) as resp:
                    await resp.read()
                    return resp.status

            write_corpus(settings.sources, extra)
            asked = [asyncio.ensure_future(ask(n)) for n in range(40)]
            report = await service.reindex()
            statuses = list(await asyncio.gather(*asked))
            assert report.sources == 3
            return statuses, (await get(f"{url}/api/sources"))[1]

    statuses, sources = run(scenario())
    assert statuses == [200] * 40
    assert "Tea" in {m["title"] for m in sources}
    assert service.engine is not old
    assert len(old.sources()) == 2  # the old engine is untouched and still answers
    assert old.ask(ANSWERABLE).answered
    assert service.metrics.registry.value("newsbot_reindex_total", result="ok") == 1


def test_repeated_questions_come_from_the_cache_until_a_reindex(
    service: Service, settings: Settings
) -> None:
    async def scenario() -> list[Any]:
        async with serving(service, settings) as url:
            bodies = [(await get(f"{url}/api/ask", params={"q": ANSWERABLE}))[1] for _ in range(3)]
            other_k = (await get(f"{url}/api/ask", params={"q": ANSWERABLE, "k": "1"}))[1]
            await service.reindex()
            after = (await get(f"{url}/api/ask", params={"q": ANSWERABLE}))[1]
            return [*bodies, other_k, after]

    first, second, third, other_k, after = run(scenario())
    assert first == second == third == after
    assert len(other_k["results"]) == 1
    assert service.metrics.registry.value("newsbot_answer_cache_total", result="hit") == 2
    assert (
        service.metrics.registry.value("newsbot_answer_cache_total", result="miss") == 3
    )  # first, k=1, and after the reindex
    service.question_log.flush()
    assert settings.question_log.path is not None
    logged = settings.question_log.path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["cached"] for line in logged] == [False, True, True, False, False]


def test_a_cached_answer_goes_out_as_the_bytes_made_the_first_time(
    service: Service, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[bytes] = []

    def counted(answer: Answer) -> bytes:
        made.append(answer_json(answer))
        return made[-1]

    monkeypatch.setattr(policy, "answer_json", counted)

    async def scenario() -> list[bytes]:
        async with serving(service, settings) as url, aiohttp.ClientSession() as session:
            bodies = []
            for k in ("2", "2", "1", "2"):
                params = {"q": ANSWERABLE, "k": k}
                async with session.get(f"{url}/api/ask", params=params) as resp:
                    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
                    bodies.append(await resp.read())
            return bodies

    two, again, one, still = run(scenario())
    assert two == again == still == made[0] and one == made[1]
    assert len(made) == 2  # once per answer, however often it is sent
    assert json.loads(two) == service.engine.ask(ANSWERABLE, k=2).to_json()


def test_shutdown_finishes_requests_in_flight(service: Service, settings: Settings) -> None:
    async def scenario() -> tuple[list[int], bool]:
        loop = asyncio.get_running_loop()
        gate = threading.Event()  # holds the answer thread, so requests wait inside the service
        service.inline_seconds = 0.0  # every engine answer goes to that thread
        blockers = [loop.run_in_executor(service.answers, gate.wait, 30)]
        runner = await start_http(service, settings, host="127.0.0.1", port=0, access_log=False)
        host, port = bound_address(runner)
        url = f"http://{host}:{port}/api/ask"
        async with aiohttp.ClientSession() as session:

            async def ask() -> int:
                async with session.get(url, params={"q": ANSWERABLE}) as resp:
                    await resp.read()
                    return resp.status

            asked = [asyncio.ensure_future(ask()) for _ in range(10)]
            for _ in range(500):  # wait until all ten are inside the service, blocked
                if service.metrics.registry.value("newsbot_questions_in_flight") == 10:
                    break
                await asyncio.sleep(0.01)
            assert service.metrics.registry.value("newsbot_questions_in_flight") == 10
            stopping = asyncio.ensure_future(runner.cleanup())
            await asyncio.sleep(0.2)
            try:
                with socket.create_connection((host, port), timeout=2):
                    refused = False
            except OSError:
                refused = True
            gate.set()
            await asyncio.gather(*blockers)
            statuses = list(await asyncio.gather(*asked))
            await stopping
        return statuses, refused

    statuses, refused = run(scenario())
    assert refused, "the server still accepted connections while shutting down"
    assert statuses == [200] * 10


# -- python -m bot serve as a subprocess --------------------------------------------------------


def _serve(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NEWSBOT_LOG_SALT": "test-salt"}
    env.pop("NEWSBOT_API_TOKEN", None)
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _write_config(tmp_path: Path, text: str = "") -> Path:
    write_corpus(tmp_path / "sources")
    config = tmp_path / "config.yaml"
    config.write_text(
        "sources: sources\nindex: index\nquestion_log:\n  path: logs/questions.jsonl\n" + text,
        encoding="utf-8",
    )
    return config


def _wait_healthy(proc: subprocess.Popen[str], url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    raise AssertionError(f"{url}/healthz did not answer within {seconds} s")


def test_serve_stops_cleanly_on_sigterm_and_flushes_the_log(tmp_path: Path) -> None:
    config = _write_config(tmp_path)
    port = free_port()
    proc = _serve(tmp_path, "--config", str(config), "--port", str(port))
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(proc, url)
        query = urllib.parse.urlencode({"q": ANSWERABLE})
        with urllib.request.urlopen(f"{url}/api/ask?{query}", timeout=10) as resp:
            assert json.load(resp)["answered"] is True
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    lines = (tmp_path / "logs" / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["question"] for line in lines] == [ANSWERABLE]


def test_serve_startup_errors_are_one_line(tmp_path: Path) -> None:
    config = _write_config(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("http:\n  port: 99999\n", encoding="utf-8")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = str(taken.getsockname()[1])
        cases = {
            "port in use": ["--config", str(config), "--port", busy],
            "bad config": ["--config", str(bad)],
            "missing sources": ["--config", str(config), "--sources", "nowhere"],
        }
        results = {}
        for name, args in cases.items():
            proc = _serve(tmp_path, *args, "--host", "127.0.0.1")
            _, stderr = proc.communicate(timeout=60)
            results[name] = (proc.returncode, stderr)
    expected = {
        "port in use": f"error: cannot listen on 127.0.0.1:{busy}: ",
        "bad config": f"error: {bad}: http.port: expected a whole number between 1 and 65535",
        "missing sources": "error: sources",
    }
    for name, (code, stderr) in results.items():
        assert code != 0, name
        assert "Traceback" not in stderr, stderr
        last = stderr.strip().splitlines()[-1]
        assert last.startswith(expected[name]), (name, stderr)
    assert "nowhere" in results["missing sources"][1]


def test_healthz_turns_503_when_the_loaded_index_fails_verification(
    service: Service, settings: Settings
) -> None:
    import numpy as np

    path = service.engine.index.generation / "text_offsets.npy"
    offsets = np.load(path, mmap_mode="r")
    header = path.stat().st_size - offsets.nbytes
    with path.open("r+b") as handle:  # same file, same size: the memory map sees the damage
        handle.seek(header)
        handle.write(np.full(len(offsets), -7, dtype=offsets.dtype).tobytes())

    async def scenario() -> tuple[int, Any, Any]:
        async with serving(service, settings) as url:
            return await get(f"{url}/healthz")

    status, body, _ = run(scenario())
    assert status == 503
    assert body["status"] == "unavailable"
    assert body["reason"].startswith("the index fails verification: ")
    assert "text_offsets" in body["reason"]
