"""Train the char-level (default) or byte-level BPE tokenizer on the train split, check the exact round trip on
every split, and save it with a report (kind, vocab size, characters per token, <unk> count, time).

    python train_tokenizer.py                                   # char, data/tokenizer-char
    python train_tokenizer.py --tokenizer_kind bpe --tokenizer_vocab_size 2048
    python train_tokenizer.py --config configs/cpu.yaml         # the recipe's tokenizer and context
"""

from __future__ import annotations

from collections.abc import Sequence

from machado_gpt.config import parse_recipe
from machado_gpt.corpus import build_dataset
from machado_gpt.tokenizer import train_tokenizer
from machado_gpt.utils import run_cli


def main(argv: Sequence[str] | None = None):
    data_args, tok_args, model_args, *_ = parse_recipe(argv)
    dsd = build_dataset(data_args)  # loads the saved dataset when it is up to date
    return train_tokenizer(dsd, tok_args, model_max_length=model_args.n_positions)


if __name__ == "__main__":
    run_cli(main)
