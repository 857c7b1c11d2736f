"""Score a model folder: test-split bits/char overall and per genre, perplexity, and text-quality measures of
samples (word validity, distinct-1/2, copying); or score your own texts. Writes JSON and a bar chart PNG.

    python evaluate_model.py --model_dir machado-gpt                       # test split, per genre
    python evaluate_model.py --model_dir machado-gpt --split validation --quality_samples 0
    python evaluate_model.py --model_dir machado-gpt --texts_dir my_texts/  # any folder of .txt files
"""

from __future__ import annotations

from collections.abc import Sequence

from machado_gpt.evaluation import EvalArguments, run_evaluation
from machado_gpt.utils import parse_config, run_cli


def main(argv: Sequence[str] | None = None):
    (args,) = parse_config([EvalArguments], argv)
    return run_evaluation(args)


if __name__ == "__main__":
    run_cli(main)
