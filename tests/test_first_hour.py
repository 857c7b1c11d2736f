"""What a newcomer meets on the command line in the first hour: nothing overwritten, a finished run recognized,
typed flags beating the recipe, a progress bar and metrics that tell the truth, a training curve, and folders that
publish nothing private. One real budgeted run of the tiny recipe through the CLI, shared by the module."""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

BUDGET_S = 12


def run_cli(argv: list[str], check: bool = True, lang: str = "C.UTF-8", script: str = "train_hf.py"
            ) -> subprocess.CompletedProcess:
    """The script as a user runs it, in a terminal whose locale is `lang` (LANG; the other locale variables unset)."""
    env = {k: v for k, v in os.environ.items() if k not in ("LC_ALL", "LC_MESSAGES", "LANGUAGE", "MACHADO_LANG")}
    proc = subprocess.run([sys.executable, script, *argv], cwd=ROOT, capture_output=True, text=True,
                          env={**env, "HF_HUB_OFFLINE": "1", "LANG": lang}, timeout=600)
    if check:
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return proc


def digest(folder) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def budgeted(real_dataset, char_tokenizer_dir, corpus_dir, tmp_path_factory):
    """The tiny recipe (max_steps 20) with a typed --time_budget, which wins: a run planned by the budget."""
    out = tmp_path_factory.mktemp("first-hour")
    argv = ["--config", "configs/tiny.yaml", "--corpus_dir", str(corpus_dir), "--dataset_dir", str(real_dataset[1]),
            "--tokenizer_dir", str(char_tokenizer_dir), "--output_dir", str(out / "run"), "--model_dir",
            str(out / "model"), "--time_budget", f"{BUDGET_S}s", "--eval_steps", "50", "--save_steps", "100"]
    proc = run_cli(argv)
    return argv, out, proc


def test_a_typed_time_budget_beats_the_recipes_max_steps_and_the_bar_shows_the_plan(budgeted):
    _, out, proc = budgeted
    metrics = json.loads((out / "model/metrics.json").read_text())
    assert "--time_budget 12s typed: it wins over the recipe's max_steps 20" in proc.stdout
    steps = metrics["max_steps"]
    assert steps > 40 and metrics["time_budget_plans"][-1]["max_steps"] == steps  # planned, not the recipe's 20
    # The bar's total is the plan, never the budget's placeholder bound (12 s x 1,000 steps a second).
    bars = re.findall(r"(\d+)/(\d+) \[", proc.stderr)
    assert bars and not [t for _, t in bars if int(t) == BUDGET_S * 1000]
    assert (str(steps), str(steps)) in bars and "budget: " in proc.stderr
    # Throughput from the steps really run, in every per-second figure.
    block = 64
    assert metrics["train_samples_per_second"] * block == pytest.approx(metrics["train_tokens_per_second"], rel=1e-3)
    assert metrics["train_steps_per_second"] == pytest.approx(steps / metrics["train_runtime"], rel=0.05)


def test_the_log_prints_the_final_samples_once_and_labels_the_test_estimate(budgeted):
    _, out, proc = budgeted
    metrics = json.loads((out / "model/metrics.json").read_text())
    # Once: by an evaluation at the last step ("[sample @ step N]"), or by the end of the run ("sample: ..."); the
    # final evaluations of validation and test print none. The tiny recipe has one prompt.
    last = f"[sample @ step {metrics['max_steps']}]"
    assert proc.stdout.count(last) + proc.stdout.count("\nsample: ") == 1
    assert metrics["samples"][0] in proc.stdout.split(last)[-1] if last in proc.stdout else True
    assert "an estimate on 32 evenly spaced blocks; every character: `python evaluate_model.py" in proc.stdout


def test_the_model_folder_has_a_training_curve_shown_by_its_card(budgeted):
    _, out, _ = budgeted
    curve = out / "model" / "training_curve.png"
    assert curve.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and curve.stat().st_size > 10_000
    assert "](training_curve.png)" in (out / "model/README.md").read_text()
    assert not [p for p in out.iterdir() if p.name.startswith(".model.")]  # no temporary sibling left behind


def test_rerunning_a_finished_run_says_so_and_changes_nothing(budgeted):
    argv, out, _ = budgeted
    before, run_before = digest(out / "model"), digest(out / "run")
    proc = run_cli(argv)
    assert "already finished" in proc.stdout and "--max_steps above" in proc.stdout
    assert digest(out / "model") == before and digest(out / "run") == run_before


def test_an_experiment_cannot_replace_a_trained_model_without_a_word(budgeted, tmp_path):
    argv, out, _ = budgeted
    before = digest(out / "model")
    experiment = [*argv, "--output_dir", str(tmp_path / "experiment"), "--max_steps", "1"]
    proc = run_cli(experiment, check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert re.match(rf"error: model_dir {out / 'model'} holds the model of another run \(different .*max_steps.*"
                    r"output_dir.*\): pass --model_dir NEW to keep it, or --overwrite_model_dir to replace it", proc.stderr)
    assert digest(out / "model") == before and not (tmp_path / "experiment" / "checkpoint-1").exists()
    # Asked for, it is replaced, whole: by a renamed sibling, never half written.
    copy = tmp_path / "copy"
    shutil.copytree(out / "model", copy)
    run_cli([*experiment, "--model_dir", str(copy), "--overwrite_model_dir", "true"])
    metrics = json.loads((copy / "metrics.json").read_text())
    assert metrics["max_steps"] == 1


@pytest.mark.slow  # 26 s: make test stays under 7 minutes
def test_a_finished_run_trains_further_when_asked_and_never_past_its_plan(budgeted, tmp_path):
    argv, _, _ = budgeted
    argv = [*argv, "--output_dir", str(tmp_path / "run"), "--model_dir", str(tmp_path / "model")]
    run_cli([*argv, "--max_steps", "12"])
    done = json.loads((tmp_path / "run/run_finished.json").read_text())["global_step"]
    assert done == 12 and (tmp_path / "run/checkpoint-12").is_dir()  # the last step is saved, to go on from there
    # Killed after that checkpoint but before the end: the rerun evaluates and saves it, and trains no step more.
    (tmp_path / "run/run_finished.json").unlink()
    proc = run_cli([*argv, "--max_steps", "12"])
    assert "holds the run's last step (12): evaluating and saving it, no step more" in proc.stdout
    assert not (tmp_path / "run/checkpoint-13").exists()
    assert json.loads((tmp_path / "model/metrics.json").read_text())["max_steps"] == 12
    proc = run_cli([*argv, "--max_steps", str(done + 6)])
    assert f"resuming from {tmp_path / 'run'}/checkpoint-{done}" in proc.stdout
    metrics = json.loads((tmp_path / "model/metrics.json").read_text())
    assert metrics["max_steps"] == done + 6
    state = json.loads((tmp_path / f"run/checkpoint-{done + 6}/trainer_state.json").read_text())
    assert state["global_step"] == state["max_steps"] == done + 6


def test_a_typed_max_steps_beats_the_recipes_time_budget(real_dataset, char_tokenizer_dir, corpus_dir, tmp_path):
    recipe = yaml.safe_load((ROOT / "configs/tiny.yaml").read_text())
    recipe.pop("max_steps")
    recipe["time_budget"] = "1h"
    (tmp_path / "budget.yaml").write_text(yaml.safe_dump(recipe))
    proc = run_cli(["--config", str(tmp_path / "budget.yaml"), "--corpus_dir", str(corpus_dir), "--dataset_dir",
                    str(real_dataset[1]), "--tokenizer_dir", str(char_tokenizer_dir), "--output_dir", str(tmp_path / "run"),
                    "--model_dir", str(tmp_path / "model"), "--max_steps", "3", "--eval_strategy", "no",
                    "--save_strategy", "no"])
    assert "max_steps 3 typed, it wins over the recipe's time_budget 1h" in proc.stdout
    metrics = json.loads((tmp_path / "model/metrics.json").read_text())
    assert metrics["max_steps"] == 3 and "time_budget_plans" not in metrics


def test_staged_files_carry_no_local_path(budgeted, corpus_dir, tmp_path):
    import push_to_hub

    _, out, _ = budgeted
    folder = tmp_path / "model"
    shutil.copytree(out / "model", folder)
    private = tmp_path / "home" / "me" / "textos"
    (folder / "eval_texts.json").write_text(json.dumps({"model": str(folder), "source": str(private),
                                                         "bits_per_char": 3.0}))
    result = push_to_hub.main([str(folder), "--repo_id", "someone/machado-gpt", "--dry_run",
                               "--staging_dir", str(tmp_path / "stage")])
    staged = tmp_path / "stage" / "someone--machado-gpt"
    assert "training_curve.png" in {name for name, _ in result["files"]}
    local = (folder / "run_config.yaml").read_text() + (folder / "eval_texts.json").read_text()
    # pytest's temporary folders, and the corpus's parent: beside the checkout, or wherever MACHADO_CORPUS_DIR says
    prefixes = {str(tmp_path.parent), str(Path(corpus_dir).parent)}
    assert all(prefix in local for prefix in prefixes)  # the local folder names them (corpus, dataset, outputs)...
    for p in staged.rglob("*"):
        if p.suffix in (".json", ".yaml", ".md"):
            assert not [x for x in prefixes if x in p.read_text()], p.name  # ...the staged copy none
    assert json.loads((staged / "eval_texts.json").read_text())["source"] == "textos"
    yaml.safe_load((staged / "run_config.yaml").read_text())


def test_the_command_line_speaks_the_terminals_language(budgeted, tmp_path, monkeypatch, capsys):
    """A Brazilian terminal (LANG=pt_BR.UTF-8) gets the first hour's messages in Portuguese, numbers the Brazilian
    way; any other gets English; MACHADO_LANG chooses either way. One refusal runs as a user meets it (a process in a
    pt_BR terminal); the other messages go through the same run_cli in this process, with the terminal's locale set
    here: seven more interpreters importing torch took most of a minute."""
    import build_dataset
    import generate
    import train_hf
    from machado_gpt.i18n import cli_language
    from machado_gpt.utils import run_cli as run_main

    argv, out, _ = budgeted
    before = digest(out / "model")
    refused = run_cli([*argv, "--output_dir", str(tmp_path / "x"), "--max_steps", "1"], check=False, lang="pt_BR.UTF-8")
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert re.match(rf"erro: a model_dir {out / 'model'} guarda o modelo de outro treino \(difere em .*max_steps.*\): "
                    r"passe --model_dir NOVA para mantê-lo, ou --overwrite_model_dir para substituí-lo", refused.stderr)
    assert digest(out / "model") == before

    def says(main, args: list[str], lang: str = "pt_BR.UTF-8") -> str:
        """What the script prints on stderr in a terminal whose LANG is `lang`; it must exit 2."""
        monkeypatch.setenv("LANG", lang)
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_:
            run_main(lambda _: main(args))
        assert exit_.value.code == 2
        return capsys.readouterr().err

    monkeypatch.chdir(ROOT)
    for name in ("LC_ALL", "LC_MESSAGES", "LANGUAGE", "MACHADO_LANG"):  # a terminal set by LANG alone, as run_cli's
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "pt_BR.UTF-8")
    train_hf.main(argv)
    assert "já terminou" in capsys.readouterr().out
    assert says(train_hf.main, ["--config", "configs/nada.yaml"]) == (
        "erro: a receita configs/nada.yaml não existe: escolha uma de configs/*.yaml\n")
    assert says(train_hf.main, ["--config", "configs/nada.yaml"], "C.UTF-8").startswith(
        "error: config file configs/nada.yaml not found")
    corpus = says(build_dataset.main, ["--corpus_dir", str(tmp_path / "nenhum"), "--dataset_dir", str(tmp_path / "ds")])
    assert corpus.startswith(f"erro: a pasta do corpus {tmp_path / 'nenhum'} não existe")
    assert "erro: n_layer 0 deve ficar entre 1 e 1.048.576" in says(train_hf.main, [*argv, "--n_layer", "0"])
    sampling = ["--model_dir", str(out / "model"), "--temperature", "-1"]
    assert says(generate.main, sampling) == "erro: temperature -1.0 deve ficar entre 0 e 100 (0 é guloso, 0,7 o padrão)\n"
    assert says(generate.main, sampling, "en_US.UTF-8") == (
        "error: temperature -1.0 must be between 0 and 100 (0 is greedy, 0.7 the default)\n")
    assert [cli_language(env) for env in ({"LANG": "pt_BR.UTF-8"}, {"LANG": "en_US.UTF-8"}, {"LC_ALL": "pt_PT.UTF-8",
            "LANG": "en_US"}, {"LANG": "C.UTF-8"}, {}, {"MACHADO_LANG": "pt", "LANG": "en_US.UTF-8"})] == [
        "pt", "en", "pt", "en", "en", "pt"]


def test_every_message_has_both_languages_with_the_same_parameters():
    import string

    from machado_gpt.i18n import MESSAGES

    for key, texts in MESSAGES.items():
        assert set(texts) == {"en", "pt"}, key
        fields = [{name for _, name, _, _ in string.Formatter().parse(texts[lang]) if name} for lang in ("en", "pt")]
        assert fields[0] == fields[1], key


@pytest.mark.slow  # 18 s: make test stays under 7 minutes on a CPU without AVX-512
def test_every_script_answers_help_with_its_usage():
    """`python <script> --help` prints a usage and exits 0 for every script in the repo: a % in a dataclass's help text
    once made train_hf.py's --help a traceback, and app.py's started the server. One process runs each script as
    __main__ (runpy), the way `python script.py` does, so the imports are paid once."""
    scripts = sorted(p.relative_to(ROOT).as_posix() for p in [*ROOT.glob("*.py"), *ROOT.glob("benchmarks/*.py")])
    assert "train_hf.py" in scripts and "app.py" in scripts and "benchmarks/compute_curve.py" in scripts
    probe = (
        "import io, json, runpy, sys, contextlib\n"
        "out = {}\n"
        "for script in json.loads(sys.argv[1]):\n"
        "    sys.argv, buf, code = [script, '--help'], io.StringIO(), None\n"
        "    try:\n"
        "        with contextlib.redirect_stdout(buf):\n"
        "            runpy.run_path(script, run_name='__main__')\n"
        "    except SystemExit as e:\n"
        "        code = e.code\n"
        "    except BaseException as e:\n"
        "        code = f'{type(e).__name__}: {e}'\n"
        "    out[script] = [code, buf.getvalue()]\n"
        "print(json.dumps(out))\n")
    proc = subprocess.run([sys.executable, "-c", probe, json.dumps(scripts)], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    for script in scripts:
        code, usage = results[script]
        assert code in (0, None) and re.search(r"^usage: ", usage, re.M), \
            f"{script} --help: exit {code!r}, printed {usage[:300]!r}"
    # A help text may say "40%": parse_config escapes it for argparse, and the text reads as written.
    # (Unescaped, "% a" printed the option's whole dict, that text included, in its place: match up to the default.)
    assert re.search(r"last\s+40%\s+averaged\)\s+\(default:\s+0\.6\)", results["train_hf.py"][1])
