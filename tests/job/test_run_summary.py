"""RunSummary, the job -> launcher contract: torch-free, tolerant of old and newer files, written as it always was."""

from __future__ import annotations

import json
import subprocess
import sys

from tunecost.job.run_summary import SUMMARY_PREFIX, RunSummary, StopReason, read_summary, write_summary


def test_the_contract_imports_without_torch():
    """The launcher reads summaries on machines with no torch: the module must not pull it in."""
    code = ("import sys, tunecost.job.run_summary; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'peft')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr


def test_an_old_or_partial_summary_loads_and_unknown_keys_are_ignored(tmp_path):
    path = tmp_path / "run_summary.json"
    path.write_text('{"steps": 3, "stop_reason": "sigterm", "final_loss": NaN, "from_a_newer_job": [1]}')
    s = read_summary(path)
    assert s.steps == 3 and s.stop_reason is StopReason.SIGTERM and s.final_loss != s.final_loss  # NaN kept
    assert s.resumed_from == [] and s.total_seconds is None and s.error is None
    assert not hasattr(s, "from_a_newer_job")


def test_a_file_that_is_no_summary_reads_as_none(tmp_path):
    assert read_summary(tmp_path / "missing.json") is None
    (tmp_path / "bad.json").write_text('{"stop_reason": "exploded"}')
    assert read_summary(tmp_path / "bad.json") is None


def test_the_file_and_the_stdout_line_are_the_same_json_as_json_dumps_writes(tmp_path, capsys):
    """The text is what the job wrote before the model (ASCII escapes, Python floats, NaN), so readers of old
    summaries and of new ones see the same; the last stdout line is the file's JSON on one line."""
    s = RunSummary(steps=2, eval_loss=1e-05, final_loss=float("nan"), stop_reason="max_steps",
                   loss_curve=[[1, 2.0], [2, 1.5]], sample={"prompt": "é", "base": "x"})
    write_summary(tmp_path, s)
    data = json.loads((tmp_path / "run_summary.json").read_text())
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line == SUMMARY_PREFIX + json.dumps(data, separators=(",", ":"))
    assert '"eval_loss":1e-05' in line and '"final_loss":NaN' in line and "\\u00e9" in line
    assert data["stop_reason"] == "max_steps" and data["loss_curve"] == [[1, 2.0], [2, 1.5]]
    assert set(data) == set(RunSummary.model_fields)  # every field, null where the job has no figure
