"""The headline figures, in one committed file (docs/results/headline.json) that both READMEs and the docs quote, so
that no two of them can disagree (tests/test_readme_commands.py checks it). Nothing is measured here: it collects what
`make all`'s own commands wrote into the model folder (train_hf.py: metrics.json; evaluate_model.py: eval_test.json),
with the machine they ran on.

    make all && python benchmarks/headline.py --model_dir machado-gpt      # or: make headline
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from machado_gpt.hardware import cpu_description  # noqa: E402
from machado_gpt.utils import MachadoError, run_cli, write_json  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "docs" / "results" / "headline.json"


def collect(model_dir: Path) -> dict:
    files = {name: model_dir / name for name in ("metrics.json", "eval_test.json")}
    missing = [str(path) for path in files.values() if not path.is_file()]
    if missing:
        raise MachadoError(f"{', '.join(missing)} missing: run `make all` (train_hf.py, then evaluate_model.py) first")
    metrics, test = (json.loads(path.read_text(encoding="utf-8")) for path in files.values())
    quality = test["quality"]
    return {
        "machine": cpu_description(),
        "parameters": metrics["parameters"],
        "precision": metrics["precision"],
        "steps": metrics["max_steps"],
        "train_seconds": round(metrics["wall_seconds"]),  # the whole budgeted run: data, training, evaluations, saving
        "tokens_per_second": round(metrics["train_tokens_per_second"]),
        "test_bits_per_char": round(test["bits_per_char"], 3),
        "word_validity": round(quality["word_validity"], 3),
        "word_validity_temperature_1": round(quality["thesis_sampling"]["word_validity"], 3),
        "evaluation_seconds": round(test["seconds"]),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_dir", default="machado-gpt")
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args(argv)
    headline = collect(Path(args.model_dir))
    write_json(Path(args.out), headline)
    print(json.dumps(headline, indent=2))
    return headline


if __name__ == "__main__":
    run_cli(main)
