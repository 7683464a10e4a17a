"""Shared test helpers: small corpora written to a temp folder, and running the CLI for real."""

from __future__ import annotations

import contextlib
import math
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from bot.core.bm25 import BM25Params, Postings

if TYPE_CHECKING:
    import asyncio

    from bot.frontends.http_api.server import HealthCheck
    from bot.service.service import Service
    from bot.service.settings import Settings
    from tests.discord_standin import DiscordStandIn

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
SHARED_ENV = "NEWSBOT_SHARED"  # points the tests' ../shared elsewhere (to prove they skip)


def shared_path(*parts: str) -> Path:
    """A path inside ``../shared`` beside the repo; skips the test, saying why, when absent."""
    import pytest

    root = Path(os.environ.get(SHARED_ENV) or ROOT.parent / "shared")
    path = root.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs the shared data folder: {path} is absent (../shared beside the repo)")
    return path


ARTICLES = {
    "kurils.md": """\
        ---
        title: Islands dispute drags on
        outlet: Example Times
        author: Jane Doe
        date: 2022-03-22
        url: https://example.org/kurils
        language: en
        ---

        About 17,000 Japanese lived on the islands before the Soviet Union occupied them in 1945.

        The Kremlin said it would suspend visa-free visits for former residents of the islands.
        """,
    "bread.md": """\
        ---
        title: Baking at home
        outlet: Kitchen Weekly
        ---

        Sourdough bread needs a starter of flour and water, fed every day for a week.

        Bakers in Naples prefer a long fermentation for their pizza dough, often two days.
        """,
}


def write_corpus(folder: Path, articles: dict[str, str] | None = None) -> Path:
    """Write articles (name → text, dedented) into ``folder`` and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (ARTICLES if articles is None else articles).items():
        (folder / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return folder


def run_cli(
    *args: str,
    input: str | None = None,
    cwd: Path = ROOT,
    timeout: float = 120,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m bot ARGS`` in a subprocess, as a user would, and capture its output.

    ``env`` adds variables; NEWSBOT_SOURCES / NEWSBOT_INDEX from the caller's shell never leak in.
    """
    inherited = {
        k: v for k, v in os.environ.items() if k not in ("NEWSBOT_SOURCES", "NEWSBOT_INDEX")
    }
    env = {**inherited, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=input if input is not None else "",
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
    )


# --- HTTP API / service / question log (issue 5) ----------------------------------------------


def run(coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
    """Run a coroutine to completion in a fresh event loop, bounded in time."""
    import asyncio

    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def service_settings(tmp_path: Path, **question_log: object) -> Settings:
    """Settings for a Service over ``write_corpus(tmp_path / "sources")``, logging into tmp_path."""
    from bot.service.settings import HttpSettings, QuestionLogSettings, Settings

    log = {"path": tmp_path / "logs" / "questions.jsonl", **question_log}
    return Settings(
        sources=write_corpus(tmp_path / "sources"),
        index=tmp_path / "index",
        http=HttpSettings(max_k=5),
        question_log=QuestionLogSettings(**log),
        semantic="off",  # answers pinned lexically; the semantic stage has its own tests
    )


def guarded_api_settings(tmp_path: Path, monkeypatch: Any, token: str) -> Settings:
    """:func:`service_settings` for the HTTP API's connection-level tests: cwd in tmp_path, the
    API token set, a fixed log salt, and a 0.5 s idle timeout (timeouts are quick to observe)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NEWSBOT_API_TOKEN", token)
    monkeypatch.setenv("NEWSBOT_LOG_SALT", "test-salt")
    base = service_settings(tmp_path)
    return base.model_copy(
        update={"http": base.http.model_copy(update={"idle_timeout_seconds": 0.5})}
    )


@contextlib.asynccontextmanager
async def serving(service: Service, settings: Settings, *checks: HealthCheck) -> AsyncIterator[str]:
    """Run the HTTP API for ``service`` on a free 127.0.0.1 port; yields its base URL."""
    from bot.frontends.http_api.server import bound_address, start_http

    runner = await start_http(service, settings, checks, host="127.0.0.1", port=0, access_log=False)
    try:
        host, port = bound_address(runner)
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


# --- evaluation sets (issue 9) ----------------------------------------------------------------

SQUAD_ARTICLES = {
    "Lighthouses": [
        (
            "The Bell Rock Lighthouse stands off the coast of Angus, Scotland. It was built "
            "between 1807 and 1810 by Robert Stevenson.",
            [("Who built the Bell Rock Lighthouse?", "Robert Stevenson")],
            ["Who painted the Bell Rock Lighthouse?"],
        ),
        (
            "Its light can be seen from 35 nautical miles away. The tower is 35 metres tall.",
            [("How tall is the tower of the lighthouse?", "35 metres")],
            ["How many keepers lived in the tower?"],
        ),
    ],
    "Volcanoes": [
        (
            "Mount Etna is an active stratovolcano on the east coast of Sicily, Italy.",
            [("On which island is Mount Etna?", "Sicily")],
            ["When did Mount Etna last erupt?"],
        ),
    ],
}


def write_squad(path: Path, articles: dict[str, list[Any]] | None = None) -> Path:
    """A SQuAD 2.0 JSON file: ``title → [(context, [(question, answer)], [impossible q])]``."""
    import json

    data = []
    for title, paragraphs in (SQUAD_ARTICLES if articles is None else articles).items():
        rows = []
        for n, (context, answerable, impossible) in enumerate(paragraphs):
            qas = [
                {
                    "id": f"{title}-{n}-a{i}",
                    "question": q,
                    "answers": [{"text": a, "answer_start": context.index(a)}] * 2,
                    "is_impossible": False,
                }
                for i, (q, a) in enumerate(answerable)
            ]
            qas += [
                {
                    "id": f"{title}-{n}-u{i}",
                    "question": q,
                    "answers": [],
                    "plausible_answers": [{"text": "x", "answer_start": 0}],
                    "is_impossible": True,
                }
                for i, q in enumerate(impossible)
            ]
            rows.append({"context": context, "qas": qas})
        data.append({"title": title, "paragraphs": rows})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": "v2.0", "data": data}), encoding="utf-8")
    return path


ARCHIVE_ROWS = [
    {
        "id": "business/001",
        "category": "business",
        "title": "Bakery chain expands",
        "text": "A bakery chain opened 40 new shops in Leeds.\n\nIts chief executive is "
        "Mary Baker.\n",
    },
    {
        "id": "sport/001",
        "category": "sport",
        "title": "Rowing club wins",
        "text": "The Henley rowing club won the regatta by two lengths.\n",
    },
]

QUESTION_FILES = {
    "eval/questions.yaml": """\
        questions:
          - {q: "How many Japanese lived on the islands?", expect: ["17,000"], kind: factoid}
          - {q: "What does sourdough need?", expect: ["starter"], kind: factoid}
          - {q: "Who won the 1966 World Cup?", expect: [], kind: offtopic}
        """,
    "eval/archive_questions.yaml": """\
        questions:
          - {q: "how many shops did the bakery open", expect: ["40 new shops"], kind: factoid}
          - {q: "who won the regatta", expect: ["Henley"], kind: factoid}
          - {q: "what is the capital of peru", expect: [], kind: offtopic}
        """,
    "eval/chat_calibration.yaml": """\
        questions:
          - {q: "visa free visits suspended", expect: ["visa-free"], kind: factoid}
        """,
    "eval/archive_calibration.yaml": """\
        questions:
          - {q: "bakery chief executive", expect: ["Mary Baker"], kind: factoid}
        """,
}


def write_eval_workspace(root: Path, shared: bool = True) -> Path:
    """A repository-like folder ``root/repo`` (sources/, eval/) and, if asked, ``root/shared``."""
    import json

    repo = root / "repo"
    write_corpus(repo / "sources")
    (repo / "eval").mkdir()
    write_corpus(repo, QUESTION_FILES)
    if shared:
        data = root / "shared"
        write_corpus(data / "eval", {"dev_questions.yaml": QUESTION_FILES["eval/questions.yaml"]})
        write_squad(data / "data" / "squad2" / "dev-v2.0.json")
        rows = "".join(json.dumps(row) + "\n" for row in ARCHIVE_ROWS)
        (data / "data" / "bbc_news").mkdir(parents=True)
        (data / "data" / "bbc_news" / "articles.jsonl").write_text(rows, encoding="utf-8")
    return repo


# --- pseudo-terminals ------------------------------------------------------------------------


def read_until(fd: int, marker: bytes | None, timeout: float = 30.0) -> bytes:
    """Read a terminal until ``marker`` shows up, or (``None``) until it closes; bounded in time."""
    import select
    import time

    out = b""
    deadline = time.monotonic() + timeout
    while (marker is None or marker not in out) and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the other side closed
                break
            if not chunk:
                break
            out += chunk
    return out


def spawn_in_pty(
    args: list[str], *, columns: int = 80, home: Path | None = None, **env: str
) -> tuple[subprocess.Popen[bytes], int]:
    """Start ``python -m bot ARGS`` on a new pseudo-terminal ``columns`` wide; (process, fd)."""
    import fcntl
    import pty
    import struct
    import termios

    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    skip = {"NO_COLOR", "COLUMNS", "LINES", "FORCE_COLOR", "TERM"}
    environ = {k: v for k, v in os.environ.items() if k not in skip}
    environ.update(PYTHONPATH=str(ROOT), TERM="xterm-256color")
    if home is not None:
        environ.update(HOME=str(home), XDG_STATE_HOME=str(home))
    environ.update(env)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", *args],
        stdin=child,
        stdout=child,
        stderr=child,
        cwd=ROOT,
        env=environ,
        close_fds=True,
    )
    os.close(child)
    return proc, main


def run_in_pty(args: list[str], *, columns: int = 80, timeout: float = 60, **env: str) -> str:
    """Run ``python -m bot ARGS`` on a pseudo-terminal to its end; everything it wrote, decoded."""
    proc, fd = spawn_in_pty(args, columns=columns, home=None, **env)
    try:
        out = read_until(fd, None, timeout)
        proc.wait(timeout=timeout)
    finally:
        proc.kill()
        os.close(fd)
    return out.decode("utf-8").replace("\r\n", "\n")


# --- the Discord stand-in in a thread (tests and benchmarks) --------------------------------


@contextlib.contextmanager
def standin_in_thread(
    **kwargs: Any,
) -> Iterator[tuple[DiscordStandIn, asyncio.AbstractEventLoop]]:
    """A stand-in serving from its own event loop in a thread (the bot runs in the main one),
    with discord.py pointed at it; for the tests and ``benchmarks/bench_discord.py``."""
    import asyncio
    import threading

    from tests.discord_standin import DiscordStandIn, patch_discord

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    standin = asyncio.run_coroutine_threadsafe(DiscordStandIn(**kwargs).start(), loop).result(5)
    try:
        with patch_discord(standin):
            yield standin, loop
    finally:
        asyncio.run_coroutine_threadsafe(standin.close(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


# --- BM25 reference: the dense path and rank_bm25's model (tests and benchmarks) ---------------


def bm25_scores(postings: Postings, term_ids: Sequence[int], counts: Sequence[float]) -> np.ndarray:
    """BM25 score of every passage for a query given as term ids with their counts."""
    scores = np.zeros(postings.n_docs)
    constant = 0.0
    for term, count in zip(term_ids, counts, strict=True):
        lo, hi = postings.indptr[term], postings.indptr[term + 1]
        scores[postings.docs[lo:hi]] += count * postings.weights[lo:hi]
        constant += count * postings.zero[term]
    if constant:
        scores += constant
    return scores


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` best scores, best first; ties go to the earlier passage."""
    k = min(k, len(scores))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    if k < len(scores):
        threshold = np.partition(scores, len(scores) - k)[len(scores) - k]
        candidates = np.flatnonzero(scores >= threshold)
    else:
        candidates = np.arange(len(scores))
    order = np.lexsort((candidates, -scores[candidates]))
    return candidates[order][:k]


def reference_model(corpus: list[list[str]], params: BM25Params) -> Any:
    """The ``rank_bm25`` model ``bot.core.bm25`` reproduces, for tests and benchmarks.

    Imported lazily: rank_bm25 pulls in multiprocessing, which a query never needs.
    """
    import rank_bm25

    class LuceneBM25(rank_bm25.BM25Okapi):
        """rank_bm25's Okapi scoring with Lucene's always-positive idf (no epsilon floor)."""

        def _calc_idf(self, nd: dict[str, int]) -> None:
            for word, freq in nd.items():
                self.idf[word] = math.log(1.0 + (self.corpus_size - freq + 0.5) / (freq + 0.5))

    k1, b = params.k1, params.b
    if params.variant == "okapi":
        return rank_bm25.BM25Okapi(corpus, k1=k1, b=b, epsilon=params.epsilon)
    if params.variant == "lucene":
        return LuceneBM25(corpus, k1=k1, b=b)
    if params.variant == "plus":
        return rank_bm25.BM25Plus(corpus, k1=k1, b=b, delta=params.delta)
    return rank_bm25.BM25L(corpus, k1=k1, b=b, delta=params.delta)
