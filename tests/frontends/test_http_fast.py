"""The lean path for ``GET /api/ask`` over real sockets: it answers as aiohttp's route does, and
hands everything else on the connection to aiohttp."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.frontends.http_api.fast import FastConnection, FastRoute
from bot.frontends.http_api.server import bound_address, start_http
from bot.service.service import Service
from bot.service.settings import Settings
from tests.helpers import guarded_api_settings, run, serving

TOKEN = "s3cret-token"
ASK = "/api/ask?q=How+many+Japanese+lived+on+the+islands%3F&k=2"
AUTH = f"Authorization: Bearer {TOKEN}\r\n"


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    return guarded_api_settings(tmp_path, monkeypatch, TOKEN)


@pytest.fixture
def service(settings: Settings) -> Iterator[Service]:
    service = Service.open(settings)
    yield service
    service.close()


@pytest.fixture
def lean(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The queries the lean path answered, in order."""
    answered: list[str] = []
    start = FastRoute.start

    def counted(self: FastRoute, query: Any, authorization: str, remote: str | None) -> Any:
        answered.append(query.get("q", ""))
        return start(self, query, authorization, remote)

    monkeypatch.setattr(FastRoute, "start", counted)
    return answered


def request(target: str, extra: str = AUTH, method: str = "GET") -> bytes:
    return f"{method} {target} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode()


class Conn:
    """One keep-alive connection: send bytes, read whole responses (bounded by a timeout)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def send(self, raw: bytes) -> None:
        self.writer.write(raw)
        await self.writer.drain()

    async def response(self) -> tuple[int, list[str], bytes]:
        """(status, header lines without Date, body)."""
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 10)
        lines = head.decode("latin-1").split("\r\n")[:-2]
        status = int(lines[0].split()[1])
        if status == 100:  # the interim answer to Expect: 100-continue
            return status, lines, b""
        length = next(int(h.split(": ")[1]) for h in lines if h.startswith("Content-Length"))
        body = await asyncio.wait_for(self.reader.readexactly(length), 10)
        headers = [h for h in lines[1:] if not h.startswith("Date: ")]
        assert any(re.fullmatch(r"Date: \w{3}, \d\d \w{3} \d{4} [\d:]{8} GMT", h) for h in lines)
        return status, [lines[0], *headers], body

    async def closed(self) -> bool:
        return await asyncio.wait_for(self.reader.read(), 10) == b""


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


async def connect(port: int) -> Conn:
    return Conn(*await asyncio.open_connection("127.0.0.1", port))


async def both_ways(service: Service, settings: Settings, target: str, extra: str) -> list[Any]:
    """The response of the lean path and of aiohttp's route (a ``Content-Length: 0`` request
    goes to aiohttp) to the same request, each on a fresh connection."""
    async with serving(service, settings) as url:
        got = []
        for more in ("", "Content-Length: 0\r\n"):
            conn = await connect(port_of(url))
            await conn.send(request(target, extra + more))
            got.append(await conn.response())
            conn.writer.close()
        return got


CASES = {
    "an answer": (ASK, AUTH, 200),
    "no token": (ASK, "", 401),
    "a wrong token": (ASK, "Authorization: Bearer nope\r\n", 401),
    "a bad k": ("/api/ask?q=islands&k=99", AUTH, 400),
    "no question": ("/api/ask?k=2", AUTH, 400),
    "a question twice": ("/api/ask?q=a&q=b", AUTH, 400),
    "a question too long": ("/api/ask?q=" + "word+" * 300, AUTH, 413),
    "only stop words": ("/api/ask?q=the+of+and", AUTH, 400),
    "non-UTF-8 escapes": ("/api/ask?q=%FF%FEislands", AUTH, 200),
}


@pytest.mark.parametrize("case", CASES)
def test_the_lean_path_answers_byte_for_byte_as_the_aiohttp_route(
    service: Service, settings: Settings, lean: list[str], case: str
) -> None:
    target, extra, status = CASES[case]
    fast, routed = run(both_ways(service, settings, target, extra))
    assert len(lean) == 1  # the first went the lean way, the second through aiohttp
    assert fast == routed
    assert fast[0] == status
    assert "Content-Type: application/json; charset=utf-8" in fast[1]
    assert json.loads(fast[2])


def test_no_index_is_the_same_503_both_ways(
    service: Service, settings: Settings, lean: list[str]
) -> None:
    service.unload("the index is being replaced")
    fast, routed = run(both_ways(service, settings, ASK, AUTH))
    assert fast == routed and fast[0] == 503 and "Retry-After: 5" in fast[1]
    assert lean


def test_an_unexpected_error_is_the_same_500_both_ways(
    service: Service,
    settings: Settings,
    lean: list[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(service.engine, "ask", broken)
    with caplog.at_level(logging.ERROR):
        fast, routed = run(both_ways(service, settings, ASK, AUTH))
    assert fast == routed and fast[0] == 500 and lean
    logged = [r for r in caplog.records if "unhandled error on GET /api/ask" in r.getMessage()]
    assert len(logged) == 2 and all(r.exc_info for r in logged)


def test_answers_from_the_answer_thread_are_the_same_both_ways(
    service: Service, settings: Settings, lean: list[str]
) -> None:
    service.inline_seconds = 0  # every new question goes to the answer thread (a task waits)
    fast, routed = run(both_ways(service, settings, ASK, AUTH))
    assert fast == routed and fast[0] == 200 and lean


def test_other_requests_on_the_connection_are_handed_to_aiohttp(
    service: Service, settings: Settings, lean: list[str]
) -> None:
    async def scenario() -> list[tuple[int, list[str], bytes]]:
        async with serving(service, settings) as url:
            conn = await connect(port_of(url))
            got = []
            for target in (ASK, "/api/sources", "/healthz", ASK, "/metrics"):
                await conn.send(request(target))
                got.append(await conn.response())
            conn.writer.close()
            return got

    asked, sources, health, again, metrics = run(scenario())
    assert [r[0] for r in (asked, sources, health, again, metrics)] == [200] * 5
    assert len(lean) == 1  # after the hand-over aiohttp answers the second ask too
    assert again[2] == asked[2]
    assert json.loads(sources[2])[0]["id"]
    assert json.loads(health[2])["status"] == "ok"
    text = metrics[2].decode()
    assert 'newsbot_http_requests_total{route="/api/ask",status="200"} 2.0' in text
    assert 'newsbot_http_requests_total{route="/api/sources",status="200"} 1.0' in text
    assert 'newsbot_http_request_duration_seconds_count{route="/api/ask"} 2.0' in text


def test_pipelined_requests_are_answered_in_order(
    service: Service, settings: Settings, lean: list[str]
) -> None:
    async def scenario() -> list[tuple[int, list[str], bytes]]:
        async with serving(service, settings) as url:
            conn = await connect(port_of(url))
            await conn.send(
                request("/api/ask?q=islands")
                + request("/api/ask?q=sanctions")
                + request("/healthz")
                + request("/api/ask?q=visas")
            )
            got = [await conn.response() for _ in range(4)]
            conn.writer.close()
            return got

    got = run(scenario())
    assert [r[0] for r in got] == [200] * 4
    assert [json.loads(r[2]).get("question") for r in got] == [
        "islands",
        "sanctions",
        None,
        "visas",
    ]
    assert lean == ["islands", "sanctions"]


def test_malformed_requests_after_an_answer_get_aiohttps_json_error(
    service: Service, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario(bad: bytes) -> tuple[int, int, bool]:
        async with serving(service, settings) as url:
            conn = await connect(port_of(url))
            await conn.send(request(ASK))
            first = (await conn.response())[0]
            await conn.send(bad)
            status, headers, body = await conn.response()
            assert "Content-Type: application/json; charset=utf-8" in headers
            assert json.loads(body)["status"] == status
            return first, status, await conn.closed()

    with caplog.at_level(logging.WARNING):
        for bad in (
            b"GET /api/ask?q=x HTTP/1.1 extra\r\nHost: x\r\n\r\n",
            b"G@T /api/ask?q=x HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /api/ask?q=" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /api/ask?q=x HTTP/1.1\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n",
        ):
            assert run(scenario(bad)) == (200, 400, True)
    refused = [r for r in caplog.records if "malformed request" in r.getMessage()]
    assert len(refused) == 4
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    "extra",
    [
        "Connection: Upgrade\r\nUpgrade: websocket\r\n",
        "Expect: 100-continue\r\n",
        "Transfer-Encoding: chunked\r\n",
    ],
)
def test_upgrades_expect_and_bodies_go_to_aiohttp(
    service: Service, settings: Settings, lean: list[str], extra: str
) -> None:
    async def scenario() -> tuple[int, dict[str, Any]]:
        async with serving(service, settings) as url:
            conn = await connect(port_of(url))
            body = "0\r\n\r\n" if "chunked" in extra else ""
            await conn.send(request(ASK, AUTH + extra) + body.encode())
            status, _, got = await conn.response()
            if status == 100:  # Expect: 100-continue, then the answer
                status, _, got = await conn.response()
            conn.writer.close()
            return status, json.loads(got)

    status, body = run(scenario())
    assert status == 200 and body["answered"] is True
    assert not lean


def test_keep_alive_close_and_http_1_0_as_aiohttp(
    service: Service, settings: Settings, lean: list[str]
) -> None:
    async def scenario() -> tuple[list[str], bool, int, list[str]]:
        async with serving(service, settings) as url:
            port = port_of(url)
            conn = await connect(port)
            await conn.send(request(ASK, AUTH + "Connection: close\r\n"))
            _, closing, _ = await conn.response()
            closed = await conn.closed()
            old = await connect(port)
            await old.send(f"GET {ASK} HTTP/1.0\r\n{AUTH}\r\n".encode())
            status, headers, _ = await old.response()
            old.writer.close()
            return closing, closed, status, headers

    closing, closed, status, headers = run(scenario())
    assert "Connection: close" in closing and closed
    assert status == 200 and headers[0] == "HTTP/1.0 200 OK"
    assert len(lean) == 1  # HTTP/1.0 went to aiohttp


def test_an_idle_connection_is_closed_after_an_answer(
    service: Service, settings: Settings, lean: list[str]
) -> None:
    async def scenario() -> float:
        async with serving(service, settings) as url:
            conn = await connect(port_of(url))
            await conn.send(request(ASK))
            await conn.response()
            began = asyncio.get_running_loop().time()
            assert await conn.closed()
            return asyncio.get_running_loop().time() - began

    waited = run(scenario())
    assert 0.3 < waited < 5 and lean


def test_the_access_log_line_is_aiohttps(
    service: Service, settings: Settings, lean: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        runner = await start_http(service, settings, host="127.0.0.1", port=0)
        try:
            port = bound_address(runner)[1]
            for more in ("", "Content-Length: 0\r\n"):
                conn = await connect(port)
                await conn.send(request(ASK, AUTH + more))
                await conn.response()
                conn.writer.close()
        finally:
            await runner.cleanup()

    with caplog.at_level(logging.INFO, logger="aiohttp.access"):
        run(scenario())
    lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert len(lines) == 2 and len(lean) == 1
    fast, routed = (re.sub(r" [\d.]+s$", "", line) for line in lines)
    assert fast == routed and fast.startswith(f'"GET {ASK} HTTP/1.1" 200 ')


def test_a_client_that_does_not_read_is_paused_not_buffered_without_end(
    service: Service, settings: Settings, lean: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """10,000 pipelined asks (12 MB of answers) sent before reading any: the server stops
    answering that connection while its responses pile up, answers another meanwhile, then
    every answer comes."""
    paused: list[bool] = []
    pause = FastConnection.pause_writing

    def counted(self: FastConnection) -> None:
        paused.append(True)
        pause(self)

    monkeypatch.setattr(FastConnection, "pause_writing", counted)

    async def scenario() -> tuple[list[int], int]:
        async with serving(service, settings) as url:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before the connect
            sock.connect(("127.0.0.1", port_of(url)))
            slow = Conn(*await asyncio.open_connection(sock=sock))
            slow.writer.transport.set_write_buffer_limits(high=1 << 24)
            slow.writer.write(request(ASK) * 10_000)
            await asyncio.sleep(0.3)
            other = await connect(port_of(url))
            await other.send(request("/healthz"))
            health = (await other.response())[0]
            other.writer.close()
            statuses = [(await slow.response())[0] for _ in range(10_000)]
            slow.writer.close()
            return statuses, health

    statuses, health = run(scenario())
    assert health == 200
    assert statuses == [200] * 10_000 and len(lean) == 10_000
    assert paused  # the transport's buffer filled: answering waited for the client to read


# ESC, CSI as one C1 character (U+009B), NEL (U+0085) and DEL: raw, a terminal would act on them.
HOSTILE_TEXT = "The harbour of Wakkanai froze\x1b[2J early\x85 this\x7f winter\x9b2J."
RAW_CONTROLS = re.compile(rb"[\x00-\x1f\x7f]|\xc2[\x80-\x9f]")


def test_control_characters_from_a_source_come_back_escaped_both_ways(
    settings: Settings, lean: list[str]
) -> None:
    (settings.sources / "hostile.txt").write_text(
        f"Harbour\x9b31m news\n\n{HOSTILE_TEXT}\n", encoding="utf-8"
    )
    (settings.sources / "archive.jsonl").write_text(
        json.dumps({"id": "a1", "outlet": "Evil\x1b[31m\x9bTimes", "text": "Wakkanai ferry."})
        + "\n",
        encoding="utf-8",
    )
    service = Service.open(settings)
    try:
        answers = run(both_ways(service, settings, "/api/ask?q=harbour+Wakkanai+froze&k=1", AUTH))

        async def sources() -> bytes:
            async with serving(service, settings) as url:
                conn = await connect(port_of(url))
                await conn.send(request("/api/sources"))
                return (await conn.response())[2]

        listing = run(sources())
    finally:
        service.close()
    assert len(lean) == 1 and answers[0] == answers[1]
    for status, _, body in answers:
        assert status == 200 and not RAW_CONTROLS.search(body), body
        assert b"\\u001b[2J" in body and b"\\u0085" in body and b"\\u007f" in body
        assert b"\\u009b2J" in body
        assert json.loads(body)["results"][0]["text"] == HOSTILE_TEXT
    assert not RAW_CONTROLS.search(listing) and b"Evil\\u001b[31m\\u009bTimes" in listing
    assert "Evil\x1b[31m\x9bTimes" in {d["outlet"] for d in json.loads(listing)}
