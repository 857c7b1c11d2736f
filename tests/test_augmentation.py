"""The thesis's future work, at toy size on the real corpus: BPE-dropout (a new segmentation of the same text at
every epoch, none at evaluation), Qwen3's residual dropout (locked over the sequence, not saved), weight averaging
(EMA and SWA through torch.optim.swa_utils: the average is what is saved, it loads in `pipeline`, and a resumed run
continues it), and the compute-curve script end to end."""

import dataclasses
import json
import re
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainerCallback, TrainerState

import train_hf
from machado_gpt.config import ModelArguments, VocabularyShape, build_model, parse_recipe
from machado_gpt.data import ShiftedBlocks, pack
from machado_gpt.tokenizer import TokenizerArguments, encode_works, train_tokenizer, with_dropout
from machado_gpt.training import FINISHED, NewBlocksEachEpoch, prepare
from tests.conftest import ROOT, small_dsd


@pytest.fixture(scope="module")
def bpe_dir(real_dataset, tmp_path_factory):
    """BPE-512 trained on the start of five real works (a second, not the full split's minutes)."""
    dsd, _ = real_dataset
    out = tmp_path_factory.mktemp("bpe") / "bpe-512"
    texts = [t[:100_000] for t in dsd["train"]["text"][:5]]
    train_tokenizer(small_dsd(texts), TokenizerArguments(tokenizer_kind="bpe", tokenizer_vocab_size=512,
                                                         tokenizer_dir=str(out)), 64, log=lambda *a: None)
    return out


class KeepEpochBlocks(TrainerCallback):
    """The train blocks each epoch ran on, as the trainer held them."""

    def __init__(self, dataset):
        self.dataset, self.epochs = dataset, []

    def on_epoch_end(self, args, state, control, **kwargs):
        self.epochs.append(self.dataset.blocks.clone())


def test_bpe_dropout_resegments_every_epoch_and_never_at_evaluation(tiny_argv, bpe_dir, real_dataset):
    dsd, _ = real_dataset
    argv = [*tiny_argv, "--tokenizer_kind", "bpe", "--tokenizer_vocab_size", "512", "--tokenizer_dir", str(bpe_dir),
            "--bpe_dropout", "0.1", "--train_fraction", "0.002", "--max_steps", "80", "--eval_strategy", "no",
            "--save_strategy", "no"]
    data, tok, model_args, opt, run, args = parse_recipe(argv)
    trainer, _, test_set, _ = prepare(data, tok, model_args, opt, run, args, log=lambda *a: None)
    keep = KeepEpochBlocks(trainer.train_dataset)
    trainer.add_callback(keep)
    steps_per_epoch = len(trainer.train_dataset) // 8
    assert 3 <= steps_per_epoch <= 26  # so that 80 steps are at least 3 epochs
    trainer.train()

    tokenizer = trainer.processing_class
    first_text = dsd["train"]["text"][0]
    assert len(keep.epochs) >= 3
    for a, b in zip(keep.epochs, keep.epochs[1:]):
        assert a.shape == b.shape  # every epoch is the same number of steps
        assert not torch.equal(a, b)
        # The same opening texts, segmented differently, over the first four blocks (about 500 characters): one block
        # of 64 tokens is about 66 merges, and two epochs segmenting it alike is rare but happened once in CI.
        assert not torch.equal(a[:4], b[:4])
    for blocks in keep.epochs:  # a block may end inside a character: its last bytes decode to U+FFFD
        opening = tokenizer.decode(blocks[0]).rstrip("\ufffd")
        assert len(opening) > 40 and first_text.startswith(opening)

    # Evaluation: the plain tokenizer, the same ids every time, those of the saved tokenizer.
    backend, eos = tokenizer.backend_tokenizer, tokenizer.eos_token_id
    assert json.loads(backend.to_str())["model"]["dropout"] is None
    plain = encode_works(backend, eos, dsd["test"]["text"])
    assert plain == encode_works(backend, eos, dsd["test"]["text"])
    assert torch.equal(test_set.blocks, pack(plain, 64, run.max_eval_blocks).blocks)
    dropped = with_dropout(tokenizer, 0.1)
    assert encode_works(dropped, eos, dsd["test"]["text"][:1]) != plain[:1]  # tokenizers#201: it does drop


def test_shift_blocks_cuts_the_same_tokens_afresh_every_epoch(tiny_argv, char_tokenizer_dir, real_dataset):
    dsd, _ = real_dataset
    argv = [*tiny_argv, "--shift_blocks", "true", "--train_fraction", "0.0005", "--max_steps", "80",
            "--eval_strategy", "no", "--save_strategy", "no"]
    data, tok, model_args, opt, run, args = parse_recipe(argv)
    trainer, _, test_set, _ = prepare(data, tok, model_args, opt, run, args, log=lambda *a: None)
    keep = KeepEpochBlocks(trainer.train_dataset)
    trainer.add_callback(keep)
    assert 3 <= len(trainer.train_dataset) // 8 <= 26  # so that 80 steps are at least 3 epochs
    trainer.train()

    tokenizer = trainer.processing_class
    texts = [t[: max(1, round(len(t) * 0.0005))] for t in dsd["train"]["text"]]
    texts_ids = encode_works(tokenizer.backend_tokenizer, tokenizer.eos_token_id, texts)
    plain = pack(texts_ids, 64).blocks
    assert len(keep.epochs) >= 3
    assert torch.equal(keep.epochs[0], plain)  # the first epoch is the plain cut
    offsets = []
    for blocks in keep.epochs[1:]:
        assert blocks.shape == plain.shape  # the same number of steps every epoch
        # The same token stream, cut elsewhere: the blocks are the plain stream turned by an offset in [1, 64).
        offset = next(k for k in range(1, 64) if torch.equal(blocks.ravel(), plain.ravel().roll(-k)))
        offsets.append(offset)
    assert len(set(offsets)) > 1  # a new cut at every epoch, not one fixed shift
    # A run resumed inside its third epoch (a checkpoint's state.epoch 2.4) cuts that epoch as the whole run did.
    resumed = ShiftedBlocks(texts_ids, 64, args.seed)
    NewBlocksEachEpoch(resumed).on_epoch_begin(args, TrainerState(epoch=2.4), None)
    assert torch.equal(resumed.blocks, keep.epochs[2])
    # Evaluation never shifts: the test blocks are the plain cut of the test split.
    plain_test = encode_works(tokenizer.backend_tokenizer, tokenizer.eos_token_id, dsd["test"]["text"])
    assert torch.equal(test_set.blocks, pack(plain_test, 64, run.max_eval_blocks).blocks)


def test_bpe_dropout_needs_merges(char_tokenizer_dir):
    from machado_gpt.tokenizer import load_tokenizer
    from machado_gpt.utils import MachadoError

    with pytest.raises(MachadoError, match="needs tokenizer_kind bpe"):
        with_dropout(load_tokenizer(char_tokenizer_dir), 0.1)


def test_residual_dropout_drops_whole_features_of_a_row_while_training_only():
    torch.manual_seed(0)
    model = build_model(ModelArguments(model_type="qwen3", n_layer=2, n_head=2, n_embd=64, dropout=0.0,
                                       residual_dropout=0.5), VocabularyShape(40))
    mlp, x = model.model.layers[1].mlp, torch.randn(4, 16, 64)
    plain = mlp.forward(x)  # forward() skips the hooks: the block's own output
    assert plain.abs().min() > 0
    ratio = mlp(x) / plain
    assert set(ratio.round(decimals=4).unique().tolist()) == {0.0, 2.0}  # dropped, or kept and scaled by 1 / (1 - p)
    assert torch.equal(ratio, ratio[:, :1].expand_as(ratio))  # one mask per row and feature, the same at every position
    assert 0.3 < (ratio == 0).float().mean() < 0.7 and not torch.equal(ratio[0], ratio[1])  # rows draw their own
    attention_hooks = model.model.layers[0].self_attn._forward_hooks
    assert len(attention_hooks) == 1 and len(mlp._forward_hooks) == 1
    model.eval()
    assert torch.equal(mlp(x), plain)
    ids = torch.randint(0, 40, (2, 16))
    assert torch.equal(model(ids).logits, model(ids).logits)
    model.train()
    assert not torch.equal(model(ids).logits, model(ids).logits)
    small = dict(n_layer=1, n_head=2, n_embd=64)
    assert not build_model(ModelArguments(model_type="qwen3", dropout=0.2, **small),
                           VocabularyShape(40)).model.layers[0].mlp._forward_hooks  # qwen3's default: none
    gpt2 = build_model(ModelArguments(dropout=0.2, residual_dropout=0.1, **small), VocabularyShape(40))
    assert (gpt2.config.resid_pdrop, gpt2.config.attn_pdrop) == (0.1, 0.2)  # GPT-2's own setting, no hooks
    searched = dataclasses.replace(ModelArguments(dropout=0.2, **small), dropout=0.1)  # as a search trial changes it
    assert build_model(searched, VocabularyShape(40)).config.resid_pdrop == 0.1  # GPT-2's default follows dropout


def test_residual_dropout_trains_a_different_model_that_saves_and_loads_as_plain_qwen3(tiny_argv, tmp_path):
    from transformers import AutoModelForCausalLM, pipeline

    qwen3 = [*tiny_argv, "--model_type", "qwen3", "--eval_strategy", "no", "--max_steps", "10"]
    weights = []
    for run, extra in enumerate([[], [], ["--residual_dropout", "0.3"]]):
        train_hf.main([*qwen3, *extra, "--overwrite_model_dir", "true", "--output_dir", str(tmp_path / f"run{run}")])
        weights.append(load_file(tmp_path / "model/model.safetensors")["model.layers.0.mlp.down_proj.weight"])
    assert torch.equal(weights[0], weights[1])  # the same seed and batches train the same model twice...
    assert not torch.allclose(weights[2], weights[0])  # ...so the dropout is what changed the third

    config = json.loads((tmp_path / "model/config.json").read_text())
    assert config["model_type"] == "qwen3" and "residual_dropout" not in json.dumps(config)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "model").train()
    assert not loaded.model.layers[0].mlp._forward_hooks  # plain Qwen3: nothing of the training's hooks is saved
    ids = torch.randint(3, loaded.config.vocab_size, (2, 12))
    assert torch.equal(loaded(ids).logits, loaded(ids).logits)  # no dropout left, even in train() mode
    out = pipeline("text-generation", model=str(tmp_path / "model"))("Capitu", max_new_tokens=20)[0]["generated_text"]
    assert out.startswith("Capitu") and len(out) > len("Capitu")


@pytest.mark.parametrize("kind, averaged_steps", [("ema", 20), ("swa", 11)])
def test_averaged_weights_are_saved_and_load_in_pipeline(tiny_argv, tmp_path, kind, averaged_steps):
    from transformers import pipeline

    argv = [*tiny_argv, "--weight_average", kind, "--swa_start", "0.5", "--eval_steps", "20"]
    metrics = train_hf.main(argv)
    checkpoint = tmp_path / "run/checkpoint-20"
    averaged = torch.load(checkpoint / "averaged_model.pt", weights_only=True)
    assert int(averaged["n_averaged"]) == averaged_steps  # swa: steps 10 to 20 (0.5 of 20 planned)
    saved, raw = load_file(tmp_path / "model/model.safetensors"), load_file(checkpoint / "model.safetensors")
    name = "transformer.h.0.attn.c_attn.weight"
    assert torch.equal(saved[name], averaged[f"module.{name}"])
    assert not torch.allclose(saved[name], raw[name])  # the last step's own weights are not what was saved
    assert json.loads((tmp_path / "model/metrics.json").read_text())["test_bpc"] == metrics["test_bpc"]

    out = pipeline("text-generation", model=str(tmp_path / "model"))("Capitu", max_new_tokens=20)[0]["generated_text"]
    assert out.startswith("Capitu") and len(out) > len("Capitu")

    if kind == "ema":  # resume from step 10: the average goes on from the checkpoint's, as if never stopped
        whole = saved[name].clone()
        for path in (tmp_path / "run/checkpoint-20", tmp_path / "run" / FINISHED):
            subprocess.run(["rm", "-rf", str(path)], check=True)
        train_hf.main(argv)
        assert torch.allclose(load_file(tmp_path / "model/model.safetensors")[name], whole, atol=1e-4)


@pytest.mark.slow  # about 70 s: after the main suite
def test_compute_curve_runs_two_budgets_and_writes_its_table_and_plot(real_dataset, corpus_dir, char_tokenizer_dir,
                                                                      tmp_path):
    _, dataset_dir = real_dataset
    proc = subprocess.run(
        [sys.executable, "benchmarks/compute_curve.py", "--budgets", "10s,20s", "--max_chars", "3000",
         "--dataset_dir", str(dataset_dir), "--output_dir", str(tmp_path / "curve"), "--plot",
         str(tmp_path / "curve.png"), "--", "--corpus_dir", str(corpus_dir), "--tokenizer_kind", "char",
         "--tokenizer_dir", str(char_tokenizer_dir), "--torch_compile", "false"],  # compiling would eat 20 s
        cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert out.count("CPU: ") == 1
    rows = re.findall(r"^\| (10s|20s) \| (\d+) x (\d+) \| ([\d,]+) \| ([\d,]+) \| ([\d,]+) \| ([\d.]+) \| ([\d.]+) \|", out,
                      re.M)
    assert [r[0] for r in rows] == ["10s", "20s"]
    assert all(0 < float(r[7]) < 8 for r in rows)  # bits/char of a real, barely trained model
    assert int(rows[1][4].replace(",", "")) > int(rows[0][4].replace(",", ""))  # more time, more steps
    assert "fit: needs at least 3 budgets" in out and re.search(r"xz -9 on the same test text: [\d.]+", out)
    assert out.count("python train_hf.py --config configs/cpu.yaml") == 2
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    results = json.loads((tmp_path / "curve/results.json").read_text())
    assert [r["arm"] for r in results["rows"]] == ["10s", "20s"] and results["fit"] is None
    (tmp_path / "curve.png").unlink()
    replot = subprocess.run([sys.executable, "benchmarks/compute_curve.py", "--replot", str(tmp_path / "curve/results.json"),
                             "--plot", str(tmp_path / "curve.png")], cwd=ROOT, capture_output=True, text=True)
    assert replot.returncode == 0 and "train_hf.py" not in replot.stdout, replot.stderr[-2000:]
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_power_law_fit_recovers_a_known_floor():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from compute_curve import fit_power_law, shape_for

    minutes = [1, 2, 4, 8, 16, 32]
    floor, a, b = fit_power_law(minutes, [1.4 + 0.6 * m ** -0.5 for m in minutes])
    assert (round(floor, 2), round(a, 2), round(b, 2)) == (1.4, 0.6, 0.5)
    assert shape_for(8) == (4, 128)  # the anchor: configs/cpu.yaml's shape
    assert [shape_for(m) for m in (1, 2, 4, 16, 32)] == [(3, 96), (2, 128), (3, 128), (4, 160), (5, 160)]
