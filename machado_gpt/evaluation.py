"""Evaluate a model folder: bits/char overall and per genre on a split (or on any folder of .txt files), through
the repo's `evaluate` metric, plus text-quality measures of samples from fixed prompts and seeds."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import evaluate
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from .card import folder_card
from .generation import SamplingArguments, generate_texts
from .i18n import LANGUAGES, message
from .plots import bar_chart
from .quality import quality_report
from .utils import MachadoError, write_json

METRIC_PATH = Path(__file__).parent / "metrics" / "bits_per_char.py"
QUALITY_PROMPTS = ["Capitu", "Era uma vez", "— Que é isso?", "Ao verme que primeiro roeu", "A noite", "Meu caro amigo"]


@dataclass
class EvalArguments:
    """What to score, and how many samples to measure."""

    model_dir: str = field(default="machado-gpt", metadata={"help": "Model folder (or Hub id)"})
    dataset_dir: str = field(default="data/machado-dataset", metadata={"help": "Saved dataset (see build_dataset.py)"})
    split: str = field(default="test", metadata={"help": "Split to score: test or validation"})
    texts_dir: str | None = field(default=None, metadata={"help": "Score every .txt under this folder instead of a split"})
    max_chars_per_text: int = field(default=0, metadata={"help": "Score only the first N characters of each text; 0: all"})
    stride: int | None = field(default=None, metadata={"help": "Sliding-window stride in tokens; default n_positions // 2"})
    batch_size: int = field(default=32, metadata={"help": "Windows per forward pass"})
    quality_samples: int = field(default=12, metadata={"help": "Samples for the text-quality measures; 0 skips them"})
    quality_max_new_tokens: int = field(default=300, metadata={"help": "Length of each quality sample, in tokens"})
    output: str | None = field(default=None, metadata={"help": "JSON results; default <model_dir>/eval_<split>.json"})
    chart: str | None = field(default=None, metadata={"help": "Bar chart PNG; default <model_dir>/eval_<split>.png"})

    def __post_init__(self):
        for name, low, high in (("max_chars_per_text", 0, 10**9), ("batch_size", 1, 4096), ("quality_samples", 0, 1000),
                                ("quality_max_new_tokens", 1, 100_000), ("stride", 1, 10**6)):
            value = getattr(self, name)
            if value is not None and not low <= value <= high:
                raise MachadoError.of("between", flag=name, value=str(value), low=low, high=high)


def check_model_location(model_dir: str) -> None:
    """A local model folder, or a Hub id while online; anything else is one line naming both readings."""
    import os

    from huggingface_hub.utils import HFValidationError, validate_repo_id

    path = Path(model_dir)
    if path.exists():
        if not (path / "config.json").is_file():
            raise MachadoError.of("no_model", path=model_dir)
        return
    try:
        validate_repo_id(model_dir)
        is_hub_id = model_dir.count("/") == 1
    except HFValidationError:
        is_hub_id = False
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    if not is_hub_id or offline:
        why = "offline" if is_hub_id else "not_hub_id"
        raise MachadoError.of("no_local_model", path=model_dir, why={lang: message(why, lang) for lang in LANGUAGES})


def load_model(model_dir: str, attn_implementation: str | None = None):
    check_model_location(model_dir)
    # safetensors only, no remote code: loading a folder never runs a pickle or a .py file from it
    model = AutoModelForCausalLM.from_pretrained(model_dir, use_safetensors=True, trust_remote_code=False,
                                                 attn_implementation=attn_implementation)
    model = model.to("cuda" if torch.cuda.is_available() else "cpu")
    return model.eval(), AutoTokenizer.from_pretrained(model_dir)


def read_texts_dir(folder: str) -> list[tuple[str, str, str]]:
    """(group, name, text) for every .txt under `folder`; the group is the sub-folder (a genre), else 'texts'."""
    root = Path(folder)
    files = sorted(root.rglob("*.txt")) if root.is_dir() else []
    if not files:
        raise MachadoError.of("no_txt", path=str(folder))
    out = []
    for p in files:
        try:
            text = p.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise MachadoError.of("not_utf8", path=str(p)) from None
        if text.strip():
            out.append((p.parent.name if p.parent != root else "texts", p.stem, text))
    return out


def load_dataset_dict(dataset_dir: str):
    from datasets import load_from_disk

    if not (Path(dataset_dir) / "dataset_dict.json").is_file():
        raise MachadoError.of("no_dataset", path=str(dataset_dir))
    return load_from_disk(dataset_dir)


def read_split(dataset_dir: str, split: str, dsd=None) -> list[tuple[str, str, str]]:
    """(genre, work, text) for every text of a split of the saved dataset."""
    dsd = dsd if dsd is not None else load_dataset_dict(dataset_dir)
    if split not in dsd:
        raise MachadoError.of("unknown_choice", name="split", value=repr(split), choices=", ".join(dsd))
    return [(r["genre"], r["work"], r["text"]) for r in dsd[split]]


def score(model, tokenizer, groups: list[str], texts: list[str], stride=None, batch_size=32) -> dict:
    """Bits/char and perplexity overall and per group, from per-text nats and characters."""
    metric = evaluate.load(str(METRIC_PATH))
    r = metric.compute(predictions=texts, model_id=None, model=model, tokenizer=tokenizer, stride=stride,
                       batch_size=batch_size, device=str(model.device))
    table: dict[str, dict] = {}
    for g, nats, chars, tokens in zip(groups, r["nats"], r["chars"], r["tokens"]):
        row = table.setdefault(g, {"nats": 0.0, "chars": 0, "tokens": 0})
        row["nats"] += nats
        row["chars"] += chars
        row["tokens"] += tokens
    per_group = {g: {"bits_per_char": v["nats"] / math.log(2) / v["chars"], "perplexity": math.exp(v["nats"] / v["tokens"]),
                     "chars": v["chars"]} for g, v in sorted(table.items())}
    return {"bits_per_char": r["bits_per_char"], "perplexity": r["perplexity"], "chars": sum(r["chars"]),
            "per_group": per_group}


# The thesis sampled at temperature 1.0 from the full distribution (no top-k, no top-p).
THESIS_SAMPLING = {"temperature": 1.0, "top_k": 0, "top_p": 1.0}


def quality(model, tokenizer, train_text: str, n: int, max_new_tokens: int) -> dict:
    """Text-quality measures of n samples from fixed prompts (sample i continues prompt i mod len(prompts)), with the
    default sampling, plus word validity of the same prompts and seeds sampled the thesis's way. Each prompt's
    samples are one batch (generate_texts), seeded with the prompt's index."""
    from .quality import CopyIndex

    prompts = [QUALITY_PROMPTS[i % len(QUALITY_PROMPTS)] for i in range(n)]
    index = CopyIndex(train_text)

    def samples(**sampling) -> list[str]:
        by_prompt = {j: generate_texts(model, tokenizer, prompt, SamplingArguments(max_new_tokens=max_new_tokens, seed=j,
                                                                                    **sampling), prompts.count(prompt))
                     for j, prompt in enumerate(dict.fromkeys(prompts))}
        return [by_prompt[i % len(by_prompt)][i // len(by_prompt)] for i in range(n)]

    default = samples()
    report = quality_report(default, prompts, train_text, index=index)
    thesis = quality_report(samples(**THESIS_SAMPLING), prompts, train_text, index=index)
    report["thesis_sampling"] = {"sampling": THESIS_SAMPLING, **{k: thesis[k] for k in ("word_validity", "distinct_2")}}
    report["max_new_tokens"] = max_new_tokens
    report["examples"] = default[:3]
    return report


def run_evaluation(args: EvalArguments, log=print) -> dict:
    start = time.perf_counter()
    model, tokenizer = load_model(args.model_dir)
    dsd = None
    if args.texts_dir:
        rows = read_texts_dir(args.texts_dir)
        source = args.texts_dir
    else:
        dsd = load_dataset_dict(args.dataset_dir)
        rows = read_split(args.dataset_dir, args.split, dsd)
        source = f"{args.dataset_dir}:{args.split}"
    texts = [t[: args.max_chars_per_text] if args.max_chars_per_text else t for _, _, t in rows]
    results = {"model": args.model_dir, "source": source,
               **score(model, tokenizer, [g for g, _, _ in rows], texts, args.stride, args.batch_size)}
    if args.quality_samples and dsd is not None:
        results["quality"] = quality(model, tokenizer, "\n".join(dsd["train"]["text"]), args.quality_samples,
                                     args.quality_max_new_tokens)
    results["seconds"] = round(time.perf_counter() - start, 1)

    name = "texts" if args.texts_dir else args.split
    out = Path(args.output or Path(args.model_dir) / f"eval_{name}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, results)
    chart = Path(args.chart or Path(args.model_dir) / f"eval_{name}.png")
    bar_chart(results, chart)
    refresh_card(Path(args.model_dir))
    log(format_table(results))
    log(f"results: {out}, chart: {chart}")
    return results


def format_table(results: dict) -> str:
    lines = [f"{'genre':<14}{'bits/char':>10}{'perplexity':>12}{'characters':>12}"]
    for g, r in results["per_group"].items():
        lines.append(f"{g:<14}{r['bits_per_char']:>10.3f}{r['perplexity']:>12.2f}{r['chars']:>12,}")
    lines.append(f"{'all':<14}{results['bits_per_char']:>10.3f}{results['perplexity']:>12.2f}{results['chars']:>12,}")
    q = results.get("quality")
    if q:
        lines.append(f"quality of {q['samples']} samples: word validity {q['word_validity']:.1%}, distinct-1 "
                     f"{q['distinct_1']:.3f}, distinct-2 {q['distinct_2']:.3f}, longest copied span "
                     f"{q['longest_copied_span']} chars")
        if "thesis_sampling" in q:
            lines.append(f"sampled the thesis's way (temperature 1.0, no top-k/top-p): word validity "
                         f"{q['thesis_sampling']['word_validity']:.1%}")
    return "\n".join(lines)


def refresh_card(model_dir: Path) -> None:
    """Rewrite a local model folder's card so that it shows the evaluation just written."""
    card = folder_card(model_dir)
    if card is not None:
        (model_dir / "README.md").write_text(card, encoding="utf-8")
