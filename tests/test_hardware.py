"""machado_gpt.hardware: the FLOP count behind every MFU, and the allocator setting of a CPU training step."""

import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.parametrize("config, vocab", [("configs/cpu.yaml", 2048), ("configs/machado-gpt-28m.yaml", 210)])
def test_flops_per_token_is_what_torch_counts_in_a_training_step(config, vocab):
    """The MFU's numerator: torch's own FlopCounterMode over a real forward and backward (eager attention, the
    recipe's shapes) agrees with flops_per_token within the norms' gains; counting the untied input embedding, a
    lookup, would overstate the main model's step by 22%."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from machado_gpt.config import VocabularyShape, build_model, parse_recipe
    from machado_gpt.hardware import flops_per_token, matmul_parameters

    _, _, model_args, *_ = parse_recipe(["--config", str(ROOT / config), "--attn_implementation", "eager"])
    model = build_model(model_args, VocabularyShape(vocab))
    model.config._attn_implementation = "eager"
    block = model_args.n_positions
    ids = torch.randint(2, vocab, (2, block))
    with FlopCounterMode(display=False) as counter:
        model(input_ids=ids, labels=ids).loss.backward()
    counted = counter.get_total_flops() / ids.numel()
    assert flops_per_token(model, block) == pytest.approx(counted, rel=0.005)
    embedding = model.get_input_embeddings().weight.numel()
    if model.config.tie_word_embeddings:  # GPT-2: the table is the head's matrix too; its learned positions are not
        assert matmul_parameters(model) == model.num_parameters() - model.transformer.wpe.weight.numel()
    else:
        assert matmul_parameters(model) == model.num_parameters() - embedding
        assert 6 * model.num_parameters() + 12 * model_args.n_layer * model_args.n_embd * block > 1.2 * counted
    generation = flops_per_token(model, block, training=False)
    assert generation == (flops_per_token(model, block) - 12 * model_args.n_layer * model_args.n_embd * block) // 3 \
        + 4 * model_args.n_layer * model_args.n_embd * block


FAULTS = """
import resource, sys, torch
from machado_gpt.hardware import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "keep" else None
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
x, w, last = torch.randn(4096, 128), torch.randn(128, 2048), []
for step in range(12):  # a step's logits, their softmax and its gradient: 32 MB each, allocated and freed
    before = faults()
    logits = x @ w
    p = logits.softmax(-1)
    g = p - 1
    del logits, p, g
    last.append(faults() - before)
print(applied, sorted(last[-5:])[2])  # the median of the last five steps
"""


def test_keep_freed_memory_stops_a_step_from_faulting_its_activations_in_again():
    """Freed blocks stay with the process: once the heap has grown to a step's peak, the steps after fault no page
    in, against about 24,600 pages (4 KB each: 8,192 for each 32-MB block) every step with glibc's defaults. The
    median of the last five steps, because a keeping heap may still grow by a block now and then (8,192 pages in the
    last three steps of one run of this test, tenth stop), which glibc's defaults do for every block."""
    runs = {}
    for mode in ("default", "keep"):
        out = subprocess.run([sys.executable, "-c", FAULTS, mode], cwd=ROOT, capture_output=True, text=True, check=True)
        applied, faults = out.stdout.split()
        runs[mode] = int(faults)
    assert applied == "True"
    assert runs["default"] > 16_000, runs  # every step faulted its blocks in again
    assert runs["keep"] < 1_000, runs
