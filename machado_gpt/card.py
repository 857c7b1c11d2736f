"""The model card (README.md of a model folder and of its Hub repo): ours, not Trainer's auto card."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from .corpus import KAGGLE_DATASET, KAGGLE_URL
from .generation import DEFAULT_SAMPLING
from .i18n import number

WIDGET_PROMPTS = ["Capitu", "Era uma vez", "Ao verme que primeiro roeu"]


def model_card(model_dir: Path, config: dict, metrics: dict, repo_id: str = "machado-gpt") -> str:
    m, t = config["model"], config["training"]
    kind = config["tokenizer"]["tokenizer_kind"]
    widget = "\n".join(f"- text: {p!r}" for p in WIDGET_PROMPTS)
    rows = [("validation", "eval"), ("test", "test")]
    table = "\n".join(
        f"| {name} | {metrics[f'{p}_bpc']:.3f} | {metrics[f'{p}_perplexity']:.2f} | {metrics[f'{p}_chars']:,} |"
        for name, p in rows if f"{p}_bpc" in metrics
    )
    evaluation = _evaluation_section(model_dir)
    speed = (f"{metrics['train_runtime']:.0f} s at {metrics.get('train_tokens_per_second', 0):,.0f} tokens/s"
             if "train_runtime" in metrics else "finished from its last checkpoint (training time not recorded)")
    curve = ("\n![Training curve: train loss and validation bits/char against steps and minutes](training_curve.png)\n"
             if (Path(model_dir) / "training_curve.png").is_file() else "")
    samples = "\n\n".join(f"> {s.strip()}" for s in metrics.get("samples", [])[:3])
    model_type = m.get("model_type", "gpt2")
    if model_type == "gpt2":
        family = "GPT-2"
        context_note = (f"GPT-2's learned positions stop at {m['n_positions']} tokens: prompt plus new tokens must fit "
                        f"in them. For longer texts, `generate.py` of the machado-gpt repository re-prefills the window "
                        f"as it fills.")
    else:
        family = "Qwen3-architecture model (RoPE, QK-norm, gated MLP, untied head)"
        context_note = (f"Every layer attends to the last {m['n_positions']} tokens (a sliding window, as in training), "
                        f"so `pipeline(..., max_new_tokens=1000)` writes past the window.")
    family_pt = "GPT-2" if model_type == "gpt2" else "modelo de arquitetura Qwen3"
    pt_result = (f"No conjunto de teste: {number(metrics['test_bpc'], 'pt', 3)} bits por caractere. "
                 if "test_bpc" in metrics else "")
    pt_params = number(metrics.get("parameters", 0), "pt")
    opt = config.get("optimizer", {})
    iteration = f", Newton-Schulz in {metrics['muon_dtype']}" if "muon_dtype" in metrics else ""
    optimizer = ("Muon on the hidden matrices (learning rate "
                 f"{opt.get('muon_learning_rate')}{iteration}) and AdamW on the rest" if opt.get("optimizer") == "muon"
                 else "AdamW")
    return f"""---
language:
- pt
license: mit
library_name: transformers
pipeline_tag: text-generation
datasets:
- {KAGGLE_DATASET}
tags:
- {model_type}
- machado-de-assis
- portuguese
- literature
- from-scratch
widget:
{widget}
inference:
  parameters:
    do_sample: true
    temperature: {DEFAULT_SAMPLING['temperature']}
    top_k: {DEFAULT_SAMPLING['top_k']}
    top_p: {DEFAULT_SAMPLING['top_p']}
---

# {repo_id}

A small {family} ({metrics.get('parameters', 0):,} parameters, {m['n_layer']} layers, n_embd {m['n_embd']},
{m['n_head']} heads, context {m['n_positions']} tokens) trained from scratch on the complete works of Machado de
Assis with a {kind}-level tokenizer. It writes "Machadian dreams": Portuguese prose in the style of the corpus,
with no knowledge of the world beyond it.

## Resumo em português
Um pequeno {family_pt} ({pt_params} parâmetros, {m['n_layer']} camadas, janela de
{m['n_positions']} tokens) treinado do zero com a obra completa de Machado de Assis. Ele escreve "sonhos
machadianos": prosa no estilo do corpus, sem conhecimento do mundo além dele. {pt_result}Para usar:
`pipeline("text-generation", model="{repo_id}")` (exemplo abaixo). É um modelo para ensinar e brincar, não uma fonte de
fatos. Código, treino e demonstração (com uma "anatomia" do modelo): o repositório machado-gpt.

## Data
The Kaggle dataset [`{KAGGLE_DATASET}`]({KAGGLE_URL}) (111 works, 8 genres), cleaned by `machado-gpt`:
NFC, title and table-of-contents blocks removed, PDF line wraps rejoined into paragraphs (poetry keeps its lines).
Validation and test are the last 5% and the 5% before it of every work, so no held-out paragraph is seen in training.

## Training
{t.get('max_steps')} steps, batch {t.get('per_device_train_batch_size')} x {t.get('gradient_accumulation_steps')}
sequences of {m['block_size']} tokens, {optimizer}, learning rate {t.get('learning_rate')} ({t.get('lr_scheduler_type')}),
precision {metrics.get('precision')}, {speed}.
{curve}
## Results (held out)
| split | bits/char | perplexity (per token) | characters |
|---|---:|---:|---:|
{table}
{evaluation}
## Samples
Unedited, from the fixed prompts used at every evaluation (temperature {DEFAULT_SAMPLING['temperature']},
top-k {DEFAULT_SAMPLING['top_k']}):

{samples or "(none recorded)"}

## Use
```python
from transformers import pipeline
generator = pipeline("text-generation", model="{repo_id}")
print(generator("Capitu")[0]["generated_text"])
```
or, for full control:
```python
from transformers import AutoModelForCausalLM, AutoTokenizer
tokenizer = AutoTokenizer.from_pretrained("{repo_id}")
model = AutoModelForCausalLM.from_pretrained("{repo_id}")
inputs = tokenizer("Era uma vez", return_tensors="pt")
print(tokenizer.decode(model.generate(**inputs, max_new_tokens=100)[0]))
```
{context_note}

## Limitations
A small model trained on 10 MB of 19th-century Portuguese: it invents words, loses the thread after a few
sentences, and its context is {m['n_positions']} tokens. It is a teaching and hobby model, not a source of facts.

## Credits
Ported from an IME-USP undergraduate thesis (a hand-written character-level GPT of 28.5M parameters).
Corpus: the public-domain works of Machado de Assis (1839-1908), from the Brazilian Ministry of Education's
collection, as published in `{KAGGLE_DATASET}`.
"""


def folder_card(model_dir: Path, repo_id: str = "machado-gpt") -> str | None:
    """The card of a trained model folder, from its run_config.yaml and metrics.json (None if they are missing)."""
    config_path, metrics_path = Path(model_dir) / "run_config.yaml", Path(model_dir) / "metrics.json"
    if not (config_path.is_file() and metrics_path.is_file()):
        return None
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    return model_card(model_dir, config, metrics, repo_id=repo_id)


def _evaluation_section(model_dir: Path) -> str:
    """Per-genre bits/char and text-quality measures, when `evaluate_model.py` has been run on the folder."""
    path = Path(model_dir) / "eval_test.json"
    if not path.is_file():
        return ""
    r = json.loads(path.read_text(encoding="utf-8"))
    rows = "\n".join(f"| {g} | {v['bits_per_char']:.3f} | {v['perplexity']:.2f} | {v['chars']:,} |"
                     for g, v in r["per_group"].items())
    out = f"""
Test split per genre (sliding window, every character scored):

| genre | bits/char | perplexity | characters |
|---|---:|---:|---:|
{rows}
| **all** | **{r['bits_per_char']:.3f}** | {r['perplexity']:.2f} | {r['chars']:,} |
"""
    q = r.get("quality")
    if q:
        thesis = (f" ({q['thesis_sampling']['word_validity']:.1%} sampled the thesis's way: temperature 1.0, no top-k "
                  f"or top-p)") if "thesis_sampling" in q else ""
        out += f"""
Text quality of {q['samples']} samples of {q.get('max_new_tokens', 300)} tokens from fixed prompts and seeds:
word validity (share of words found in the training split) {q['word_validity']:.1%}{thesis}, distinct-1
{q['distinct_1']:.3f}, distinct-2 {q['distinct_2']:.3f}, longest span copied from the training split
{q['longest_copied_span']} characters (mean {q['mean_longest_copied_span']}).
"""
    return out
