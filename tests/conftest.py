"""Shared fixtures: the real corpus (from ../shared or $MACHADO_CORPUS_DIR) and small made-up corpora."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def real_corpus_dir() -> Path | None:
    for candidate in (os.environ.get("MACHADO_CORPUS_DIR"), ROOT.parent / "shared/corpus/machado-de-assis"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    path = real_corpus_dir()
    if path is None:
        pytest.skip("real corpus not found: set MACHADO_CORPUS_DIR (see README)")
    return path


@pytest.fixture(scope="session")
def real_dataset(corpus_dir, tmp_path_factory):
    """The full cleaned dataset, built once per test session (about 8 s)."""
    from machado_gpt.corpus import DataArguments, build_dataset

    out = tmp_path_factory.mktemp("real") / "dataset"
    return build_dataset(DataArguments(corpus_dir=str(corpus_dir), dataset_dir=str(out)), log=lambda *a: None), out


PROSE = (
    "Era uma vez um rei que morava num castelo muito antigo, à beira de um rio largo e\n"
    "sereno, onde as garças vinham beber ao entardecer. O rei tinha três filhas.\n"
    "— Quem casará com a mais moça? perguntou a rainha.\n"
    "Ninguém respondeu.\n"
)
VERSE = "Eu conheço a mais bela flor;\nÉs tu, rosa da mocidade,\nNascida, aberta para o amor.\n"


def write_small_corpus(root: Path, n_paragraphs: int = 30) -> Path:
    """A made-up corpus in the published layout: two prose genres and poetry, long enough to be split."""
    for genre, work, unit in (("romance", "reiAntigo", PROSE), ("conto", "outroConto", PROSE), ("poesia", "flores", VERSE)):
        (root / genre).mkdir(parents=True, exist_ok=True)
        body = "".join(unit.replace("rei", f"rei {i}") for i in range(n_paragraphs))
        (root / genre / f"{work}.txt").write_text(f"Título de {work}\n\nÍNDICE\nCAPÍTULO I\nCAPÍTULO I\n{body}", encoding="utf-8")
    return root


@pytest.fixture
def small_corpus(tmp_path) -> Path:
    return write_small_corpus(tmp_path / "corpus")


@pytest.fixture(scope="session")
def char_tokenizer_dir(real_dataset, tmp_path_factory):
    from machado_gpt.tokenizer import TokenizerArguments
    from machado_gpt.tokenizer import train_tokenizer as train_tok

    dsd, _ = real_dataset
    out = tmp_path_factory.mktemp("tok") / "char"
    train_tok(dsd, TokenizerArguments(tokenizer_dir=str(out)), model_max_length=64, log=lambda *a: None)
    return out


@pytest.fixture
def tiny_argv(real_dataset, char_tokenizer_dir, corpus_dir, tmp_path):
    _, dataset_dir = real_dataset
    return ["--config", str(ROOT / "configs/tiny.yaml"), "--corpus_dir", str(corpus_dir), "--dataset_dir", str(dataset_dir),
            "--tokenizer_dir", str(char_tokenizer_dir), "--output_dir", str(tmp_path / "run"),
            "--model_dir", str(tmp_path / "model")]


def small_dsd(train_texts, held_out=("Uma frase de validação.",)):
    """A DatasetDict of made-up texts in the corpus schema: train from `train_texts`, one held-out text."""
    from datasets import Dataset, DatasetDict

    def ds(texts):
        return Dataset.from_dict({"text": list(texts), "work": [f"w{i}" for i in range(len(texts))],
                                  "genre": ["conto"] * len(texts), "n_chars": [len(t) for t in texts]})
    return DatasetDict({"train": ds(train_texts), "validation": ds(held_out), "test": ds(held_out)})


# Flags that train each model family the way its recipe does (qwen3: Muon, warmup-stable-decay).
FAMILIES = {"gpt2": [], "qwen3": ["--model_type", "qwen3", "--optimizer", "muon", "--lr_scheduler_type",
                                  "warmup_stable_decay"]}


TEXT = "Capitu olhou para mim com os olhos de ressaca. Era uma vez um rei que morava num castelo antigo.\n" * 5


def save_tiny_model(out: Path, model_type: str = "gpt2") -> Path:
    """A tiny random model (context 16) with a char tokenizer trained here, saved like a trained model folder."""
    import torch

    from machado_gpt.config import ModelArguments, build_model
    from machado_gpt.tokenizer import TokenizerArguments
    from machado_gpt.tokenizer import train_tokenizer as train_tok

    tokenizer = train_tok(small_dsd([TEXT]), TokenizerArguments(tokenizer_dir=str(out)), 16, log=lambda *a: None)
    torch.manual_seed(0)
    model = build_model(ModelArguments(model_type=model_type, n_layer=2, n_head=2, n_embd=32, n_positions=16,
                                       dropout=0.0), tokenizer)
    model.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A tiny random GPT-2 (context 16)."""
    return save_tiny_model(tmp_path_factory.mktemp("gen") / "model")


@pytest.fixture(scope="session", params=["gpt2", "qwen3"])
def tiny_model_dirs(request, tmp_path_factory):
    """A tiny random model of each family (context 16; qwen3's sliding window is 16 too)."""
    return save_tiny_model(tmp_path_factory.mktemp(f"gen-{request.param}") / "model", request.param)
