"""Publish a trained model folder (weights, config, tokenizer, card, metrics) and optionally the dataset.

    python push_to_hub.py --model_dir machado-gpt --repo_id <user>/machado-gpt --dry_run   # stage + check offline
    hf auth login                                                                           # or export HF_TOKEN=...
    python push_to_hub.py --model_dir machado-gpt --repo_id <user>/machado-gpt [--private] [--dataset <user>/machado-de-assis]

Then anyone can: pipeline("text-generation", model="<user>/machado-gpt").
"""

from __future__ import annotations

from collections.abc import Sequence

from machado_gpt.hub import HubArguments, push
from machado_gpt.utils import model_dir_first, parse_config, run_cli


def main(argv: Sequence[str] | None = None):
    (args,) = parse_config([HubArguments], model_dir_first(argv))
    return push(args)


if __name__ == "__main__":
    run_cli(main)
