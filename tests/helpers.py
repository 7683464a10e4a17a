"""Shared test helpers: small corpora written to a temp folder, and running the CLI for real."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.frontends.http_api.server import HealthProbe
    from bot.service.service import Service
    from bot.service.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT.parent / "shared" / "seeds"

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
    *args: str, input: str | None = None, cwd: Path = ROOT, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m bot ARGS`` in a subprocess, as a user would, and capture its output."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
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
        question_log=QuestionLogSettings(**log),  # type: ignore[arg-type]
    )


@contextlib.asynccontextmanager
async def serving(
    service: Service, settings: Settings, probe: HealthProbe | None = None
) -> AsyncIterator[str]:
    """Run the HTTP API for ``service`` on a free 127.0.0.1 port; yields its base URL."""
    from bot.frontends.http_api.server import bound_address, start_http

    runner = await start_http(service, settings, probe, host="127.0.0.1", port=0, access_log=False)
    try:
        host, port = bound_address(runner)
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()
