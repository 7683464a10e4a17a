"""``python -m bot eval`` end to end, in a subprocess, over small generated sets and corpora."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.core.pipeline.answerability import load_model, semantic_model_path
from bot.core.pipeline.engine import Engine, Tuning
from bot.core.pipeline.semantic import MINILM, installed_model
from bot.evaluation.runner import SEMANTIC_TRADEOFF_KNOB, TRADEOFF_KNOB, open_gate
from tests.helpers import run_cli, write_eval_workspace


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository-like folder with ../shared beside it holding tiny SQuAD, BBC and dev sets."""
    return write_eval_workspace(tmp_path_factory.mktemp("eval"))


def test_one_run_scores_every_report_set_side_by_side(repo: Path) -> None:
    result = run_cli("eval", cwd=repo)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("| set | purpose | corpus | questions (answerable + not) | hit@1")
    rows = [line.split(" | ")[0].lstrip("| ") for line in lines[2:7]]
    assert rows == [
        "own (eval/questions.yaml)",
        "dev (../shared/eval)",
        "SQuAD 2.0",
        "· plain rank-bm25 (whole paragraphs, top 3, never declines)",
        "archive (BBC News)",
    ]
    squad = lines[4].split(" | ")
    assert squad[2:4] == ["2 sources, 2 passages", "3 + 3"]
    knobs = (TRADEOFF_KNOB, SEMANTIC_TRADEOFF_KNOB)  # the semantic stage's model has its own
    assert any(f"`{knob}` varies" in result.stdout for knob in knobs)  # the trade-off curve
    for name in ("own", "dev", "squad2", "archive"):
        assert f"{name}: " in result.stderr and " questions in " in result.stderr
    assert "calibration" not in result.stdout


def test_json_holds_figures_baseline_curve_and_timings(repo: Path) -> None:
    result = run_cli("eval", "--json", cwd=repo)
    assert result.returncode == 0, result.stderr
    sets = json.loads(result.stdout)["sets"]
    assert list(sets) == ["own", "dev", "squad2", "archive"]
    own = sets["own"]
    assert own["questions"] == 3 and own["hit@3"] == 1.0 and own["abstention_accuracy"] == 1.0
    squad = sets["squad2"]
    assert squad["rank_bm25"]["hit@3"] == 1.0 and squad["rank_bm25"]["questions"] == 3
    points = squad["tradeoff"]["points"]
    knob = squad["tradeoff"]["knob"]
    assert knob in (TRADEOFF_KNOB, SEMANTIC_TRADEOFF_KNOB) and len(points) >= 5
    semantic_model = semantic_model_path(installed_model() or MINILM)
    default = (
        Tuning().setting(knob) if knob == TRADEOFF_KNOB else load_model(semantic_model).threshold
    )
    assert default in [p["value"] for p in points]  # the engine's own setting is on the curve
    assert f"| {default:g} (default) |" in run_cli("eval", "--sets", "squad2", cwd=repo).stdout
    declined = [p["abstained_when_unanswerable"] for p in points]
    assert declined == sorted(declined)  # a stricter gate never declines fewer
    assert set(squad["seconds"]) >= {"prepare", "index", "ask", "ranking", "rank-bm25", "curve"}
    assert squad["hit@3_gate_open"] >= squad["hit@3"]  # the ranking alone, gate never declining
    assert sets["archive"]["sources"] == 2 and sets["archive"]["hit@1"] == 1.0


def test_second_run_reuses_the_built_corpora_and_indexes(repo: Path) -> None:
    run_cli("eval", "--no-curve", cwd=repo)
    again = run_cli("eval", "--no-curve", cwd=repo)
    assert again.returncode == 0, again.stderr
    assert "Rebuilding" not in again.stderr and "wrote" not in again.stderr
    assert (repo / ".cache" / "eval" / "squad2" / "index" / "manifest.json").is_file()


def test_calibration_sets_are_scored_by_the_same_command(repo: Path) -> None:
    result = run_cli("eval", "--sets", "calibration", "--json", cwd=repo)
    assert result.returncode == 0, result.stderr
    sets = json.loads(result.stdout)["sets"]
    assert sets["chat-calibration"]["hit@1"] == 1.0
    assert sets["archive-calibration"]["hit@1"] == 1.0
    assert sets["squad2-calibration"]["questions"] == 0  # the tiny set is all in the sample


def test_full_reports_every_squad_question_and_leaves_none_to_calibrate(repo: Path) -> None:
    result = run_cli("eval", "--sets", "squad2,squad2-calibration", "--full", "--json", cwd=repo)
    assert result.returncode == 0, result.stderr
    sets = json.loads(result.stdout)["sets"]
    assert sets["squad2"]["questions"] == 6
    assert sets["squad2-calibration"]["skipped"].startswith("with --full every SQuAD question")
    assert "squad2-calibration: skipped — with --full" in result.stderr


def test_verbose_lists_misses_per_set(repo: Path) -> None:
    result = run_cli("eval", "--sets", "squad2", "--no-curve", "-v", cwd=repo)
    assert result.returncode == 0, result.stderr
    assert "squad2: missed (no hit at rank 1, or wrongly answered / declined):" in result.stdout
    data = run_cli("eval", "--sets", "squad2", "--no-curve", "--json", "-v", cwd=repo)
    squad = json.loads(data.stdout)["sets"]["squad2"]
    declined = [m for m in squad["misses"] if m["answerable"] and not m["answered"]]
    assert all(m["reason"] for m in declined)
    assert len(squad["misses"]) == round((1 - squad["abstention_accuracy"]) * 6) + sum(
        1 for m in squad["misses"] if m["answerable"] and m["answered"]
    )


def test_without_shared_each_shared_set_is_skipped_in_one_line(tmp_path: Path) -> None:
    repo = write_eval_workspace(tmp_path, shared=False)
    result = run_cli("eval", cwd=repo)
    assert result.returncode == 0, result.stderr
    absent = "(../shared is absent)"
    assert f"dev: skipped — ../shared/eval/dev_questions.yaml not found {absent}" in result.stderr
    assert f"squad2: skipped — ../shared/data/squad2/dev-v2.0.json not found {absent}" in (
        result.stderr
    )
    assert "archive: skipped — ../shared/data/bbc_news/articles.jsonl" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout.count("\n| ") == 2  # the table holds the own set alone


def test_questions_file_scores_one_file_over_sources(repo: Path) -> None:
    result = run_cli("eval", "--questions", "eval/questions.yaml", "--json", cwd=repo)
    assert result.returncode == 0, result.stderr
    sets = json.loads(result.stdout)["sets"]
    assert list(sets) == ["questions"] and sets["questions"]["questions"] == 3


def test_unknown_set_is_a_usage_error(repo: Path) -> None:
    result = run_cli("eval", "--sets", "own,nope", cwd=repo)
    assert result.returncode == 2
    assert result.stderr.startswith("error: unknown evaluation set 'nope'; choose from report")


def test_calibration_figures_never_go_into_the_published_table(repo: Path) -> None:
    target = repo / "PUBLISHED.md"
    target.write_text("<!-- eval-table:begin -->\n<!-- eval-table:end -->\n")
    result = run_cli("eval", "--sets", "own,chat-calibration", "--update", "PUBLISHED.md", cwd=repo)
    assert result.returncode == 2
    assert "chat-calibration are for fitting and never go in it" in result.stderr
    assert target.read_text() == "<!-- eval-table:begin -->\n<!-- eval-table:end -->\n"
    empty = run_cli("eval", "--sets", ",", cwd=repo)
    assert empty.returncode == 2 and "no evaluation set named" in empty.stderr


def test_update_writes_the_table_between_the_markers(repo: Path) -> None:
    target = repo / "NOTES.md"
    target.write_text("# Notes\n<!-- eval-table:begin -->\nold\n<!-- eval-table:end -->\nend\n")
    result = run_cli("eval", "--sets", "own", "--update", "NOTES.md", cwd=repo)
    assert result.returncode == 0, result.stderr
    text = target.read_text()
    assert "old" not in text and text.endswith("<!-- eval-table:end -->\nend\n")
    assert result.stdout.strip() in text
    target.write_text("no markers\n")
    bad = run_cli("eval", "--sets", "own", "--update", "NOTES.md", cwd=repo)
    assert bad.returncode == 2 and "markers" in bad.stderr and target.read_text() == "no markers\n"


def test_calibrate_scores_each_threshold_of_one_file(repo: Path) -> None:
    from bot.evaluation.scoring import THRESHOLDS

    result = run_cli("eval", "--questions", "eval/questions.yaml", "--calibrate", cwd=repo)
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["threshold", "abst", "hit@3", "answered", "abstained"]
    assert [float(r.split()[0]) for r in rows] == list(THRESHOLDS)


def test_sweep_compares_every_bm25_setting(repo: Path) -> None:
    from bot.core.bm25 import VARIANTS

    result = run_cli("eval", "--questions", "eval/questions.yaml", "--sweep", cwd=repo)
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["variant", "k1", "b", "hit@1", "hit@3", "MRR", "abst"]
    assert len(rows) == len(VARIANTS) * 9 and {r.split()[0] for r in rows} == set(VARIANTS)


def test_the_open_gate_answers_what_the_default_gate_declines(small: Engine) -> None:
    question = "what is the weather like in naples"  # "weather" is in no passage
    assert not small.ask(question).answered
    wide = Engine.over(small.index, open_gate(small.tuning))
    answer = wide.ask(question)
    assert answer.answered and "Naples" in answer.quotes[0].text
