"""The DatasetDict build: bad inputs, splits, card and cache on made-up corpora; leak-freeness on the real one."""

import subprocess
import sys
import warnings

import pytest
from datasets import load_from_disk
from huggingface_hub import DatasetCard

import build_dataset
from machado_gpt.corpus import CorpusWarning, DataArguments, split_work
from machado_gpt.corpus import build_dataset as build
from machado_gpt.utils import MachadoError
from tests.conftest import ROOT

QUIET = dict(log=lambda *a: None)


def _args(corpus, out, **kw):
    return DataArguments(corpus_dir=str(corpus), dataset_dir=str(out), **kw)


def test_split_work_cuts_at_paragraphs():
    text = "\n".join(f"paragrafo {i:02d} " + "x" * 88 for i in range(40))  # 40 paragraphs of 100 chars
    parts = split_work(text, 0.05, 0.05, min_paragraphs=20)
    assert [len(parts[s].split("\n")) for s in ("train", "test", "validation")] == [36, 2, 2]
    assert "\n".join([parts["train"], parts["test"], parts["validation"]]) == text
    short = split_work("um\ndois", 0.05, 0.05, min_paragraphs=20)
    assert short == {"train": "um\ndois", "validation": "", "test": ""}


def test_small_corpus_round_trip_with_card(small_corpus, tmp_path):
    out = tmp_path / "ds"
    dsd = build(_args(small_corpus, out), **QUIET)
    assert set(dsd) == {"train", "validation", "test"}
    assert dsd["train"].column_names == ["text", "genre", "work", "title", "n_chars", "n_paragraphs"]
    for split in dsd:
        assert sorted(set(dsd[split]["genre"])) == ["conto", "poesia", "romance"]
    row = dsd["train"][0]
    assert row["title"] == "Título de outroConto" and row["n_chars"] == len(row["text"])
    assert "ÍNDICE" not in row["text"] and "Título de" not in row["text"]
    assert row["text"].startswith("CAPÍTULO I\nEra uma vez um rei 0 que morava num castelo muito antigo, à beira de um rio")
    poem = dsd["train"].filter(lambda r: r["genre"] == "poesia")[0]["text"]
    assert "Eu conheço a mais bela flor;\nÉs tu, rosa da mocidade," in poem

    again = load_from_disk(str(out))
    assert again["validation"]["text"] == dsd["validation"]["text"]
    card = DatasetCard.load(out / "README.md")
    assert card.data.language == ["pt"] and card.data.task_categories == ["text-generation"]
    assert "| validation | poesia |" in card.text


def test_raw_build_keeps_the_file(small_corpus, tmp_path):
    dsd = build(_args(small_corpus, tmp_path / "raw", normalize=False, drop_index=False, rejoin_prose=False,
                      min_paragraphs=10**9), **QUIET)
    raw = (small_corpus / "conto/outroConto.txt").read_text(encoding="utf-8")
    assert dsd["train"][0]["text"] == raw.strip("\n")


def test_rebuild_only_when_sources_or_options_change(small_corpus, tmp_path):
    out, logs = tmp_path / "ds", []
    build(_args(small_corpus, out), log=logs.append)
    build(_args(small_corpus, out), log=logs.append)
    assert "up to date" in logs[-1]
    build(_args(small_corpus, out, rejoin_prose=False), log=logs.append)
    assert "up to date" not in logs[-1]
    (small_corpus / "conto/novo.txt").write_text("Novo\n\nUm conto novo.\n", encoding="utf-8")
    dsd = build(_args(small_corpus, out, rejoin_prose=False), log=logs.append)
    assert "novo" in dsd["train"]["work"]


@pytest.mark.parametrize("setup, message", [
    (lambda p: None, "not found"),
    (lambda p: p.mkdir(), "is empty"),
    (lambda p: (p / "romance").mkdir(parents=True) or (p / "romance/a.md").write_text("x"), "no <genre>/<work>.txt"),
])
def test_bad_corpus_folders(tmp_path, setup, message):
    corpus = tmp_path / "corpus"
    setup(corpus)
    with pytest.raises(MachadoError, match=message):
        build(_args(corpus, tmp_path / "ds"), **QUIET)
    assert not (tmp_path / "ds").exists()


def test_bad_files_are_skipped_with_a_named_warning(small_corpus, tmp_path):
    (small_corpus / "conto/vazio.txt").write_text("", encoding="utf-8")
    (small_corpus / "conto/latin1.txt").write_bytes("Título\n\nAção em latin-1.".encode("latin-1"))
    (small_corpus / "conto/imagem.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.warns(CorpusWarning) as record:
        dsd = build(_args(small_corpus, tmp_path / "ds"), **QUIET)
    messages = " | ".join(str(w.message) for w in record)
    assert "empty file" in messages and "vazio.txt" in messages
    assert "not UTF-8" in messages and "latin1.txt" in messages
    assert "binary file" in messages and "imagem.txt" in messages
    assert sorted(set(dsd["train"]["work"])) == ["flores", "outroConto", "reiAntigo"]


def test_only_bad_files_is_an_error(tmp_path):
    corpus = tmp_path / "corpus"
    (corpus / "conto").mkdir(parents=True)
    (corpus / "conto/vazio.txt").write_text("")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CorpusWarning)
        with pytest.raises(MachadoError, match="no readable UTF-8 works"):
            build(_args(corpus, tmp_path / "ds"), **QUIET)
    assert not (tmp_path / "ds").exists()


def test_failed_build_leaves_an_unrelated_folder_untouched(small_corpus, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "precious.txt").write_text("do not delete")
    with pytest.raises(MachadoError, match="not a machado-gpt dataset"):
        build(_args(small_corpus, out), **QUIET)
    assert (out / "precious.txt").read_text() == "do not delete"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus", "mine"]  # no temporary folder left behind


def test_cli_missing_corpus_is_one_line_and_exit_2(tmp_path):
    proc = subprocess.run([sys.executable, "build_dataset.py", "--corpus_dir", str(tmp_path / "nope"),
                           "--dataset_dir", str(tmp_path / "ds")], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "luxedo/machado-de-assis" in proc.stderr and "data/machado-de-assis" in proc.stderr


def test_download_offline_gives_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path / "cache"))
    with pytest.raises(MachadoError, match="could not download luxedo/machado-de-assis"):
        build_dataset.main(["download", "--corpus_dir", str(tmp_path / "dl")])


def test_main_reads_env_var(small_corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("MACHADO_CORPUS_DIR", str(small_corpus))
    dsd = build_dataset.main(["--dataset_dir", str(tmp_path / "ds")])
    assert len(dsd["train"]) == 3


# --- the real corpus -------------------------------------------------------------------------------------

def test_real_corpus_targets_and_coverage(real_dataset):
    import json

    dsd, out = real_dataset
    info = json.loads((out / "build_info.json").read_text())
    assert info["n_files"] == 111 and not info["skipped"]
    assert info["figures"]["prose_mid_sentence_newlines_raw"] > 0.5
    assert info["figures"]["prose_mid_sentence_newlines_clean"] < 0.05
    assert info["figures"]["poetry_line_breaks_kept"] >= 0.95
    genres = {"conto", "critica", "cronica", "miscelania", "poesia", "romance", "teatro", "traducao"}
    for split in ("train", "validation", "test"):
        assert set(dsd[split]["genre"]) == genres
    n = {s: sum(dsd[s]["n_chars"]) for s in dsd}
    assert 0.04 < n["validation"] / sum(n.values()) < 0.06 and 0.04 < n["test"] / sum(n.values()) < 0.06
    assert len(set(dsd["train"]["work"])) == 111


def test_real_splits_are_leak_free(real_dataset):
    dsd, _ = real_dataset
    train = {p for t in dsd["train"]["text"] for p in t.split("\n") if len(p) >= 30}
    for split in ("validation", "test"):
        heldout = [p for t in dsd[split]["text"] for p in t.split("\n") if len(p) >= 30]
        assert len(heldout) > 1000
        assert not [p for p in heldout if p in train]
    # Held-out spans are the ends of works: validation is the very last part of Dom Casmurro.
    dom = {s: dsd[s].filter(lambda r: r["work"] == "domCasmurro")[0]["text"] for s in dsd}
    assert "CAPÍTULO CXLVIII" in dom["validation"] and "CAPÍTULO PRIMEIRO" in dom["train"]
