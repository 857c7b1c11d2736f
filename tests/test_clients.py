"""The published folder in another client: transformers 4.57 in its own virtual environment (`make venv-tf4`).
Slow (a second environment): `.ci/run` runs it after the main suite, with `pytest -m slow`."""

import json
import subprocess

import pytest
import torch

import train_hf
from tests.conftest import FAMILIES, ROOT

pytestmark = pytest.mark.slow
TF4_PYTHON = ROOT / ".venv-tf4" / "bin" / "python"
# Inside the window for GPT-2 (learned positions, context 64); past it for the sliding-window family.
NEW_TOKENS = {"gpt2": 40, "qwen3": 150}

CLIENT = """
import json, sys, torch, transformers
from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline
folder, n = sys.argv[1], int(sys.argv[2])
tokenizer = AutoTokenizer.from_pretrained(folder)
model = AutoModelForCausalLM.from_pretrained(folder).eval()
ids = tokenizer("Capitu", return_tensors="pt").input_ids
with torch.no_grad():
    out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, min_new_tokens=n, do_sample=False)
text = pipeline("text-generation", model=folder)("Capitu", max_new_tokens=n, min_new_tokens=n, do_sample=False)
print(json.dumps({"version": transformers.__version__, "tokenizer": type(tokenizer).__name__,
                  "ids": out[0].tolist(), "text": text[0]["generated_text"]}))
"""


def run_client(python, folder, n) -> dict:
    proc = subprocess.run([str(python), "-c", CLIENT, str(folder), str(n)], capture_output=True, text=True,
                          env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("family", list(FAMILIES))
def test_transformers_4_loads_the_folder_and_continues_it_greedily_as_5_does(tiny_argv, tmp_path, family):
    if not TF4_PYTHON.is_file():
        pytest.fail(f"no transformers 4.x environment at {TF4_PYTHON}: run `make venv-tf4` (CI does)")
    import sys

    torch.manual_seed(0)
    train_hf.main([*tiny_argv, *FAMILIES[family], "--max_steps", "60", "--eval_strategy", "no", "--save_steps", "30"])
    folder = tmp_path / "model"
    five = run_client(sys.executable, folder, NEW_TOKENS[family])
    four = run_client(TF4_PYTHON, folder, NEW_TOKENS[family])
    assert five["version"].startswith("5.") and four["version"].startswith("4.57")
    assert four["tokenizer"] == "PreTrainedTokenizerFast"
    assert len(four["ids"]) == len(five["ids"]) > NEW_TOKENS[family]
    assert four["ids"] == five["ids"] and four["text"] == five["text"]
    # The last checkpoint's tokenizer is portable too: every save goes through the same fix.
    checkpoint = sorted((tmp_path / "run").glob("checkpoint-*"))[-1]
    assert json.loads((checkpoint / "tokenizer_config.json").read_text())["tokenizer_class"] == "PreTrainedTokenizerFast"
