"""What each stage of the answer pipeline costs per question, at three corpus sizes.

Usage::

    PYTHONPATH=. python benchmarks/pipeline_stages.py          # own five articles, BBC, AG ×17
    PYTHONPATH=. python benchmarks/pipeline_stages.py --quick  # AG News ×2

Each corpus is asked its questions twice in a fresh engine: the first round cold (every
question new: nothing decoded, paged in or imported yet, as ``ask --json`` batch mode meets it),
the second warm (as a running server is). The table shows, for the warm round, the mean of each
stage's time from ``Answer.timings``, of the whole ``Engine.ask`` plus its JSON, that mean
divided by the bare BM25 top 10 for the same terms (the ratio survives a loaded machine) and the
p95; then the cold round's mean and p95.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.ag_news import CORPUS, HELD_OUT, SEED, read_items, write_replicated
from benchmarks.common import DATA, machine_description, markdown_table, percentile, write_results
from bot.core.pipeline.engine import Engine
from bot.core.pipeline.question import understand

STAGES = ("question_ms", "search_ms", "match_ms", "judge_ms", "diversify_ms", "quote_ms")


def measure(engine: Engine, questions: list[str]) -> dict[str, list[float]]:
    """Per-stage milliseconds of the second round of questions; the first round's whole."""
    times: dict[str, list[float]] = {s: [] for s in (*STAGES, "ask+json", "bare", "cold")}
    for question in questions:
        began = time.perf_counter()
        json.dumps(engine.ask(question).to_json(), ensure_ascii=False)
        times["cold"].append((time.perf_counter() - began) * 1000)
    for question in questions:
        terms = understand(question, engine.backend, engine.synonyms, engine.tuning.question)
        began = time.perf_counter()
        engine.backend.search(terms.query_ids, 10, {})
        times["bare"].append((time.perf_counter() - began) * 1000)
        began = time.perf_counter()
        answer = engine.ask(question)
        json.dumps(answer.to_json(), ensure_ascii=False)
        times["ask+json"].append((time.perf_counter() - began) * 1000)
        for stage in STAGES:
            times[stage].append(answer.timings.get(stage, 0.0))
    return times


def corpora(work: Path, quick: bool) -> list[tuple[str, Path, list[str]]]:
    """(name, sources, questions) for each corpus measured."""
    own = [
        q.split('"')[1]
        for q in Path("eval/questions.yaml").read_text(encoding="utf-8").splitlines()
        if q.strip().startswith("- {q:")
    ]
    found = [("own five articles", Path("sources"), own)]
    bbc = DATA / "bbc_news" / "articles.jsonl"
    if bbc.is_file():
        titles = [json.loads(line)["title"] for line in bbc.open(encoding="utf-8")]
        found.append(("BBC News (2,225 articles)", bbc, random.Random(1).sample(titles, 300)))
    if CORPUS.is_file():
        items = read_items(CORPUS)
        held = set(random.Random(SEED).sample(range(len(items)), HELD_OUT))
        out = work / "ag" / "ag.jsonl"
        out.parent.mkdir(parents=True, exist_ok=True)
        copies = 2 if quick else 17
        count = write_replicated(items, held, copies, out)
        found.append((f"AG News ×{copies} ({count:,} items)", out, [items[i][0] for i in held]))
    return found


def main() -> None:
    """Measure every corpus and print (and save) the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="AG News ×2 instead of ×17")
    args = parser.parse_args()
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix="bot-stages-") as tmp:
        for name, sources, questions in corpora(Path(tmp), args.quick):
            engine = Engine.open(sources, Path(tmp) / f"index-{len(rows)}")
            times = measure(engine, questions)
            cells = [f"{statistics.fmean(times[s]):.3f}" for s in (*STAGES, "ask+json")]
            ratio = statistics.fmean(times["ask+json"]) / statistics.fmean(times["bare"])
            cells.append(f"{ratio:.1f}×")
            rows.append(
                [
                    name,
                    f"{engine.backend.size:,}",
                    *cells,
                    f"{percentile(times['ask+json'], 95):.3f}",
                    f"{statistics.fmean(times['cold']):.3f}",
                    f"{percentile(times['cold'], 95):.3f}",
                ]
            )
    headers = [
        "corpus",
        "passages",
        *(s.removesuffix("_ms") for s in STAGES),
        "ask+json mean",
        "÷ bare search",
        "ask+json p95",
        "cold mean",
        "cold p95",
    ]
    table = markdown_table(headers, rows)
    name = "pipeline_stages-quick" if args.quick else "pipeline_stages"
    write_results(name, "Pipeline stages (ms per question)", [machine_description(), table])


if __name__ == "__main__":
    main()
