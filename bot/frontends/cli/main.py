"""Command line: ask (one question, batch or interactive), rebuild, sources, eval, and the servers.

Every question goes through :class:`~bot.service.service.Service`, like those of the other front
ends: checked against the same limits, counted, and logged when a settings file is in use
(``config.yaml`` or ``--config``; without one a question leaves no file behind). Errors a person
can fix end in one line on stderr and a non-zero exit status (2 for bad input, 1 for an unusable
corpus/index or anything else that failed), never a traceback; :func:`main` maps them.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import NoReturn

from bot import __version__
from bot.core.build import build_index, describe_build
from bot.core.pipeline.engine import Engine, Tuning
from bot.core.pipeline.semantic import MODES, SemanticSettings
from bot.core.printable import json_text, printable
from bot.errors import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    BadInput,
    CorpusError,
    NewsbotError,
    exit_status,
)
from bot.frontends.cli.eval_command import add_eval_arguments
from bot.frontends.cli.paths import ENV_INDEX, ENV_SOURCES, missing_sources, resolve
from bot.frontends.cli.terminal import Screen
from bot.service.limits import DEFAULT_K, DEFAULT_LIMITS
from bot.service.service import Request, Service
from bot.service.settings_file import settings_file


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (with where to find help)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, printable(f"error: {message} (see {self.prog} --help)") + "\n")


def _note(message: str) -> None:
    print(printable(message), file=sys.stderr, flush=True)


@contextlib.contextmanager
def _service(args: argparse.Namespace, log: bool = True) -> Iterator[Service]:
    """The service over ``--sources``/``--index``; questions are logged when a settings file is
    in use (where its ``question_log`` says), so ``report`` shows them, never with ``log=False``."""
    in_use = settings_file(getattr(args, "config", None)) if log else None
    settings = None
    if in_use is not None:
        from bot.service.settings import load_settings

        settings = load_settings(in_use)
    configured = settings.semantic if settings is not None else "auto"
    service = Service.open(
        settings,
        args.sources,
        args.index,
        tuning=_tuning(args, configured),
        notify=_note,
        counted=False,
    )
    try:
        yield service
    finally:
        service.close()


def _tuning(args: argparse.Namespace, configured: str) -> Tuning:
    """The CLI's tuning: the semantic stage as a one-shot command gets it (see ``chosen``)."""
    flag = getattr(args, "semantic", None)
    return Tuning(semantic=SemanticSettings.chosen(configured, flag, one_shot=True))


def _print_answer(
    service: Service, question: str, args: argparse.Namespace, screen: Screen
) -> bool:
    """Answer one question on stdout; False if the question was rejected.

    In batch mode (``args.batch``) a rejected question is reported on stdout in its place, so the
    output lines up with the input.
    """
    try:
        answer = service.answer(Request(question, frontend="cli", k=args.k))
    except BadInput as exc:
        if args.json:
            screen.line(json_text({"question": question, "answered": False, "error": str(exc)}))
        elif args.batch:
            screen.text(f"error: {exc}")
        else:
            _note(f"error: {exc}")
        return False
    if args.json:
        screen.line(json_text(answer.to_json()))
    else:
        screen.answer(answer)
    return True


def cmd_ask(args: argparse.Namespace) -> int:
    """Answer the question given, or one question per line of standard input."""
    screen = Screen()
    question = " ".join(args.question)
    args.batch = not (args.question or sys.stdin is None or sys.stdin.isatty())
    DEFAULT_LIMITS.k(args.k)  # before opening the index: a bad -k fails at once
    if not args.batch:
        if not question.strip():
            raise BadInput("the question is empty; ask something")
        with _service(args) as service:
            return EXIT_OK if _print_answer(service, question, args, screen) else EXIT_USAGE
    status = EXIT_OK
    with _service(args) as service:
        for number, line in enumerate(sys.stdin):
            line = line.rstrip("\r\n")
            if not args.json:
                if number:
                    screen.line()
                screen.heading(line)
                screen.line()
            if not _print_answer(service, line, args, screen):
                status = EXIT_USAGE
    return status


def cmd_interactive(args: argparse.Namespace) -> int:
    """A prompt with line editing and history; Ctrl-D quits."""
    import readline

    history = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local/state")) / "newsbot"
    history_file = history / "history"
    with contextlib.suppress(OSError):
        readline.read_history_file(history_file)
    args.json, args.k, args.batch = False, DEFAULT_K, False
    with _service(args) as service:
        count = len(service.sources())
        screen = Screen()
        screen.text(f"Ask about the {count} articles in {args.sources} (Ctrl-D to quit).")
        try:
            while True:
                try:
                    question = input("? ")
                except KeyboardInterrupt:
                    print()
                    continue
                if question.strip():
                    _print_answer(service, question, args, screen)
                    print()
        except EOFError:
            print()
        finally:
            try:
                history.mkdir(parents=True, exist_ok=True)
                readline.set_history_length(1000)
                readline.write_history_file(history_file)
            except OSError:
                pass
    return EXIT_OK


def cmd_rebuild(args: argparse.Namespace) -> int:
    """Rebuild the index from the sources and say what went in and what was skipped."""
    from bot.frontends.cli.progress import rebuild_progress

    in_use = settings_file(getattr(args, "config", None))
    if in_use is None:
        tuning = _tuning(args, "auto")
    else:
        from bot.service.settings import load_settings

        tuning = _tuning(args, load_settings(in_use).semantic)

    with rebuild_progress() as (progress, note):
        report = build_index(
            args.sources,
            args.index,
            tuning.bm25,
            progress=progress,
            on_problem=lambda p: note(str(p)),
            notify=note,
            extras=Engine.extras(tuning),
        )
    print(describe_build(report))
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    """Verify every file of the index against its manifest digest; one line either way."""
    from bot.core.index import load_index

    index = load_index(args.index, deep=True)
    counts = index.manifest["counts"]
    print(
        f"{args.index}: ok, {counts['sources']} sources, {counts['passages']} passages, "
        f"{counts['vocabulary']} terms; every file matches the manifest's digest"
    )
    return EXIT_OK


def cmd_sources(args: argparse.Namespace) -> int:
    """List the corpus with its metadata."""
    from bot.frontends.cli.terminal import format_sources

    with _service(args, log=False) as service:
        sources = service.sources()
    screen = Screen()
    if args.json:
        screen.line(json_text([m.to_dict() for m in sources], indent=1))
    else:
        screen.text(format_sources(sources))
    return EXIT_OK


def _lazy(module: str, name: str) -> Callable[[argparse.Namespace], int]:
    """A command implemented in a module that is imported only when the command runs; it
    returns when done (or an exit status) and raises a NewsbotError for what a person can fix."""

    def run(args: argparse.Namespace) -> int:
        import importlib

        status = getattr(importlib.import_module(module), name)(args)
        return EXIT_OK if status is None else int(status)

    return run


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used by the tests and the README)."""
    config = _Parser(add_help=False)
    config.add_argument(
        "--config", type=Path, default=argparse.SUPPRESS, help="settings YAML (config.yaml)"
    )
    common = _Parser(add_help=False, parents=[config])
    common.add_argument(
        "--sources", type=Path, default=argparse.SUPPRESS, help=f"articles (or ${ENV_SOURCES})"
    )
    common.add_argument(
        "--index", type=Path, default=argparse.SUPPRESS, help=f"index folder (or ${ENV_INDEX})"
    )
    common.add_argument(
        "--semantic",
        choices=MODES,
        default=argparse.SUPPRESS,
        help="rank with sentence vectors: auto (when installed), on, off",
    )
    parser = _Parser(
        prog="newsbot",
        description="Ask questions of a collection of news articles; get back quoted passages.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="command")

    ask = sub.add_parser("ask", parents=[common], help="answer a question (or one per stdin line)")
    ask.add_argument("question", nargs="*", help="the question (omit to read stdin)")
    ask.add_argument(
        "-k", type=int, default=DEFAULT_K, help=f"how many quotes (default {DEFAULT_K})"
    )
    ask.add_argument("--json", action="store_true", help="print JSON (one object per question)")
    ask.set_defaults(func=cmd_ask)

    rebuild = sub.add_parser("rebuild", parents=[common], help="rebuild the index from sources")
    rebuild.set_defaults(func=cmd_rebuild)

    check = sub.add_parser("check", parents=[common], help="verify the index's files")
    check.set_defaults(func=cmd_check)

    sources = sub.add_parser("sources", parents=[common], help="list the articles")
    sources.add_argument("--json", action="store_true", help="print JSON")
    sources.set_defaults(func=cmd_sources)

    ev = sub.add_parser("eval", parents=[common], help="score the evaluation sets side by side")
    add_eval_arguments(ev)
    ev.set_defaults(func=_lazy("bot.frontends.cli.eval_command", "eval_command"))

    run = sub.add_parser("run", parents=[common], help="run the Discord bot")
    run.add_argument(
        "--sync-global", action="store_true", help="sync slash commands globally, then exit"
    )
    run.set_defaults(func=_lazy("bot.frontends.launch", "run_command"))

    serve = sub.add_parser("serve", parents=[common], help="serve the HTTP API only")
    serve.add_argument("--host", default=None, help="bind address (config http.host)")
    serve.add_argument("--port", type=int, default=None, help="port (config http.port)")
    serve.add_argument(
        "--workers", type=int, default=None, help="processes sharing the port (default: cores)"
    )
    for hidden in ("--ready-fd", "--worker-number"):  # how the parent starts each worker
        serve.add_argument(hidden, type=int, default=None, help=argparse.SUPPRESS)
    serve.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    serve.set_defaults(func=_lazy("bot.frontends.http_api.command", "serve_command"))

    report = sub.add_parser("report", parents=[config], help="summarise the question log")
    report.add_argument("--since", default=None, help="only questions on or after YYYY-MM-DD")
    report.add_argument("--log", type=Path, default=None, help="log file (config question_log)")
    report.add_argument("--json", action="store_true", help="print JSON")
    report.set_defaults(func=_lazy("bot.service.report", "report_command"))
    return parser


def _corpus(args: argparse.Namespace) -> None:
    """Set ``args.sources`` and ``args.index``; a missing sources folder is one clear line.

    run/serve take their paths from the settings (file and environment) unless given here.
    """
    if args.command in ("run", "serve"):
        args.sources = getattr(args, "sources", None)
        args.index = getattr(args, "index", None)
        return
    corpus = resolve(args)
    args.sources, args.index = corpus.sources, corpus.index
    if args.command in (None, "ask", "rebuild", "sources") and (message := missing_sources(corpus)):
        raise CorpusError(message)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m bot`` and the ``newsbot`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.config = getattr(args, "config", None)
    try:
        _corpus(args)
        if args.command is None:
            if sys.stdin is not None and sys.stdin.isatty() and sys.stdout.isatty():
                return cmd_interactive(args)
            parser.print_usage(sys.stderr)
            _note("error: give a command (ask, rebuild, check, sources, eval, run, serve, report)")
            return EXIT_USAGE
        return int(args.func(args))
    except NewsbotError as exc:
        _note(f"error: {exc}")
        return exit_status(exc)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        sys.stderr.close()
        return EXIT_OK
    except OSError as exc:  # a path the user gave that cannot be read or written
        where = f"{exc.filename}: " if exc.filename else ""
        _note(f"error: {where}{exc.strerror or exc}")
        return EXIT_FAILURE
