"""The data pipeline's speed: dataset build from the raw text, tokenizer training (char and BPE), and
tokenization of the whole dataset with batched Dataset.map, each timed once, from scratch, in one run.

    python benchmarks/data_pipeline.py --corpus_dir ../shared/corpus/machado-de-assis
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from machado_gpt.corpus import DataArguments, build_dataset
from machado_gpt.tokenizer import TokenizerArguments, tokenize_dataset, train_tokenizer


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus_dir", default=None)
    p.add_argument("--bpe_vocab_size", type=int, default=1024)
    a = p.parse_args(argv)
    quiet = lambda *args: None  # noqa: E731
    times = {}
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        dsd = build_dataset(DataArguments(corpus_dir=a.corpus_dir, dataset_dir=f"{tmp}/ds"), log=quiet)
        times["dataset build (clean + split + save)"] = time.perf_counter() - t
        t = time.perf_counter()
        build_dataset(DataArguments(corpus_dir=a.corpus_dir, dataset_dir=f"{tmp}/ds"), log=quiet)
        times["dataset load when up to date"] = time.perf_counter() - t
        n_chars = sum(sum(dsd[s]["n_chars"]) for s in dsd)
        for kind in ("char", "bpe"):
            args = TokenizerArguments(tokenizer_kind=kind, tokenizer_vocab_size=a.bpe_vocab_size,
                                      tokenizer_dir=str(Path(tmp) / f"tok-{kind}"))
            t = time.perf_counter()
            tok = train_tokenizer(dsd, args, 128, log=quiet)
            times[f"{kind} tokenizer: train + round-trip check of every split"] = time.perf_counter() - t
            t = time.perf_counter()
            tokenize_dataset(dsd, tok)
            times[f"{kind} tokenization of every split (Dataset.map)"] = time.perf_counter() - t
            t = time.perf_counter()
            tokenize_dataset(dsd, tok)
            times[f"{kind} tokenization again (cached)"] = time.perf_counter() - t
    print(f"{n_chars:,} characters")
    for name, s in times.items():
        print(f"{name:<58}{s:8.2f} s")
    return times


if __name__ == "__main__":
    main()
