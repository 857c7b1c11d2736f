"""Train machado-gpt with `transformers.Trainer`, through `accelerate` or plain Python.

    accelerate launch train_hf.py --config configs/cpu.yaml          # the README's main job (~10 min on 2 CPU cores)
    python train_hf.py --config configs/tiny.yaml --max_steps 20     # any recipe field can be overridden
    accelerate launch train_hf.py --config configs/machado-gpt-28m.yaml   # the thesis-sized model, on a GPU
    python train_hf.py --config configs/search-cpu.yaml --hp_search optuna --n_trials 8   # hyperparameter search

The final model lands in --model_dir (default machado-gpt/), loadable with pipeline("text-generation", model=...).
An interrupted run resumes from the last checkpoint in --output_dir when started again.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from machado_gpt.config import parse_recipe
from machado_gpt.training import train
from machado_gpt.utils import recipe_values, run_cli


def main(argv: Sequence[str] | None = None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parsed = parse_recipe(argv)
    data_args, tok_args, model_args, opt_args, run_args, training_args = parsed
    if run_args.hp_search:
        from machado_gpt.search import hp_search

        return hp_search(data_args, tok_args, model_args, opt_args, run_args, training_args,
                         recipe=recipe_values(argv, parsed))
    return train(data_args, tok_args, model_args, opt_args, run_args, training_args)


if __name__ == "__main__":
    run_cli(main)
