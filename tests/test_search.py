"""Hyperparameter search: a 3-trial optuna search on the tiny recipe, offline; the wandb backend's clear error;
the sweep files translate for every backend."""

import csv
import json
from pathlib import Path

import optuna
import pytest
import yaml

import train_hf
from machado_gpt.search import load_sweep, optuna_space
from machado_gpt.utils import MachadoError
from tests.conftest import ROOT

SWEEPS = sorted((ROOT / "configs/sweeps").glob("*.yaml"))


@pytest.mark.parametrize("path", SWEEPS, ids=[p.stem for p in SWEEPS])
def test_sweep_files_translate_for_every_backend(path):
    sweep = load_sweep(path)
    assert sweep["metric"] == {"name": "eval/bpc", "goal": "minimize"} and sweep["early_terminate"]["type"] == "hyperband"
    # optuna: every parameter becomes a suggestion inside the declared range or set
    trial = optuna.create_study().ask()
    params = optuna_space(sweep)(trial)
    assert set(params) == set(sweep["parameters"])
    for name, spec in sweep["parameters"].items():
        if "values" in spec:
            assert params[name] in spec["values"]
        else:
            assert spec["min"] <= params[name] <= spec["max"]
    # wandb: the file is the sweep config itself (W&B validates it server-side)
    assert {"method", "metric", "parameters"} <= set(yaml.safe_load(path.read_text()))


def test_bad_sweep_files(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("method: bayes\nparameters:\n  n_layers: {values: [1, 2]}\n")
    with pytest.raises(MachadoError, match="unknown or no parameters"):
        load_sweep(bad)
    bad.write_text("method: evolution\nparameters: {}\n")
    with pytest.raises(MachadoError, match="method must be one of"):
        load_sweep(bad)


def test_wandb_backend_without_an_account_is_a_clear_error(tiny_argv, monkeypatch, tmp_path):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")
    with pytest.raises(MachadoError, match="W&B sweeps cannot run offline.*--hp_search optuna"):
        train_hf.main([*tiny_argv, "--hp_search", "wandb"])
    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    with pytest.raises(MachadoError, match="no W&B account.*--hp_search optuna"):
        train_hf.main([*tiny_argv, "--hp_search", "wandb"])


@pytest.mark.slow  # 13 s: make test stays under 7 minutes on a CPU without AVX-512
def test_optuna_search_writes_table_and_a_runnable_best_recipe(tiny_argv, tmp_path):
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({
        "method": "bayes", "metric": {"name": "eval/bpc", "goal": "minimize"},
        "early_terminate": {"type": "hyperband", "min_iter": 1, "eta": 2},
        "parameters": {"learning_rate": {"distribution": "log_uniform_values", "min": 1e-3, "max": 1e-2},
                       "muon_learning_rate": {"distribution": "log_uniform_values", "min": 5e-3, "max": 5e-2},
                       "n_embd": {"values": [16, 32]}, "n_layer": {"values": [1, 2]}},
    }))
    result = train_hf.main([*tiny_argv, "--hp_search", "optuna", "--n_trials", "3", "--sweep_config", str(sweep),
                            "--optimizer", "muon"])
    out = tmp_path / "run"
    rows = list(csv.DictReader(open(out / "trials.csv")))
    assert len(rows) == 3 and {"learning_rate", "muon_learning_rate", "n_embd", "n_layer", "objective",
                               "state"} <= set(rows[0])
    assert len({r["muon_learning_rate"] for r in rows}) == 3  # Muon's own learning rate is searched
    assert json.loads((out / "trials.json").read_text())[0]["trial"] == 0
    recipe = yaml.safe_load((out / "best-recipe.yaml").read_text())
    assert recipe["n_embd"] in (16, 32) and "hp_search" not in recipe and recipe["tokenizer_kind"] == "char"
    assert recipe["optimizer"] == "muon" and 5e-3 <= recipe["muon_learning_rate"] <= 5e-2
    assert result["best"]["n_embd"] == recipe["n_embd"]
    # resuming the finished search runs no new trial
    again = train_hf.main([*tiny_argv, "--hp_search", "optuna", "--n_trials", "3", "--sweep_config", str(sweep),
                           "--optimizer", "muon"])
    assert len(again["trials"]) == 3
    # the best recipe trains as it is
    metrics = train_hf.main(["--config", str(out / "best-recipe.yaml"), "--max_steps", "4", "--eval_strategy", "no",
                             "--save_strategy", "no"])
    assert Path(recipe["model_dir"], "model.safetensors").is_file() and metrics["eval_bpc"] > 0
