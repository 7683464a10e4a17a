"""``python -m bot eval``: every evaluation set side by side in one run, as Markdown or JSON.

Only argparse at import time: the rest loads when the command runs, so ``ask`` starts fast.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def add_eval_arguments(ev: argparse.ArgumentParser) -> None:
    """The eval command's options."""
    ev.add_argument(
        "--sets",
        default="report",
        help="comma-separated set names, or report (default), calibration, all",
    )
    ev.add_argument(
        "--questions", type=Path, default=None, help="score this one file over --sources instead"
    )
    ev.add_argument("--full", action="store_true", help="SQuAD: every question, not the sample")
    ev.add_argument("--shared", type=Path, default=Path("../shared"), help="shared data folder")
    ev.add_argument(
        "--cache", type=Path, default=Path(".cache/eval"), help="built corpora and their indexes"
    )
    ev.add_argument("--no-curve", action="store_true", help="skip the abstention trade-off curve")
    ev.add_argument(
        "--update", type=Path, default=None, metavar="FILE", help="also write the table into FILE"
    )
    ev.add_argument("--sweep", action="store_true", help="compare BM25 variants and parameters")
    ev.add_argument("--calibrate", action="store_true", help="compare abstention thresholds")
    ev.add_argument("--json", action="store_true", help="print the figures as JSON")
    ev.add_argument("-v", "--verbose", action="store_true", help="list the questions missed")


def _note(message: str) -> None:
    from bot.core.printable import printable

    print(printable(message), file=sys.stderr, flush=True)


def eval_command(args: argparse.Namespace) -> int:
    """Score the chosen sets (or run the --sweep / --calibrate comparisons on one file)."""
    from bot.core.pipeline.engine import Tuning
    from bot.core.pipeline.semantic import SemanticSettings
    from bot.core.printable import printable
    from bot.errors import BadInput
    from bot.evaluation import sets, tables
    from bot.evaluation.runner import run_sets

    if args.sweep or args.calibrate:
        return _compare(args)
    ws = sets.Workspace(
        sources=args.sources, index=args.index, shared=args.shared, cache=args.cache, full=args.full
    )
    chosen = [sets.question_file(args.questions)] if args.questions else sets.select(args.sets)
    fitting = [s.name for s in chosen if s.purpose != sets.REPORT]
    if args.update and fitting:
        raise BadInput(
            f"--update writes the published table; {', '.join(fitting)} "
            "are for fitting and never go in it"
        )
    began = time.perf_counter()
    tuning = Tuning(semantic=SemanticSettings(getattr(args, "semantic", "auto")))
    runs = run_sets(chosen, ws, notify=_note, tuning=tuning, curve=not args.no_curve)
    scored = [r for r in runs if r.report is not None]
    asked = sum(len(r.report.results) for r in scored if r.report is not None)
    seconds = time.perf_counter() - began
    sets_word = "set" if len(scored) == 1 else "sets"
    _note(f"eval: {len(scored)} {sets_word}, {asked:,} questions in {seconds:.1f} s")
    if not scored:
        _note("error: no evaluation set could be scored (see above)")
        return 1
    if args.json:
        print(json.dumps(tables.to_json(runs, misses=args.verbose)))
    else:
        print(tables.markdown(scored))
        if args.verbose:
            for run in scored:
                print(printable("\n" + tables.misses_text(run)))
    if args.update:
        _write_block(args.update, tables.markdown(scored))
        _note(f"eval: table written into {args.update}")
    return 0


def _write_block(path: Path, block: str) -> None:
    """Replace the table between the eval-table markers of ``path``, atomically."""
    from bot.errors import BadInput
    from bot.evaluation.corpora import write_atomic
    from bot.evaluation.tables import replace_block

    try:
        updated = replace_block(path.read_text(encoding="utf-8"), block)
    except ValueError as exc:
        raise BadInput(f"{path}: {exc}; add them where the table goes") from None
    write_atomic(path, updated.encode("utf-8"))


def _compare(args: argparse.Namespace) -> int:
    """--calibrate (abstention thresholds) or --sweep (BM25 settings) on one question file."""
    from bot.core.pipeline.engine import Engine, Tuning
    from bot.evaluation.scoring import (
        DEFAULT_QUESTIONS,
        calibrate,
        load_questions,
        sweep,
        sweep_grid,
    )

    questions = load_questions(args.questions or DEFAULT_QUESTIONS)
    if args.calibrate:
        engine = Engine.open(args.sources, args.index, notify=_note)
        print(f"{'threshold':>9} {'abst':>6} {'hit@3':>6} {'answered':>9} {'abstained':>9}")
        for threshold, report in calibrate(engine, questions):
            f = report.figures()
            print(
                f"{threshold:9} {f['abstention_accuracy']:6.3f} {f['hit@3']:6.3f} "
                f"{f['answered_when_answerable']:9.3f} {f['abstained_when_unanswerable']:9.3f}"
            )
        return 0
    print(f"{'variant':8} {'k1':>4} {'b':>5} {'hit@1':>6} {'hit@3':>6} {'MRR':>6} {'abst':>6}")
    for params, report in sweep(args.sources, questions, sweep_grid(), Tuning()):
        f = report.figures()
        print(
            f"{params.variant:8} {params.k1:4} {params.b:5} {f['hit@1']:6.3f} "
            f"{f['hit@3']:6.3f} {f['mrr']:6.3f} {f['abstention_accuracy']:6.3f}"
        )
    return 0
