"""Hyperparameter search through `Trainer.hyperparameter_search`, from one sweep file in W&B's format
(method, metric, early_terminate, parameters), translated for each backend:

- `wandb`: W&B sweeps as designed (Bayesian search, hyperband early termination); needs an online W&B account,
  since the sweep controller runs on W&B's server.
- `optuna`: offline. TPE for `bayes` (random/grid likewise), Hyperband pruning of poor trials from their
  intermediate evaluations for `early_terminate: hyperband`, sqlite storage so an interrupted search resumes.

The objective is validation bits/char, passed explicitly: Trainer's default objective silently becomes the sum of
all other metrics once any exist. Context length (block_size) is not searched: the data are packed into blocks
before the Trainer exists, so every trial shares the recipe's.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import netrc
import os
from pathlib import Path
from typing import Any

import yaml

from .config import ModelArguments, build_model
from .optim import OptimizerArguments
from .training import dataset_and_tokenizer, prepare
from .utils import MachadoError, write_json

MODEL_KEYS = {"n_layer", "n_head", "n_embd", "dropout"}
OPTIMIZER_KEYS = {"muon_learning_rate", "muon_momentum", "decay_fraction"}  # not TrainingArguments: set in model_init
METHODS = {"bayes", "random", "grid"}


def load_sweep(path: str | Path) -> dict:
    """Read and check a W&B sweep file; parameters must be model fields or TrainingArguments fields."""
    from transformers import TrainingArguments

    p = Path(path)
    if not p.is_file():
        raise MachadoError.of("sweep_missing", path=str(path))
    sweep = yaml.safe_load(p.read_text(encoding="utf-8"))
    if sweep.get("method") not in METHODS:
        raise MachadoError.of("sweep_method", path=str(path), methods=str(sorted(METHODS)))
    known = MODEL_KEYS | OPTIMIZER_KEYS | {f.name for f in dataclasses.fields(TrainingArguments)}
    unknown = sorted(set(sweep.get("parameters", {})) - known)
    if unknown or not sweep.get("parameters"):
        raise MachadoError.of("sweep_parameters", path=str(path), unknown=str(unknown),
                              known=str(sorted(MODEL_KEYS | OPTIMIZER_KEYS)))
    for name, spec in sweep["parameters"].items():
        if not ("values" in spec or "value" in spec or {"min", "max"} <= set(spec)):
            raise MachadoError.of("sweep_values", path=str(path), name=str(name))
    return sweep


def optuna_space(sweep: dict):
    """W&B parameter specs -> optuna suggestions.
    Example: {'learning_rate': {'distribution': 'log_uniform_values', 'min': 1e-4, 'max': 1e-2}}
             -> trial.suggest_float('learning_rate', 1e-4, 1e-2, log=True)."""

    def space(trial) -> dict[str, Any]:
        out = {}
        for name, spec in sweep["parameters"].items():
            if "value" in spec:
                out[name] = spec["value"]
            elif "values" in spec:
                out[name] = trial.suggest_categorical(name, spec["values"])
            else:
                dist = spec.get("distribution", "int_uniform" if isinstance(spec["min"], int) else "uniform")
                if dist.startswith(("int", "q_")) or dist == "int_uniform":
                    out[name] = trial.suggest_int(name, int(spec["min"]), int(spec["max"]))
                else:
                    out[name] = trial.suggest_float(name, float(spec["min"]), float(spec["max"]),
                                                    log=dist.startswith("log"))
        return out

    return space


def _params(trial) -> dict:
    if trial is None:
        return {}
    return dict(trial.params) if hasattr(trial, "params") else dict(trial)


def require_wandb_account() -> None:
    if os.environ.get("WANDB_MODE", "").lower() in ("offline", "disabled", "dryrun"):
        raise MachadoError.of("wandb_offline")
    has_key = bool(os.environ.get("WANDB_API_KEY"))
    try:
        has_key = has_key or bool(netrc.netrc().authenticators("api.wandb.ai"))
    except (FileNotFoundError, netrc.NetrcParseError):
        pass
    if not has_key:
        raise MachadoError.of("wandb_account")


def hp_search(data, tok, model_args: ModelArguments, opt: OptimizerArguments, run, args, recipe: dict, log=print) -> dict:
    """Run the search; write every trial to trials.csv/json and the best one as a runnable recipe YAML."""
    sweep = load_sweep(run.sweep_config)
    if run.hp_search == "wandb":
        require_wandb_account()
    out = Path(args.output_dir)
    args.save_strategy = "no"  # trials are compared, not kept
    if args.eval_strategy == "no":
        raise MachadoError.of("search_needs_eval")

    _, tokenizer = dataset_and_tokenizer(data, tok, model_args, args, log)

    def model_init(trial):
        """Trainer applies TrainingArguments fields of a trial itself; the architecture and the optimizer's own
        fields are read here (the trainer builds its optimizer from `opt` after this call)."""
        params = _params(trial)
        for k in OPTIMIZER_KEYS & set(params):
            setattr(opt, k, params[k])
        chosen = {k: v for k, v in params.items() if k in MODEL_KEYS}
        try:
            margs = dataclasses.replace(model_args, **chosen)  # re-runs the checks (n_embd % n_head ...)
        except MachadoError as e:
            raise ValueError(str(e)) from None  # optuna records the trial as failed and goes on
        return build_model(margs, tokenizer)

    trainer, _, _, _ = prepare(data, tok, model_args, opt, run, args, log, model_init=model_init)
    objective = lambda metrics: metrics["eval_bpc"]  # noqa: E731

    if run.hp_search == "wandb":
        best = trainer.hyperparameter_search(
            direction="minimize", backend="wandb", hp_space=lambda trial: json.loads(json.dumps(sweep)),
            n_trials=run.n_trials, compute_objective=objective, metric="eval/bpc", project="machado-gpt")
        trials = [{"trial": best.run_id, "objective": best.objective, **best.hyperparameters}]
    else:
        import optuna

        storage = f"sqlite:///{(out / 'optuna.db').resolve()}"
        name = Path(run.sweep_config).stem
        study = optuna.create_study(study_name=name, storage=storage, direction="minimize", load_if_exists=True)
        done = [t for t in study.trials if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)]
        remaining = max(0, run.n_trials - len(done))
        log(f"optuna study {name!r} in {out / 'optuna.db'}: {len(done)} trials done, {remaining} to run")
        if remaining:
            trainer.hyperparameter_search(
                direction="minimize", backend="optuna", hp_space=optuna_space(sweep), n_trials=remaining,
                compute_objective=objective, study_name=name, storage=storage, load_if_exists=True,
                sampler=_sampler(sweep), pruner=_pruner(sweep, args), catch=(ValueError,))
        study = optuna.load_study(study_name=name, storage=storage)
        trials = [{"trial": t.number, "state": t.state.name, "objective": t.value,
                   "last_step": max(t.intermediate_values, default=None), **t.params} for t in study.trials]
        complete = [t for t in trials if t["state"] == "COMPLETE"]
        if not complete:
            raise MachadoError.of("no_trial", name=str(name))
        best_trial = min(complete, key=lambda t: t["objective"])
        best_params = {k: v for k, v in best_trial.items() if k in sweep["parameters"]}
    if run.hp_search == "wandb":
        best_params = {k: v for k, v in best.hyperparameters.items() if k in sweep["parameters"]}
    return write_results(out, trials, best_params, recipe, log)


def _sampler(sweep: dict):
    import optuna

    if sweep["method"] == "random":
        return optuna.samplers.RandomSampler(seed=0)
    if sweep["method"] == "grid":
        return optuna.samplers.GridSampler({k: v["values"] for k, v in sweep["parameters"].items() if "values" in v})
    return optuna.samplers.TPESampler(seed=0, n_startup_trials=4)


def _pruner(sweep: dict, args):
    import optuna

    early = sweep.get("early_terminate") or {}
    if early.get("type") != "hyperband":
        return optuna.pruners.NopPruner()
    # W&B's hyperband counts min_iter in evaluations; optuna's resources here are training steps.
    return optuna.pruners.HyperbandPruner(min_resource=early.get("min_iter", 1) * args.eval_steps,
                                          max_resource=args.max_steps, reduction_factor=early.get("eta", 3))


def write_results(out: Path, trials: list[dict], best: dict, recipe: dict, log=print) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "trials.json", trials)
    keys = list(dict.fromkeys(k for t in trials for k in t))
    with open(out / "trials.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(trials)
    best_recipe = {k: v for k, v in recipe.items() if k not in ("hp_search", "n_trials", "sweep_config")}
    best_recipe.update(best)
    best_recipe["output_dir"] = str(out / "best-run")
    best_recipe["model_dir"] = str(out / "best-model")
    best_value = min(t["objective"] for t in trials if t["objective"] is not None)
    header = (f"# Best trial of the search in {out} (validation bits/char {best_value:.4f}).\n"
              f"# Train it: python train_hf.py --config {out / 'best-recipe.yaml'}\n")
    (out / "best-recipe.yaml").write_text(header + yaml.safe_dump(best_recipe, allow_unicode=True, sort_keys=False),
                                          encoding="utf-8")
    for t in trials:
        log(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in t.items()))
    log(f"best: {best}; recipe: {out / 'best-recipe.yaml'}")
    return {"trials": trials, "best": best, "best_recipe": str(out / "best-recipe.yaml")}
