"""The Anatomia notebooks: twins with identical code cells (but the one that names the labels' language), stored
without outputs and current with their generator, and executed top to bottom with nbclient on the real corpus
(slow: `make test-slow`), every hand computation asserted inside them against the model."""

import json
import time

import nbformat
import pytest

from tests.conftest import ROOT

NOTEBOOKS = {"pt": ROOT / "notebooks/anatomia_do_gpt.ipynb", "en": ROOT / "notebooks/anatomy_of_a_gpt.ipynb"}


def code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def test_twins_share_their_code_and_are_stored_without_outputs():
    pt, en = (nbformat.read(NOTEBOOKS[lang], as_version=4) for lang in ("pt", "en"))
    pairs = list(zip(code_cells(pt), code_cells(en), strict=True))
    differ = [(a.source, b.source) for a, b in pairs if a.source != b.source]
    assert differ == [('LANG = "pt"  # the language of the figures\' labels',
                       'LANG = "en"  # the language of the figures\' labels')]
    assert [a.metadata.get("tags") for a, b in pairs if a.source != b.source] == [["language"]]
    for nb in (pt, en):
        assert all(c.outputs == [] and c.execution_count is None for c in code_cells(nb))
    assert "Abrir no Colab" in pt.cells[0].source and "Open in Colab" in en.cells[0].source
    assert "colab.research.google.com/github/" in pt.cells[0].source


def test_committed_notebooks_are_what_the_generator_writes():
    import sys

    sys.path.insert(0, str(ROOT / "notebooks"))
    from make_notebooks import FILES, build

    for lang, path in FILES.items():
        assert json.loads(nbformat.writes(build(lang))) == json.loads(path.read_text()), (
            f"{path.name} is stale: run `python notebooks/make_notebooks.py`")


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["pt", "en"])
def test_notebook_runs_top_to_bottom_on_the_real_corpus(lang, corpus_dir, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("MACHADO_NOTEBOOK_QUICK", "1")  # 30 s of training: the kernel inherits it
    monkeypatch.setenv("MACHADO_CORPUS_DIR", str(corpus_dir))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOKS[lang], as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    seconds = time.perf_counter() - start
    errors = [o for c in code_cells(nb) for o in c.outputs if o.output_type == "error"]
    assert not errors
    text = "".join(o.get("text", "") for c in code_cells(nb) for o in c.outputs if o.output_type == "stream")
    assert "by hand == model" in text and "whole forward pass by hand == model" in text
    for name in ("positions", "attention-head", "sampling", "compressors", "training-curve"):
        assert (ROOT / "out/notebook" / f"{name}-{lang}.png").stat().st_size > 5_000
    print(f"{NOTEBOOKS[lang].name}: {seconds:.0f} s")  # CI's log keeps it; a measurement, not a limit
