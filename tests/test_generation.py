"""Long-form generation, the evaluate metric, and the text-quality measures."""

import math
import os
import subprocess
import sys

import evaluate
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from machado_gpt.evaluation import METRIC_PATH, EvalArguments, run_evaluation
from machado_gpt.generation import SamplingArguments, generate_full_recompute, generate_text, generate_tokens
from machado_gpt.quality import CopyIndex, distinct_n, quality_report, word_validity, words
from machado_gpt.utils import MachadoError
from tests.conftest import ROOT, TEXT


def _load(path):
    return AutoModelForCausalLM.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)


def test_generation_runs_far_past_the_context_and_is_reproducible(tiny_model_dirs):
    model, tok = _load(tiny_model_dirs)
    args = SamplingArguments(max_new_tokens=100, seed=3, temperature=1.0, top_k=0, top_p=1.0)
    a = generate_text(model, tok, "Capitu", args)
    b = generate_text(model, tok, "Capitu", args)
    assert a == b and a.startswith("Capitu")
    assert len(list(generate_tokens(model, tok("Capitu")["input_ids"], args))) == 100  # from a 16-token window
    assert len(a) > 80  # the random model may also emit special tokens, which decode to nothing
    assert generate_text(model, tok, "Capitu", SamplingArguments(max_new_tokens=100, seed=4)) != a
    streamed = []
    assert generate_text(model, tok, "Capitu", args, on_text=streamed.append) == a
    assert "Capitu" + "".join(streamed) == a and len(streamed) > 50


def test_greedy_matches_full_recompute_over_the_first_window(tiny_model_dirs):
    model, tok = _load(tiny_model_dirs)
    prompt = tok("Capitu")["input_ids"]
    greedy = SamplingArguments(max_new_tokens=16 - len(prompt), temperature=0)
    assert list(generate_tokens(model, prompt, greedy)) == list(generate_full_recompute(model, prompt, greedy))


@pytest.mark.slow  # compiles twice per family: after the main suite
def test_compiled_step_gives_the_eager_tokens_across_re_prefills(tiny_model_dirs):
    """torch.compile of the one-token step on the static cache: greedy output is the eager one over 4 windows."""
    model, tok = _load(tiny_model_dirs)
    prompt = tok("Capitu")["input_ids"]
    greedy = SamplingArguments(max_new_tokens=64, temperature=0, keep_fraction=0.5)
    eager = list(generate_tokens(model, prompt, greedy))
    assert list(generate_tokens(model, prompt, greedy, compile=True)) == eager
    sampled = SamplingArguments(max_new_tokens=64, seed=5)
    assert generate_text(model, tok, "Capitu", sampled, compile=True) == generate_text(model, tok, "Capitu", sampled)


@pytest.mark.slow  # compiles once per family: after the main suite
def test_compiled_step_compiles_once_over_300_tokens_past_the_window(tiny_model_dirs):
    """After warm-up (the first call of the compiled step), 340 more tokens, re-prefills included, run it without a
    single recompilation (dynamo's error_on_recompile would raise), and write what eager writes."""
    import torch._dynamo

    model, tok = _load(tiny_model_dirs)
    prompt = tok("Capitu")["input_ids"]
    greedy = SamplingArguments(max_new_tokens=342, temperature=0)
    eager = list(generate_tokens(model, prompt, greedy))
    torch._dynamo.reset()
    compiled = generate_tokens(model, prompt, greedy, compile=True)
    warm = [next(compiled) for _ in range(2)]  # the first from the prefill, the second from the step's first call
    with torch._dynamo.config.patch(error_on_recompile=True):
        rest = list(compiled)
    assert len(rest) == 340 and warm + rest == eager


@pytest.mark.slow  # compiles per family and batch size: after the main suite
def test_compiled_step_reads_weights_and_batch_size_at_call_time(tiny_model_dirs):
    """The compiled step skips dynamo's guards on the model's modules (generation.GUARD_FILTER), not on its inputs:
    weights loaded into the same model after it was compiled are the ones used, and a batch of 3 writes eager's."""
    from machado_gpt.generation import TorchDecoder, generate_texts

    model, tok = _load(tiny_model_dirs)
    ids = torch.tensor([tok("Capitu")["input_ids"]])

    def next_logits(decoder):
        decoder.prefill(ids)
        return decoder.step(ids[:, -1:])

    with torch.inference_mode():
        compiled = TorchDecoder(model, compile=True)
        trained = next_logits(compiled)
        torch.manual_seed(1)  # the tiny model was made with seed 0: other weights
        model.load_state_dict(AutoModelForCausalLM.from_config(model.config).state_dict())  # into the same tensors
        fresh, eager = next_logits(compiled), next_logits(TorchDecoder(model))
    assert (fresh - trained).abs().max() > 0.1 and torch.allclose(fresh, eager, atol=1e-4)
    sampled = SamplingArguments(max_new_tokens=40, seed=1)
    assert generate_texts(model, tok, "Capitu", sampled, 3, compile=True) == generate_texts(model, tok, "Capitu",
                                                                                          sampled, 3)


def test_batched_samples_are_one_batch_and_each_is_a_valid_continuation(tiny_model_dirs):
    """--num_samples: N continuations of one prompt in one batch, past the window: different from each other,
    reproducible with a seed, and at temperature 0 each is the single greedy text."""
    from machado_gpt.generation import generate_batch, generate_texts

    model, tok = _load(tiny_model_dirs)
    sampled = SamplingArguments(max_new_tokens=40, seed=2, temperature=1.0, top_k=0, top_p=1.0)
    texts = generate_texts(model, tok, "Capitu", sampled, 4)
    assert len(set(texts)) == 4 and all(t.startswith("Capitu") for t in texts)
    assert generate_texts(model, tok, "Capitu", sampled, 4) == texts
    steps = list(generate_batch(model, tok("Capitu")["input_ids"], sampled, 4))
    assert len(steps) == 40 and all(step.shape == (4,) for step in steps)
    greedy = SamplingArguments(max_new_tokens=40, temperature=0)
    assert generate_texts(model, tok, "Capitu", greedy, 3) == [generate_text(model, tok, "Capitu", greedy)] * 3
    with pytest.raises(MachadoError, match="num_samples 0 must be between 1 and 256"):
        generate_texts(model, tok, "Capitu", greedy, 0)


@pytest.mark.slow  # 12 s: make test stays under 7 minutes on a CPU without AVX-512
def test_generate_py_prints_n_samples(tiny_model_dir):
    proc = subprocess.run([sys.executable, "generate.py", "--model_dir", str(tiny_model_dir), "--prompt", "Capitu",
                           "--max_new_tokens", "20", "--num_samples", "3", "--seed", "1"], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    parts = proc.stdout.split("--- ")[1:]
    assert [p.split(" ---")[0] for p in parts] == ["1", "2", "3"] and all("\nCapitu" in p for p in parts)


def test_a_prompt_longer_than_the_context_is_cropped_on_the_left(tiny_model_dir):
    model, tok = _load(tiny_model_dir)
    out = generate_text(model, tok, "abc " * 20, SamplingArguments(max_new_tokens=5, seed=0))
    assert out.startswith("abc " * 20) and len(out) <= 85


def test_metric_loads_offline_and_matches_a_hand_computation(tiny_model_dir):
    metric = evaluate.load(str(METRIC_PATH))
    text = "Capitu olhou."  # 13 characters: fits one window with the <|endoftext|> in front
    r = metric.compute(predictions=[text], model_id=str(tiny_model_dir))
    model, tok = _load(tiny_model_dir)
    ids = torch.tensor([[tok.eos_token_id] + tok(text)["input_ids"]])
    with torch.no_grad():
        logp = torch.log_softmax(model(ids).logits[0, :-1].float(), -1)
    nats = -logp.gather(1, ids[0, 1:, None]).sum().item()
    assert r["chars"] == [13] and r["tokens"] == [13]
    assert r["bits_per_char"] == pytest.approx(nats / math.log(2) / 13, rel=1e-5)
    assert r["perplexity"] == pytest.approx(math.exp(nats / 13), rel=1e-5)


def test_metric_slides_over_long_texts(tiny_model_dir):
    metric = evaluate.load(str(METRIC_PATH))
    long = TEXT[:200]
    r = metric.compute(predictions=[long], model_id=str(tiny_model_dir), stride=8)
    assert r["tokens"] == [200] and math.isfinite(r["bits_per_char"])
    # Every token is scored once: with stride = window the windows do not overlap, scores differ, counts do not.
    r2 = metric.compute(predictions=[long], model_id=str(tiny_model_dir), stride=16)
    assert r2["tokens"] == [200] and r2["bits_per_char"] != r["bits_per_char"]


def test_quality_measures_on_made_up_text():
    assert words("Disse-lhe: — Capitu, 1889!") == ["disse-lhe", "capitu"]
    assert word_validity(["o gato mia"], {"o", "gato"}) == pytest.approx(2 / 3)
    assert distinct_n(["a b a b"], 1) == 0.5 and distinct_n(["a b a b"], 2) == pytest.approx(2 / 3)
    index = CopyIndex("o gato preto dormia na janela da casa velha")
    assert index.longest_copied_span("xx dormia na janela yy") == len(" dormia na janela ")
    assert index.longest_copied_span("qqq") == 0
    report = quality_report(["P: o gato preto dormia"], ["P:"], "o gato preto dormia na janela", copy_threshold=10)
    assert report["longest_copied_span"] == len("o gato preto dormia")  # the space before it is not in the reference
    assert report["share_copying_over_10_chars"] == 1.0 and report["word_validity"] == 1.0


def test_evaluation_cli_on_a_texts_folder(tiny_model_dir, tmp_path):
    (tmp_path / "texts/conto").mkdir(parents=True)
    (tmp_path / "texts/conto/a.txt").write_text(TEXT, encoding="utf-8")
    (tmp_path / "texts/b.txt").write_text("Era uma vez.", encoding="utf-8")
    res = run_evaluation(EvalArguments(model_dir=str(tiny_model_dir), texts_dir=str(tmp_path / "texts"),
                                       output=str(tmp_path / "r.json"), chart=str(tmp_path / "r.png")), log=lambda *a: None)
    assert set(res["per_group"]) == {"conto", "texts"} and res["chars"] == len(TEXT) + 12
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(MachadoError, match="no .txt files"):
        run_evaluation(EvalArguments(model_dir=str(tiny_model_dir), texts_dir=str(tmp_path / "none")))


def test_generate_cli_streams(tiny_model_dirs):
    proc = subprocess.run([sys.executable, "generate.py", "--model_dir", str(tiny_model_dirs), "--prompt", "Capitu",
                           "--max_new_tokens", "40", "--seed", "1"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Capitu") and 30 < len(proc.stdout.rstrip("\n")) <= 46


@pytest.mark.parametrize("flags, message", [
    (["--model_dir", "nope"], "nope: no such local folder, and not a Hub id"),
    (["--model_dir", "someone/machado-gpt"], "someone/machado-gpt: no such local folder, and offline"),
    (["--max_new_tokens", "-5"], "max_new_tokens -5 must be between 1 and"),
    (["--temperature", "-1"], "temperature -1.0 must be between 0 and 100"),
    (["--top_p", "7"], "top_p 7.0 must be in"),
    (["--top_k", "-2"], "top_k -2 must be >= 0"),
    (["--seed", "100000000000000000000000"], "seed 100000000000000000000000 must be between 0 and 4,294,967,295"),
    (["--seed", "-3"], "seed -3 must be between 0 and"),
    (["--max_new_tokens", "10000000000"], "max_new_tokens 10000000000 must be between 1 and 1,048,576"),
    (["--temperature", "nan"], "temperature nan must be between 0 and 100"),
])
def test_generate_cli_refuses_bad_input_in_one_line(tiny_model_dir, flags, message):
    import generate

    with pytest.raises(MachadoError) as err:  # main(), as the script runs it; run_cli prints the one line below
        generate.main(["--model_dir", str(tiny_model_dir), *flags])
    assert message in str(err.value) and "\n" not in str(err.value)


def test_generate_cli_error_is_one_line_on_stderr_and_exit_2(tiny_model_dir):
    proc = subprocess.run([sys.executable, "generate.py", "--model_dir", str(tiny_model_dir), "--seed", str(10**24)],
                          cwd=ROOT, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == f"error: seed {10**24} must be between 0 and 4,294,967,295\n"


@pytest.mark.parametrize("script, argv", [
    ("evaluate_model", ["--model_dir", "nope"]),
    ("evaluate_model", ["--model_dir", "someone/machado-gpt"]),
    ("push_to_hub", ["nope", "--repo_id", "someone/machado-gpt", "--dry_run"]),
    ("export_onnx", ["nope"]),
    ("export_onnx", ["someone/machado-gpt"]),
    ("app", {"MODEL_DIR": "nope"}),
])
def test_every_client_names_both_readings_of_a_bad_model_location(script, argv, monkeypatch):
    """Each script's main() as its `run_cli` calls it (which prints the error's one line and exits 2, as the
    subprocess test above checks), in this process: six interpreters importing torch cost a minute of `make test`."""
    import importlib

    from machado_gpt.demo import launch

    with pytest.raises(MachadoError) as err:
        if isinstance(argv, dict):  # the demo takes its model from the environment, as a Space does
            for k, v in argv.items():
                monkeypatch.setenv(k, v)
            launch(ROOT)
        else:
            importlib.import_module(script).main(argv)
    message = str(err.value)
    assert "\n" not in message and "no such local folder, and" in message and "Hub id" in message


@pytest.mark.parametrize("script, flags, message", [
    ("evaluate_model", ["--batch_size", "0"], "batch_size 0 must be between 1 and 4,096"),
    ("evaluate_model", ["--quality_samples", "-1"], "quality_samples -1 must be between 0 and 1,000"),
    ("evaluate_model", ["--stride", "0"], "stride 0 must be between 1 and"),
    ("evaluate_model", ["--max_chars_per_text", "-4"], "max_chars_per_text -4 must be between 0 and"),
    ("export_onnx", ["--check_tokens", "-1"], "check_tokens -1 must be between 0 and 4,096"),
])
def test_every_number_of_evaluate_and_export_is_bounded(tiny_model_dir, script, flags, message):
    import importlib

    from machado_gpt.utils import MachadoError

    with pytest.raises(MachadoError, match=message):
        importlib.import_module(script).main([str(tiny_model_dir), *flags])
