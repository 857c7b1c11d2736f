"""The published folder in other clients: transformers 4.57 in its own virtual environment (`make venv-tf4`),
onnxruntime on the ONNX export, transformers.js in Node and in a real headless Chromium, and lm-evaluation-harness.
Slow (a second environment, exports, a browser): `.ci/run` runs them after the main suite, with `pytest -m slow`."""

import json
import math
import os
import subprocess
import sys

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
with torch.no_grad():  # the idiom of every tutorial: all the tokenizer returns goes to generate
    out = model.generate(**tokenizer("Capitu", return_tensors="pt"), max_new_tokens=n, min_new_tokens=n, do_sample=False)
text = pipeline("text-generation", model=folder)("Capitu", max_new_tokens=n, min_new_tokens=n, do_sample=False)
print(json.dumps({"version": transformers.__version__, "tokenizer": type(tokenizer).__name__,
                  "ids": out[0].tolist(), "text": text[0]["generated_text"]}))
"""


# The newcomer's first call, alone in its process, so that whatever it prints is its own.
PIPELINE = """
import sys
from transformers import pipeline
print(pipeline("text-generation", model=sys.argv[1])("Capitu", max_new_tokens=300)[0]["generated_text"])
"""


def run_client(python, folder, n) -> dict:
    proc = subprocess.run([str(python), "-c", CLIENT, str(folder), str(n)], capture_output=True, text=True,
                          env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def pipeline_messages(python, folder) -> list[str]:
    """What `pipeline(...)("Capitu", max_new_tokens=300)` prints on stderr, less weight-loading progress bars."""
    proc = subprocess.run([str(python), "-c", PIPELINE, str(folder)], capture_output=True, text=True,
                          env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0 and len(proc.stdout) > 300, proc.stderr[-3000:]
    return [line for line in proc.stderr.replace("\r", "\n").splitlines()
            if line.strip() and not line.lstrip().startswith("Loading weights")]


@pytest.fixture(scope="module", params=list(FAMILIES))
def trained(request, real_dataset, char_tokenizer_dir, corpus_dir, tmp_path_factory):
    """(family, model folder, run folder): the tiny recipe trained for 150 steps, once per family for this module."""
    family = request.param
    out = tmp_path_factory.mktemp(f"client-{family}")
    torch.manual_seed(0)
    train_hf.main(["--config", str(ROOT / "configs/tiny.yaml"), "--corpus_dir", str(corpus_dir), "--dataset_dir",
                   str(real_dataset[1]), "--tokenizer_dir", str(char_tokenizer_dir), "--output_dir", str(out / "run"),
                   "--model_dir", str(out / "model"), *FAMILIES[family], "--max_steps", "150", "--eval_strategy", "no",
                   "--save_steps", "75"])
    return family, out / "model", out / "run"


def test_transformers_4_loads_the_folder_and_continues_it_greedily_as_5_does(trained):
    if not TF4_PYTHON.is_file():
        pytest.fail(f"no transformers 4.x environment at {TF4_PYTHON}: run `make venv-tf4` (CI does)")
    family, folder, run = trained
    five = run_client(sys.executable, folder, NEW_TOKENS[family])
    four = run_client(TF4_PYTHON, folder, NEW_TOKENS[family])
    assert five["version"].startswith("5.") and four["version"].startswith("4.57")
    assert four["tokenizer"] == "PreTrainedTokenizerFast"
    assert len(four["ids"]) == len(five["ids"]) > NEW_TOKENS[family]
    assert four["ids"] == five["ids"] and four["text"] == five["text"]
    # A sliding-window model has no length limit: 300 tokens past a 64-token window warn of nothing, in either version.
    if family == "qwen3":
        assert pipeline_messages(sys.executable, folder) == []
        # transformers 4.x's pipeline logs where it runs, for every model ('Device set to use cpu'): a true notice
        # from the library, not a warning about this folder, and nothing the folder can change.
        assert [m for m in pipeline_messages(TF4_PYTHON, folder) if m != "Device set to use cpu"] == []
    # The last checkpoint's tokenizer is portable too: every save goes through the same fix.
    checkpoint = sorted(run.glob("checkpoint-*"))[-1]
    assert json.loads((checkpoint / "tokenizer_config.json").read_text())["tokenizer_class"] == "PreTrainedTokenizerFast"


@pytest.fixture(scope="module")
def exported(trained):
    """The trained folder exported by `export_onnx.py`, its report checked against PyTorch past the window."""
    import export_onnx

    family, folder, _ = trained
    return family, folder, export_onnx.main([str(folder), "--check_tokens", str(NEW_TOKENS[family])])


def test_onnx_export_has_the_transformers_js_layout_and_matches_pytorch(exported, tmp_path):
    import onnx

    import push_to_hub
    from machado_gpt.onnx_export import INT8, OPTIMIZED, OnnxLM

    family, folder, report = exported
    assert report["model_type"] == family and report["new_tokens"] == NEW_TOKENS[family]
    for name in ("model.onnx", OPTIMIZED):
        assert report[name]["max_abs_logit_diff"] <= 1e-4 and report[name]["greedy_equal"], name
    assert report[INT8]["bytes"] < report["model.onnx"]["bytes"]
    graph = onnx.load(folder / "onnx" / "model.onnx").graph
    dims = {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in [*graph.input, *graph.output]}
    n_layer = 2
    assert [v.name for v in graph.input] == ["input_ids", "attention_mask", "position_ids"] + [
        f"past_key_values.{i}.{k}" for i in range(n_layer) for k in ("key", "value")]
    assert [v.name for v in graph.output] == ["logits"] + [f"present.{i}.{k}" for i in range(n_layer) for k in ("key", "value")]
    assert dims["input_ids"] == ["batch_size", "sequence_length"]
    assert dims["past_key_values.0.key"][0] == "batch_size" and dims["past_key_values.0.key"][2] == "past_sequence_length"
    assert dims["logits"][:2] == ["batch_size", "sequence_length"]
    assert dims["present.1.value"][0] == "batch_size" and "past_sequence_length" in dims["present.1.value"][2]
    # The optimized file, for generate.py. Qwen3: onnxruntime-genai's graph (GroupQueryAttention, fused norms, far
    # fewer nodes), the positions read from the mask, its weights inside the one file. GPT-2: model.onnx's inputs,
    # the last position's logits only.
    optimized = onnx.load(folder / "onnx" / OPTIMIZED).graph
    if family == "qwen3":
        names = [v.name for v in optimized.input]  # every layer's key, then the values: fed by name
        assert names[:2] == ["input_ids", "attention_mask"]
        assert sorted(names) == sorted(v.name for v in graph.input if v.name != "position_ids")
        assert "GroupQueryAttention" in {n.op_type for n in optimized.node}
        assert len(optimized.node) < len(graph.node) / 2
        assert not list(folder.glob("onnx/*.data")) and all(not t.external_data for t in optimized.initializer)
    else:
        assert [v.name for v in optimized.input] == [v.name for v in graph.input]
        assert [d.dim_param or d.dim_value for d in optimized.output[0].type.tensor_type.shape.dim][:2] == ["batch_size", 1]
    # The Hub staging carries onnx/, and the staged file decodes as the folder's does.
    staged = push_to_hub.main([str(folder), "--repo_id", "u/m", "--dry_run", "--staging_dir", str(tmp_path)])
    names = [name for name, _ in staged["files"]]
    assert {"onnx/model.onnx", "onnx/model_quantized.onnx", f"onnx/{OPTIMIZED}", "onnx/export.json"} <= set(names)
    from transformers import AutoConfig, AutoTokenizer

    config = AutoConfig.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    prompt = tokenizer("Capitu", add_special_tokens=False)["input_ids"]
    greedy = OnnxLM(tmp_path / "u--m" / "onnx" / "model.onnx", config).greedy(prompt, NEW_TOKENS[family])
    assert tokenizer.decode(greedy) == report["torch_greedy"]


def test_onnxruntime_backend_writes_pytorch_greedy_text_past_the_window(exported):
    """generate.py's onnx backend (IO binding, the same sampling and re-prefill code): greedy text equal to the
    PyTorch path for the fp32 file over 300 tokens, re-prefills included; batches of samples; int8's agreement
    measured; and generate.py picks it by default for a folder with onnx/."""
    from machado_gpt.generation import SamplingArguments, generate_batch, generate_texts, generate_tokens
    from machado_gpt.onnx_export import FP32, INT8, OPTIMIZED, OnnxDecoder, load_decoder

    family, folder, report = exported
    decoder, tokenizer = load_decoder(str(folder))  # auto: the folder has onnx/, and its optimized file
    model, _ = load_decoder(str(folder), "torch")
    assert isinstance(decoder, OnnxDecoder) and not isinstance(model, OnnxDecoder) and decoder.path.name == OPTIMIZED
    prompt = tokenizer("Capitu", add_special_tokens=False)["input_ids"]
    greedy = SamplingArguments(max_new_tokens=300, temperature=0)
    reference = list(generate_tokens(model, prompt, greedy))
    assert list(generate_tokens(decoder, prompt, greedy)) == reference
    assert decoder.in_place == (family == "qwen3")  # the cache written in place, or concatenated (GPT-2)
    rows = torch.stack(list(generate_batch(decoder, prompt, greedy, 3)), 1)  # a batch re-sizes the cache
    assert all(row == reference for row in rows.tolist())
    # torch samples on one thread while onnxruntime runs the model, and gets its threads back after
    threads = torch.get_num_threads()
    tokens = generate_batch(decoder, prompt, greedy, 2)
    next(tokens)
    assert torch.get_num_threads() == 1
    tokens.close()
    assert torch.get_num_threads() == threads
    assert list(generate_tokens(OnnxDecoder(folder / "onnx" / FP32, decoder.config), prompt, greedy)) == reference
    sampled = SamplingArguments(max_new_tokens=40, temperature=1.0, top_k=0, top_p=1.0, seed=3)
    texts = generate_texts(decoder, tokenizer, "Capitu", sampled, 3)
    assert len(set(texts)) == 3 and texts == generate_texts(decoder, tokenizer, "Capitu", sampled, 3)
    int8, _ = load_decoder(str(folder), "onnx-int8")
    agree = next((i for i, (a, b) in enumerate(zip(generate_tokens(int8, prompt, greedy), reference)) if a != b), 300)
    assert agree >= min(5, report[INT8]["greedy_tokens_equal"])  # int8 starts as PyTorch does, as export.json says
    proc = subprocess.run([sys.executable, str(ROOT / "generate.py"), "--model_dir", str(folder),
                           "--prompt", "Capitu", "--temperature", "0", "--max_new_tokens", "300"], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout == "Capitu" + tokenizer.decode(reference) + "\n"


def test_node_generate_mjs_writes_pytorch_greedy_text(exported):
    family, folder, report = exported
    proc = subprocess.run(["node", str(ROOT / "web/generate.mjs"), str(folder), "Capitu", str(NEW_TOKENS[family]), "0",
                           "fp32"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout == "Capitu" + report["torch_greedy"]
    assert f"{NEW_TOKENS[family]} tokens in" in proc.stderr
    bad = subprocess.run(["node", str(ROOT / "web/generate.mjs"), str(folder / "nothing")], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("error:") and "export_onnx.py" in bad.stderr


def test_browser_page_streams_the_models_greedy_text(exported):
    """Debian's Chromium, driven by Playwright. With onnx/model.onnx the page's greedy text is PyTorch's; with the
    int8 onnx/model_quantized.onnx it is onnxruntime's for that file, which follows PyTorch's until int8 rounding
    flips a near tie (export.json says after how many tokens), and where the two int8 runtimes round a late near tie
    differently, at least as far as onnxruntime's int8 text follows PyTorch's. Unasked, the page loads the file export_onnx.py
    chose (int8 only if it agrees on every checked token) and says so, with the agreement in Brazilian numbers."""
    from machado_gpt.i18n import number
    from machado_gpt.onnx_export import INT8, browser_choice
    from machado_gpt.web import browser_generate

    family, folder, report = exported
    int8_text = report[INT8]["greedy_text"]
    for dtype, expected in (("fp32", report["torch_greedy"]), ("q8", int8_text)):
        shot = ROOT / "out" / f"web-{family}-{dtype}.png"
        result = browser_generate(folder, "Capitu", NEW_TOKENS[family], temperature=0, dtype=dtype, screenshot=shot)
        assert result["dtype"] == dtype  # the page ran, and names, the file asked for
        if dtype == "fp32":
            assert result["text"] == "Capitu" + expected
        else:  # two int8 runtimes (WebAssembly, native x86) round differently too: a late near tie may flip between
            # them. The page follows onnxruntime's int8 text at least as far as that text follows PyTorch's.
            follows = len(os.path.commonprefix([result["text"], "Capitu" + int8_text])) - len("Capitu")
            assert follows >= min(len(int8_text), len(os.path.commonprefix([int8_text, report["torch_greedy"]]))), (
                result["text"], int8_text)
        assert result["updates"] > 10  # streamed as it was written, not set once at the end
        assert result["tokens"] == NEW_TOKENS[family] and "Concluído" in result["status"]
        assert shot.stat().st_size > 10_000
    # How long int8 follows PyTorch depends on the weights: this 2-layer test model's flat logits can flip even its
    # first near tie (the fp32 Muon iteration's weights did, on a Xeon). The page's choice below follows the count.
    assert 0 <= report[INT8]["greedy_tokens_equal"] <= report["new_tokens"]
    # The page's own choice, and what it shows: the model's name and shape, the file and the int8 agreement.
    assert report["browser"] == browser_choice(report)
    equal = report[INT8]["greedy_tokens_equal"]
    assert report["browser"]["dtype"] == ("q8" if equal == report["new_tokens"] else "fp32")
    chosen = browser_generate(folder, "Capitu", NEW_TOKENS[family], temperature=0,
                              screenshot=ROOT / "out" / f"web-{family}-default.png")
    assert chosen["dtype"] == report["browser"]["dtype"]
    assert chosen["text"] == "Capitu" + (report[INT8]["greedy_text"] if chosen["dtype"] == "q8" else report["torch_greedy"])
    assert f"int8: igual ao PyTorch por {number(equal, 'pt')} tokens (de {number(report['new_tokens'], 'pt')}" in chosen["file"]
    assert chosen["model"].startswith(f"{folder.name} · {family} · 2 camadas")
    # top-k 1 samples the most likely token, whatever the seed: the greedy text. A seed repeats a sampled text.
    top1 = browser_generate(folder, "Capitu", 20, temperature=1.0, top_k=1, dtype="fp32")
    assert top1["text"] == "Capitu" + report["torch_greedy"][:len(top1["text"]) - len("Capitu")]
    sampled = [browser_generate(folder, "Capitu", 20, temperature=1.0, top_k=0, top_p=1.0, seed=s, dtype="fp32")
               for s in (5, 5, 6)]
    assert sampled[0]["text"] == sampled[1]["text"] != sampled[2]["text"] and sampled[0]["seed"] == 5


def test_lm_eval_bits_per_byte_agrees_with_our_bits_per_char(trained, real_dataset, tmp_path):
    """`lm_eval --model hf ... --tasks machado --include_path configs/lm_eval` (the real CLI, offline) on a folder
    of test-split texts, against our metric with lm-eval's windows (disjoint: stride = context - 1)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from machado_gpt.evaluation import score

    family, folder, _ = trained
    dsd, _ = real_dataset
    texts_dir = tmp_path / "texts"
    texts_dir.mkdir()
    texts = [row["text"][:4000] for row in dsd["test"].select(range(4))]
    for i, text in enumerate(texts):
        (texts_dir / f"t{i}.txt").write_text(text, encoding="utf-8")
    window = json.loads((folder / "config.json").read_text()).get("sliding_window") or 64
    proc = subprocess.run([str(ROOT / ".venv/bin/lm_eval"), "--model", "hf", "--model_args",
                           f"pretrained={folder},max_length={window}",  # as the docs say: the model's window
                           "--tasks", "machado", "--include_path", str(ROOT / "configs/lm_eval"), "--device", "cpu",
                           "--metadata", json.dumps({"texts_dir": str(texts_dir)}), "--output_path", str(tmp_path / "out")],
                          capture_output=True, text=True, cwd=ROOT, timeout=600,
                          env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(next((tmp_path / "out").rglob("results_*.json")).read_text())["results"]["machado"]
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    ours = score(model, AutoTokenizer.from_pretrained(folder), ["t"] * len(texts), texts,
                 stride=model.config.max_position_embeddings - 1)
    n_bytes, n_chars = sum(len(t.encode()) for t in texts), sum(len(t) for t in texts)
    assert n_bytes > n_chars  # Portuguese: accents take two bytes in UTF-8
    converted = results["bits_per_byte,none"] * n_bytes / n_chars
    assert converted == pytest.approx(ours["bits_per_char"], rel=0.01)
    assert results["byte_perplexity,none"] == pytest.approx(2 ** results["bits_per_byte,none"], rel=1e-6)
    assert math.isfinite(results["word_perplexity,none"]) and results["word_perplexity,none"] > 1


def test_export_prints_only_what_the_user_needs(trained, tmp_path):
    """`make export`'s own output: the files written and onnxruntime's agreement, and nothing about torchvision,
    training mode, axis names or quantization pre-processing (silenced at their source, onnx_export.py)."""
    import shutil

    _, folder, _ = trained
    copy = tmp_path / "model"
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("onnx"))
    proc = subprocess.run([sys.executable, "export_onnx.py", str(copy), "--check_tokens", "8"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    assert len(lines) == 6 and all(line.startswith(("wrote ", "onnxruntime ")) for line in lines), lines
