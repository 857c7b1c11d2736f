"""The `machado` lm-eval task's data and per-text counts (lm-eval imports this file by name from machado.yaml)."""

import re

from datasets import Dataset, DatasetDict


def load_texts(texts_dir=None, dataset_dir="data/machado-dataset", split="test", **_) -> DatasetDict:
    """A folder of .txt files (`--metadata '{"texts_dir": ...}'`), or a split of the saved dataset, as the task's
    test split: one document per text, whole."""
    from machado_gpt.evaluation import read_split, read_texts_dir

    rows = read_texts_dir(texts_dir) if texts_dir else read_split(dataset_dir, split)
    return DatasetDict({"test": Dataset.from_dict({"group": [g for g, _, _ in rows], "name": [n for _, n, _ in rows],
                                                   "text": [t for _, _, t in rows]})})


def process_results(doc, results):
    (loglikelihood,) = results
    n_bytes = len(doc["text"].encode("utf-8"))
    return {"word_perplexity": (loglikelihood, len(re.split(r"\s+", doc["text"]))),
            "byte_perplexity": (loglikelihood, n_bytes), "bits_per_byte": (loglikelihood, n_bytes)}
