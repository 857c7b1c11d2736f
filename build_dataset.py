"""Build the cleaned, split Machado corpus as a `datasets.DatasetDict` under data/.

    python build_dataset.py                                   # corpus from $MACHADO_CORPUS_DIR or data/machado-de-assis
    python build_dataset.py --corpus_dir ../shared/corpus/machado-de-assis
    python build_dataset.py --rejoin_prose false --drop_index false --dataset_dir data/machado-raw   # raw text
    python build_dataset.py download                          # fetch the Kaggle dataset with kagglehub
"""

from __future__ import annotations

from collections.abc import Sequence

from machado_gpt.corpus import DataArguments, build_dataset, download_corpus
from machado_gpt.utils import default_corpus_dir, parse_config, run_cli


def main(argv: Sequence[str] | None = None):
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["download"]:
        (args,) = parse_config([DataArguments], argv[1:])
        target = download_corpus(default_corpus_dir(args.corpus_dir))
        print(f"corpus downloaded to {target}")
        return target
    if argv[:1] == ["build"]:
        argv = argv[1:]
    (args,) = parse_config([DataArguments], argv)
    return build_dataset(args)


if __name__ == "__main__":
    run_cli(main)
