"""The bad-input audit as one table: every case runs the real CLI (typer's CliRunner, the app's own error handling)
and must give exactly one `error:` line, exit 2, no traceback, and leave the ledger and the run folders as they
were; or, where the input is legal after all (`--until 9999-12-31`), simply work.

Numbers (NaN, infinities, out of range, negative money) come in through flags, plan.json, price CSVs, sweep flags
and files; rows and targets the job would refuse are refused before a run is recorded.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Optional

import pytest
from typer.testing import CliRunner

from tunecost.job import checkpoints
from tunecost.launcher.backends.cpu_probe import PROBE_FILE
from tunecost.launcher.cli import app
from tunecost.launcher.ledger.run_folder import CONFIG_NAME
from tunecost.launcher.ledger.run_record import RunRecord
from tunecost.launcher.ledger.store import Ledger, now
from tunecost.planner.plan import Sweep, SweepPoint

from .conftest import SINGLE

MODEL = "meta-llama/Llama-3.1-8B"
HUGE = str(10**30)  # a count Python holds, but no run has
PLAN = ["plan", "--model", MODEL, "--tokens", "1000000"]
LOCAL = ["launch", "--local", "--model", "tiny", "--dataset", "demo"]
PRICES_HEADER = "provider,instance_type,gpu,gpu_count,price_per_hour\n"
ALIASES = "".join(f"{n}: &{n} [{', '.join(['*' + p] * 9) if p else ', '.join(['x'] * 9)}]\n"
                  for n, p in zip("abcdef", ["", "a", "b", "c", "d", "e"])) + "rank: [*f, *f, *f, *f]\n"


def _plan_with(path: str, value: str) -> str:
    """SINGLE's plan.json with the field at `path` (dotted) replaced by a raw JSON token (NaN, 1e308, ...)."""
    data = json.loads(SINGLE.model_dump_json())
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    node[last] = "@@"
    return json.dumps(data).replace('"@@"', value)


def _sweep_with_learning_rates(*rates: float) -> str:
    """SINGLE as a sweep over the learning rate, as a hand-edited plan.json might hold it."""
    points = [SweepPoint(index=i, params={"learning-rate": lr}, spec=SINGLE.spec, job={"learning_rate": lr},
                         quotes=SINGLE.quotes) for i, lr in enumerate(rates)]
    return SINGLE.model_copy(update={"sweep": Sweep(points=points)}).model_dump_json()


def _safetensors(names: list[str]) -> bytes:
    header = json.dumps({n: {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]} for n in names}).encode()
    return struct.pack("<Q", len(header)) + header + b"\0" * 4


@pytest.fixture
def files(tmp_path) -> dict[str, Path]:
    """Every bad input file of the table, by name ('bomb.yaml' as {bomb_yaml})."""
    texts: dict[str, str | bytes] = {
        "rows": '{"text": "hello there"}\n{"text": "general kenobi"}\n',
        "one_row": '{"text": "the only row"}\n',
        "deep": "[" * 100_000 + "\n",
        "surrogate": '{"text": "fine"}\n{"text": "\\ud800"}\n',
        "surrogate_chat": '{"messages": [{"role": "user", "content": "\\udfff"}, {"role": "assistant", '
                          '"content": "ok"}]}\n',
        "bomb.yaml": ALIASES,
        "inf.yaml": "learning-rate: [.inf]\n",
        "nan.yaml": "epochs: [.nan]\n",
        "big_cell.csv": PRICES_HEADER + "acme," + "x" * 140_000 + ",A100-80GB,1,1.5\n",
        "many_gpus.csv": PRICES_HEADER + "acme,x1,A100-80GB,100000000000000000000,1.5\n",
        "inf_price.csv": PRICES_HEADER + "acme,x1,A100-80GB,1,inf\n",
        "neg_price.csv": PRICES_HEADER + "acme,x1,A100-80GB,1,-1.5\n",
        "nan_price.csv": PRICES_HEADER + "acme,x1,A100-80GB,1,nan\n",
        "managed.csv": "provider,models,method,usd_per_hour,open_weights,status,source\n"
                       "acme,open models <=16B,sft-lora,inf,yes,active,me\n",
        "price_nan.json": _plan_with("chosen.offer.price_per_hour", "NaN"),
        "price_neg.json": _plan_with("chosen.offer.price_per_hour", "-3"),
        "quote_inf.json": _plan_with("quotes.1.offer.price_per_hour", "Infinity"),
        "cost_overflow.json": _plan_with("chosen.cost", "1e400"),
        "hours_neg.json": _plan_with("chosen.hours", "-1"),
        "params_inf.json": _plan_with("spec.params_b", "Infinity"),
        "params_big.json": _plan_with("spec.params_b", "1e308"),
        "epochs_nan.json": _plan_with("spec.epochs", "NaN"),
        "gpus_big.json": _plan_with("chosen.offer.gpu_count", "100000000000000000000"),
        "deep_plan.json": "[" * 100_000,
        "sweep_lr.json": _sweep_with_learning_rates(1e-4, -1.0),
    }
    paths = {}
    for name, text in texts.items():
        path = tmp_path / (name if "." in name else f"{name}.jsonl")
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        paths[name.replace(".", "_")] = path
    for family, names in (("gpt2", ["transformer.h.0.attn.c_attn.weight", "transformer.h.0.mlp.c_fc.weight"]),
                          ("falcon", ["transformer.h.0.self_attention.query_key_value.weight"])):
        folder = tmp_path / family
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps({"model_type": family}))
        (folder / "model.safetensors").write_bytes(_safetensors(names))
        (folder / "tokenizer.json").write_text("{}")
        paths[family] = folder
    return paths


# (id, args with {file} placeholders, what the error line says; None: legal input, the command must work)
CASES: list[tuple[str, list[str], Optional[str]]] = [
    # numbers on the command line: every float flag goes through tunecost.job.numbers
    ("launch-rate-nan", [*LOCAL, "--rate", "nan"], "'--rate': Input should be a finite number"),
    ("launch-rate-inf", [*LOCAL, "--rate", "inf"], "'--rate': Input should be a finite number"),
    ("launch-rate-negative", [*LOCAL, "--rate", "-1"], "--rate must be >= 0"),
    ("launch-budget-nan", [*LOCAL, "--rate", "1", "--budget", "nan"], "'--budget': Input should be a finite"),
    ("launch-budget-negative", [*LOCAL, "--rate", "1", "--budget", "-5"], "--budget > 0"),
    ("launch-learning-rate-inf", [*LOCAL, "--learning-rate", "inf"], "'--learning-rate': Input should be a finite"),
    ("launch-learning-rate-nan", [*LOCAL, "--learning-rate", "nan"], "'--learning-rate': Input should be a finite"),
    ("launch-eval-fraction-nan", [*LOCAL, "--eval-fraction", "nan"], "'--eval-fraction': Input should be a finite"),
    ("launch-epochs-inf", [*LOCAL, "--epochs", "inf"], "'--epochs': Input should be a finite number"),
    ("plan-budget-nan", [*PLAN, "--budget", "nan"], "'--budget': Input should be a finite number"),
    ("plan-budget-inf", [*PLAN, "--budget", "inf"], "'--budget': Input should be a finite number"),
    ("plan-budget-negative", [*PLAN, "--budget", "-1"], "--budget must be a positive number of USD"),
    ("plan-deadline-nan", [*PLAN, "--deadline", "nan"], "'--deadline': Input should be a finite number"),
    ("plan-preemption-rate-nan", [*PLAN, "--preemption-rate", "nan"], "'--preemption-rate': Input should be a"),
    ("plan-checkpoint-minutes-inf", [*PLAN, "--checkpoint-minutes", "inf"], "'--checkpoint-minutes': Input"),
    ("plan-headroom-nan", [*PLAN, "--headroom", "nan"], "'--headroom': Input should be a finite number"),
    ("estimate-headroom-inf", ["estimate", "--model", MODEL, "--headroom", "inf"], "'--headroom': Input should"),
    ("plan-epochs-tiny", [*PLAN, "--epochs", "1e-300"], "less than one training token"),
    ("plan-epochs-nan", [*PLAN, "--epochs", "nan"], "'--epochs': Input should be a finite number"),
    ("plan-chars-per-token-nan", ["plan", "--model", MODEL, "--dataset", "{rows}", "--chars-per-token", "nan"],
     "'--chars-per-token': Input should be a finite number"),
    ("plan-params-inf", ["plan", "--params", "inf"], "--params 'inf' is not a size"),
    ("plan-params-huge", ["plan", "--params", "1e308B"], "--params '1e308B' is not a size"),
    ("demo-rate-nan", ["demo", "--rate", "nan"], "'--rate': Input should be a finite number"),
    # counts on the command line: every int flag is bounded (tunecost.job.numbers, or the TrainSpec it fills)
    ("launch-max-steps-huge", [*LOCAL, "--max-steps", HUGE], "'--max-steps': Input should be less than or equal to "
                                                             "10000000"),
    ("launch-save-steps-huge", [*LOCAL, "--save-steps", HUGE], "'--save-steps': Input should be less than or equal"),
    ("launch-nproc-huge", [*LOCAL, "--nproc", HUGE], "'--nproc': Input should be less than or equal to 1024"),
    ("launch-max-restarts-huge", [*LOCAL, "--max-restarts", HUGE], "'--max-restarts': Input should be less than"),
    ("launch-max-steps-fraction", [*LOCAL, "--max-steps", "1.5"], "'--max-steps': Input should be a valid integer"),
    ("launch-rank-huge", [*LOCAL, "--rank", HUGE], "--rank: input should be less than or equal to 4096"),
    ("launch-batch-huge", [*LOCAL, "--batch", HUGE], "--batch: input should be less than or equal to 4096"),
    ("launch-resume-max-steps-huge", ["launch", "--local", "--resume", "tc-2", "--max-steps", HUGE],
     "'--max-steps': Input should be less than or equal to 10000000"),
    # a resume continues the run as recorded: it takes a new step target, or says why not
    ("launch-resume-max-steps-below-checkpoint", ["launch", "--local", "--resume", "tc-2", "--max-steps", "5"],
     "run 'tc-2' is checkpointed at step 12 already; give --max-steps 12 or more, or leave it out to train to "
     "step 20"),
    ("launch-resume-with-run-flags", ["launch", "--local", "--resume", "tc-2", "--rate", "2", "--tag", "x"],
     "--rate, --tag cannot change it (a resume takes --max-steps and --save-steps only)"),
    ("launch-resume-with-workload", ["launch", "--local", "--resume", "tc-2", "--model", "tiny", "--rank", "4"],
     "--model, --rank cannot change it"),
    ("launch-resume-with-plan-file", ["launch", "--local", "{price_neg_json}", "--resume", "tc-2"],
     "PLAN_FILE cannot change it"),
    ("launch-resume-succeeded", ["launch", "--local", "--resume", "tc-1", "--max-steps", "30"],
     "run 'tc-1' is succeeded; only a stopped or failed run can be resumed"),
    ("plan-max-gpus-huge", [*PLAN, "--max-gpus", HUGE], "'--max-gpus': Input should be less than or equal to 1024"),
    ("plan-max-nodes-huge", [*PLAN, "--max-nodes", HUGE], "'--max-nodes': Input should be less than or equal to"),
    ("plan-top-huge", [*PLAN, "--top", HUGE], "'--top': Input should be less than or equal to 1000000"),
    ("plan-seq-len-huge", [*PLAN, "--seq-len", HUGE], "--seq-len: input should be less than or equal to 1048576"),
    ("estimate-gpus-huge", ["estimate", "--model", MODEL, "--gpus", HUGE], "'--gpus': Input should be less than or"),
    ("demo-max-steps-huge", ["demo", "--max-steps", HUGE], "'--max-steps': Input should be less than or equal to"),
    # sweep values and sweep files
    ("plan-sweep-learning-rate-inf", [*PLAN, "--sweep", "learning-rate=inf"], "learning-rate value 'inf'"),
    ("launch-sweep-learning-rate-inf", [*LOCAL, "--sweep", "learning-rate=1e-4,inf"], "learning-rate value 'inf'"),
    ("plan-sweep-learning-rate-negative", [*PLAN, "--sweep", "learning-rate=-1"], "learning-rate value '-1'"),
    ("plan-sweep-epochs-nan", [*PLAN, "--sweep", "epochs=nan"], "epochs value 'nan' is not valid"),
    ("plan-sweep-file-inf", [*PLAN, "--sweep-file", "{inf_yaml}"], "learning-rate value 'inf'"),
    ("plan-sweep-file-nan", [*PLAN, "--sweep-file", "{nan_yaml}"], "epochs value 'nan'"),
    ("plan-sweep-file-aliases", [*PLAN, "--sweep-file", "{bomb_yaml}"], "uses an alias (*name)"),
    # plan files: no NaN or Infinity, money and sizes in range
    ("launch-plan-price-nan", ["launch", "{price_nan_json}", "--dataset", "{rows}", "--dry-run"],
     "NaN is not a number JSON allows"),
    ("launch-plan-price-negative", ["launch", "{price_neg_json}", "--dataset", "{rows}", "--dry-run"],
     "chosen.offer.price_per_hour: Input should be greater than or equal to 0"),
    ("launch-plan-fallback-price-inf", ["launch", "{quote_inf_json}", "--dataset", "{rows}", "--dry-run"],
     "Infinity is not a number JSON allows"),
    ("launch-plan-cost-overflow", ["launch", "{cost_overflow_json}", "--dataset", "{rows}", "--dry-run"],
     "1e400 is too large for a number"),
    ("launch-plan-hours-negative", ["launch", "{hours_neg_json}", "--dataset", "{rows}", "--dry-run"],
     "chosen.hours: Input should be greater than or equal to 0"),
    ("launch-plan-params-inf", ["launch", "{params_inf_json}", "--dataset", "{rows}", "--dry-run", "--model",
                                "tiny"], "Infinity is not a number JSON allows"),
    ("launch-plan-params-huge", ["launch", "{params_big_json}", "--dataset", "{rows}", "--dry-run", "--model",
                                 "tiny"], "spec.params_b: Input should be less than or equal to 100000"),
    ("launch-local-plan-epochs-nan", ["launch", "--local", "{epochs_nan_json}", "--dataset", "demo"],
     "NaN is not a number JSON allows"),
    ("launch-plan-gpu-count-huge", ["launch", "{gpus_big_json}", "--dataset", "{rows}", "--dry-run"],
     "chosen.offer.gpu_count: Input should be less than or equal to 1024"),
    ("launch-local-sweep-point-negative", ["launch", "--local", "{sweep_lr_json}", "--model", "tiny", "--dataset",
                                           "demo"], "sweep point 2 (learning-rate=-1): learning_rate -1.0: input"),
    ("launch-plan-nested", ["launch", "{deep_plan_json}", "--dataset", "{rows}", "--dry-run"], "nested too deeply"),
    # price files
    ("plan-prices-huge-cell", [*PLAN, "--prices", "{big_cell_csv}"], "line 2: not readable as CSV"),
    ("plan-prices-gpu-count-huge", [*PLAN, "--prices", "{many_gpus_csv}"], "is not between 1 and 1024"),
    ("prices-gpu-count-huge", ["prices", "--prices", "{many_gpus_csv}"], "is not between 1 and 1024"),
    ("plan-prices-inf", [*PLAN, "--prices", "{inf_price_csv}"], "'inf' is not a non-negative number"),
    ("plan-prices-nan", [*PLAN, "--prices", "{nan_price_csv}"], "'nan' is not a non-negative number"),
    ("plan-prices-negative", [*PLAN, "--prices", "{neg_price_csv}"], "'-1.5' is not a non-negative number"),
    ("plan-managed-prices-inf", [*PLAN, "--managed-prices", "{managed_csv}"], "usd_per_hour: Input should be a fin"),
    # datasets and targets: what the job would refuse after the run was recorded
    ("plan-dataset-nested", ["plan", "--model", MODEL, "--dataset", "{deep}"], ":1: not valid JSON (nested too"),
    ("launch-local-dataset-nested", ["launch", "--local", "--model", "tiny", "--dataset", "{deep}"],
     ":1: not valid JSON (nested too deeply)"),
    ("launch-plan-dataset-nested", ["launch", "{price_neg_json}", "--dataset", "{deep}", "--dry-run"],
     "greater than or equal to 0"),
    ("launch-local-lone-surrogate", ["launch", "--local", "--model", "tiny", "--dataset", "{surrogate}"],
     ":2: key 'text' holds '\\ud800' at character 1, half of a UTF-16 surrogate pair"),
    ("launch-local-lone-surrogate-chat", ["launch", "--local", "--model", "tiny", "--dataset",
                                          "{surrogate_chat}"], ":1: key 'content' holds '\\udfff'"),
    ("launch-local-eval-takes-all", ["launch", "--local", "--model", "tiny", "--dataset", "{one_row}",
                                     "--eval-fraction", "0.5"], "holds out 1 of 1 row(s), leaving none to train on"),
    ("launch-local-targets-none-match", ["launch", "--local", "--model", "{gpt2}", "--dataset", "{rows}"],
     "has no module named down_proj, gate_proj"),
    ("launch-local-targets-kind-missing", ["launch", "--local", "--model", "{falcon}", "--dataset", "{rows}",
                                           "--targets", "gate"], "(falcon) has no module of these kinds"),
    # the last day there is: legal, and it works
    ("runs-until-last-day", ["runs", "--until", "9999-12-31"], None),
    ("report-until-last-day", ["report", "--format", "csv", "--until", "9999-12-31"], None),
    ("calibrate-until-last-day", ["calibrate", "--until", "9999-12-31"], "nothing to calibrate from"),
]


def _seeded(home: Path) -> None:
    """One finished run, and one stopped local run (its job config, a checkpoint at step 12, the CPU probe's
    cache) for --resume to refuse, so that 'unchanged' has something to keep."""
    ledger = Ledger(home)
    ledger.create(RunRecord(id="tc-1", status="running", backend="local", created_at=now(), tag="t",
                            price_per_hour=1.0))
    ledger.set_status("tc-1", "succeeded", actual_hours=0.5)
    output = home / "runs" / "tc-2" / "output"
    ledger.create(RunRecord(id="tc-2", status="running", backend="local", created_at=now(), output_dir=str(output)))
    ledger.set_status("tc-2", "stopped", "interrupted; checkpointed at step 12")
    (output / "checkpoint-12").mkdir(parents=True)
    checkpoints.mark_complete(output / "checkpoint-12", {"step": 12})
    (output / "checkpoint-12" / "trainer_state.json").write_text('{"global_step": 12, "max_steps": 20}')
    config = {"model": "tiny", "dataset": "demo", "output_dir": str(output), "max_steps": 20, "save_steps": 5}
    (output.parent / CONFIG_NAME).write_text(json.dumps(config))
    (home / PROBE_FILE).write_text("{}")


def _state(home: Path) -> tuple[list[dict], dict[str, bytes]]:
    """The ledger's records and every file under the home but the ledger's own, with its bytes."""
    records = [r.model_dump(mode="json") for r in Ledger(home).list()]
    return records, {str(p.relative_to(home)): p.read_bytes() if p.is_file() else b"<folder>"
                     for p in sorted(home.rglob("*")) if not p.name.startswith("ledger")}


@pytest.mark.parametrize("case, args, says", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_nothing_recorded(home, monkeypatch, files, case, args, says):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _seeded(home)
    before = _state(home)
    result = CliRunner().invoke(app, [arg.format(**files) if arg.startswith("{") else arg for arg in args])
    assert "Traceback" not in result.output and (result.exception is None or
                                                 isinstance(result.exception, SystemExit)), repr(result.exception)
    assert _state(home) == before, "the ledger or the run folders changed"
    if says is None:
        assert result.exit_code == 0, result.output[-2000:]
        return
    assert result.exit_code == 2, (result.exit_code, result.output[-2000:])
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and says in line, line
    assert len(line) < 400, f"an error line of {len(line):,} characters"


def _number_flags(kind: str) -> list[tuple[list[str], str]]:
    """(command words, flag) of every `kind` ("float", "int") flag the app has, found by walking it: a flag added
    later is here too."""
    import inspect

    from typer.models import ParameterInfo

    found = []

    def walk(typer_app, words):
        for group in typer_app.registered_groups:
            walk(group.typer_instance, [*words, group.name])
        for command in typer_app.registered_commands:
            for param in inspect.signature(command.callback, eval_str=True).parameters.values():
                info = param.default
                if isinstance(info, ParameterInfo) and kind in str(param.annotation):
                    flag = next(d for d in info.param_decls if d.startswith("--")) if info.param_decls else \
                        "--" + param.name.replace("_", "-")
                    found.append(([*words, command.name or command.callback.__name__], flag))

    walk(app, [])
    return found


FLOAT_FLAGS = _number_flags("float")
INT_FLAGS = _number_flags("int")


def test_the_walk_finds_the_float_flags():
    assert len(FLOAT_FLAGS) >= 15 and (["launch"], "--rate") in FLOAT_FLAGS and (["prices", "refresh"], "--timeout") \
        in FLOAT_FLAGS


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
@pytest.mark.parametrize("words, flag", FLOAT_FLAGS, ids=[" ".join(w) + " " + f for w, f in FLOAT_FLAGS])
def test_every_float_flag_refuses_what_is_no_finite_number(home, words, flag, value):
    result = CliRunner().invoke(app, [*words, f"{flag}={value}"])
    assert result.exit_code == 2, result.output
    [line] = result.stderr.strip().splitlines()
    assert line == f"error: Invalid value for '{flag}': Input should be a finite number", line
    assert not home.exists()


def test_the_walk_finds_the_int_flags():
    assert len(INT_FLAGS) >= 20 and (["launch"], "--max-steps") in INT_FLAGS and (["estimate"], "--gpus") in INT_FLAGS


WORKLOAD = {"plan": ["--model", MODEL], "estimate": ["--model", MODEL], "launch": LOCAL[1:]}  # so a workload is read


@pytest.mark.parametrize("words, flag", INT_FLAGS, ids=[" ".join(w) + " " + f for w, f in INT_FLAGS])
def test_every_int_flag_refuses_a_count_beyond_any_run(home, words, flag):
    """10**30 is a Python int: without a bound it would reach a job config, a task YAML or a process count."""
    partner = {"--examples": ["--avg-tokens", "100"], "--avg-tokens": ["--examples", "1000"]}.get(flag, [])
    workload = WORKLOAD.get(words[0], [])
    if flag in ("--tokens", "--examples", "--avg-tokens") and "--dataset" in workload:  # 'demo' is counted as a
        workload = workload[:workload.index("--dataset")]  # dataset size too: one size at a time
    result = CliRunner().invoke(app, [*words, *workload, *partner, f"{flag}={HUGE}"])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output[-2000:]
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and flag in line and ("less than or equal" in line or "more than" in line), line
    assert not home.exists()  # nothing written: no home, no run folder, no probe
