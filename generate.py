"""Write text longer than the model's context, streaming to the terminal (KV cache, then re-prefill when the
window fills). The thesis printed 512 characters from a 128-character window; this goes on for as long as asked.

    python generate.py --prompt "Capitu" --max_new_tokens 1000 --seed 7
    python generate.py --model_dir machado-gpt --prompt "Era uma vez" --temperature 0   # greedy
    python generate.py --prompt "Capitu" --max_new_tokens 20000 --compile > sonho.txt  # compiled decoding step
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from machado_gpt.evaluation import load_model
from machado_gpt.generation import SamplingArguments, generate_text
from machado_gpt.utils import parse_config, run_cli


@dataclass
class PromptArguments:
    model_dir: str = field(default="machado-gpt", metadata={"help": "Model folder (or Hub id)"})
    prompt: str = field(default="Capitu", metadata={"help": "Text to continue"})
    compile: bool = field(default=False, metadata={
        "help": "torch.compile the one-token step, for long texts; whether it pays depends on the model (measure it: "
                "python benchmarks/generation_speed.py --compile; docs/performance.md)"})


def main(argv: Sequence[str] | None = None):
    prompt_args, sampling = parse_config([PromptArguments, SamplingArguments], argv)
    model, tokenizer = load_model(prompt_args.model_dir)
    sys.stdout.write(prompt_args.prompt)

    def show(piece: str) -> None:
        sys.stdout.write(piece)
        sys.stdout.flush()

    text = generate_text(model, tokenizer, prompt_args.prompt, sampling, on_text=show, compile=prompt_args.compile)
    sys.stdout.write("\n")
    return text


if __name__ == "__main__":
    run_cli(main)
