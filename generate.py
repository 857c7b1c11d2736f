"""Write text longer than the model's context, streaming to the terminal (KV cache, then re-prefill when the
window fills). The thesis printed 512 characters from a 128-character window; this goes on for as long as asked.

    python generate.py --prompt "Capitu" --max_new_tokens 1000 --seed 7
    python generate.py --model_dir machado-gpt --prompt "Era uma vez" --temperature 0   # greedy
    python generate.py --prompt "Capitu" --max_new_tokens 20000 --compile > sonho.txt  # compiled decoding step
    python generate.py --prompt "Capitu olhou" --num_samples 3                      # three samples, one batch
    python generate.py --prompt "Capitu" --backend torch                           # PyTorch even where onnx/ exists
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from machado_gpt.generation import MAX_NUM_SAMPLES, SamplingArguments, generate_text, generate_texts
from machado_gpt.onnx_export import BACKENDS, load_decoder
from machado_gpt.utils import MachadoError, parse_config, run_cli


@dataclass
class PromptArguments:
    model_dir: str = field(default="machado-gpt", metadata={"help": "Model folder (or Hub id)"})
    prompt: str = field(default="Capitu", metadata={"help": "Text to continue"})
    compile: bool = field(default=False, metadata={
        "help": "torch.compile the one-token step, for long texts; whether it pays depends on the model (measure it: "
                "python benchmarks/generation_speed.py --compile; docs/performance.md)"})
    backend: str = field(default="auto", metadata={
        "help": f"What runs the model: {', '.join(BACKENDS)}. auto is onnxruntime when the folder has onnx/model.onnx "
                "(python export_onnx.py; its greedy text equals PyTorch's), else PyTorch"})
    num_samples: int = field(default=1, metadata={
        "help": "Samples of the same prompt, generated in one batch and printed one after the other"})

    def __post_init__(self):
        if not 1 <= self.num_samples <= MAX_NUM_SAMPLES:
            raise MachadoError.of("between", flag="num_samples", value=str(self.num_samples), low=1, high=MAX_NUM_SAMPLES)
        if self.backend not in BACKENDS:
            raise MachadoError.of("unknown_choice", name="backend", value=repr(self.backend), choices=", ".join(BACKENDS))
        if self.compile and self.backend.startswith("onnx"):
            raise MachadoError.of("compile_onnx")


def main(argv: Sequence[str] | None = None):
    prompt_args, sampling = parse_config([PromptArguments, SamplingArguments], argv)
    backend = "torch" if prompt_args.compile and prompt_args.backend == "auto" else prompt_args.backend
    model, tokenizer = load_decoder(prompt_args.model_dir, backend)
    if prompt_args.num_samples > 1:  # a batch streams as one, so the samples are printed when all are done
        texts = generate_texts(model, tokenizer, prompt_args.prompt, sampling, prompt_args.num_samples,
                               compile=prompt_args.compile)
        for i, text in enumerate(texts, 1):
            sys.stdout.write(f"--- {i} ---\n{text}\n")
        return texts
    sys.stdout.write(prompt_args.prompt)

    def show(piece: str) -> None:
        sys.stdout.write(piece)
        sys.stdout.flush()

    text = generate_text(model, tokenizer, prompt_args.prompt, sampling, on_text=show, compile=prompt_args.compile)
    sys.stdout.write("\n")
    return text


if __name__ == "__main__":
    run_cli(main)
