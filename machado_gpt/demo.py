"""The Gradio demo, "Sonhos machadianos": Escrever (streaming long-form text through generate_tokens, so it runs
past the context window for both families) and Anatomia (next-token bars, an attention heatmap, the logit lens).
Portuguese first, English for browsers that ask for it (gr.I18n)."""

from __future__ import annotations

import math
import os
import secrets
from pathlib import Path

import gradio as gr

from .anatomy import anatomy, rising_position
from .config import context_length
from .generation import SamplingArguments, stream_texts
from .i18n import ERROR_TITLE, language, number
from .utils import MachadoError

MAX_NEW_TOKENS = 2000  # one request's cap: a long text must not hold the queue for minutes
MAX_PROMPT_CHARS = 2000
GENERATION_CONCURRENCY = 1  # two CPU cores: one generation at a time, the rest wait in the queue
# Each example ends on a word that the main recipe's tokenizer keeps whole (tests/test_demo.py checks it), so the
# model starts a new word instead of going on inside one ("Capitu" alone is C/a/pi/tu, and the model wrote "Capitua").
EXAMPLES = ["Capitu olhou para mim", "Era uma vez", "— Que é isso? perguntou", "Meu caro amigo", "Na manhã seguinte"]
# Anatomia's example: its default position is where the logit lens rises most on the served model
# (rising_position), e.g. 'ressaca' completed as the layers go up.
ANATOMY_EXAMPLE = "Capitu olhou para mim com olhos de ressaca"
VARIANTS = 3

TEXTS = {
    "pt": {
        "heading": "# Sonhos machadianos",
        "intro": "Um pequeno GPT treinado do zero com a obra completa de Machado de Assis. Em **Escrever**, ele "
                 "continua o seu texto, uma peça (token) por vez. Em **Anatomia**, veja o que acontece lá dentro.",
        "write": "Escrever", "anatomy": "Anatomia", "prompt": "Texto inicial", "text": "Texto",
        "length": "Comprimento (tokens)", "temperature": "Temperatura (0 = sempre o mais provável)",
        "top_k": "top-k (0 = desligado)", "top_p": "top-p (1 = desligado)", "seed": "Semente (mesma semente, "
        "mesmo texto; -1 = aleatória)", "stop": "Parar", "examples": "Exemplos",
        "short_prompt": "Texto curto (cabe na janela do modelo)", "layer": "Camada", "head": "Cabeça de atenção",
        "position": "Posição para a lente (-1 = penúltima)", "look": "Olhar por dentro", "numbers": "Os números",
        "variants": "Três variantes (três continuações do mesmo texto inicial, geradas juntas)",
        "text_2": "Variante 2", "text_3": "Variante 3",
        "top_help": "**(a) Próximas peças.** Para cada posição do texto, as peças que o modelo acha mais prováveis "
                    "em seguida, com a probabilidade de cada uma (barras). A peça que de fato vem depois está em "
                    "vermelho.",
        "attention_help": "**(b) Atenção.** Cada linha é uma posição que está lendo; cada coluna, uma posição "
                          "anterior. Quanto mais escura a célula, mais aquela cabeça olha para aquela peça ao "
                          "decidir o que vem depois. Uma peça nunca olha para o futuro: acima da diagonal é vazio.",
        "lens_help": "**(c) Lente de logits.** O texto passa por uma camada depois da outra. Em cada etapa, lemos o "
                     "estado interno como se fosse a saída final (norma final e cabeça de saída) e medimos a "
                     "probabilidade da peça que de fato vem a seguir. Assim se vê em que camada o modelo 'decide'.",
    },
    "en": {
        "heading": "# Machadian dreams",
        "intro": "A small GPT trained from scratch on the complete works of Machado de Assis. In **Write**, it "
                 "continues your text one piece (token) at a time. In **Anatomy**, see what happens inside.",
        "write": "Write", "anatomy": "Anatomy", "prompt": "Prompt", "text": "Text", "length": "Length (tokens)",
        "temperature": "Temperature (0 = always the most likely)", "top_k": "top-k (0 = off)",
        "top_p": "top-p (1 = off)", "seed": "Seed (same seed, same text; -1 = random)", "stop": "Stop",
        "examples": "Examples", "short_prompt": "Short text (fits the model's window)", "layer": "Layer",
        "head": "Attention head", "position": "Position for the lens (-1 = second to last)", "look": "Look inside",
        "numbers": "The numbers", "variants": "Three variants (three continuations of the same prompt, generated together)",
        "text_2": "Variant 2", "text_3": "Variant 3",
        "top_help": "**(a) Next pieces.** At each position, the pieces the model finds most likely to come next, "
                    "with their probabilities (bars). The piece that actually comes next is in red.",
        "attention_help": "**(b) Attention.** Each row is a position that is reading; each column an earlier "
                          "position. The darker the cell, the more this head looks at that piece when deciding what "
                          "comes next. A piece never looks ahead: above the diagonal is empty.",
        "lens_help": "**(c) Logit lens.** The text goes through one layer after another. After each, we read the "
                     "internal state as if it were the final output (final norm and output head) and measure the "
                     "probability of the piece that actually comes next: you see in which layer the model 'decides'.",
    },
}
I18N = gr.I18n(**{lang: texts for lang, texts in TEXTS.items()})
_ = I18N


def _user_error(e: MachadoError, lang: str = "pt") -> gr.Error:
    """A message in the interface (a toast), in the reader's language, never a traceback."""
    return gr.Error(e.in_language(lang), title=ERROR_TITLE[lang], print_exception=False)


def reader(request: gr.Request | None) -> str:
    """The reader's language, from the browser's Accept-Language (Portuguese when none is sent)."""
    return language(request.headers.get("accept-language") if request is not None else None)


def parse_number(value, name: str, integer: bool = True):
    """A number from the interface or the API (which takes any JSON value): a MachadoError, never a traceback, for
    None, text, NaN or infinity."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise MachadoError.of("not_number", name=name, value=repr(value)) from None
    if not math.isfinite(x) or abs(x) > 2**53:
        raise MachadoError.of("out_of_range", name=name, value=str(value))
    if integer and x != int(x):
        raise MachadoError.of("not_whole", name=name, value=str(value))
    return int(x) if integer else x


def sampling_from(max_new_tokens, temperature, top_k, top_p, seed) -> SamplingArguments:
    length = parse_number(max_new_tokens, "length")
    if length > MAX_NEW_TOKENS:
        raise MachadoError.of("length_cap", n=length, limit=MAX_NEW_TOKENS)
    seed = -1 if seed is None else parse_number(seed, "seed")
    if not -1 <= seed < 2**32:
        raise MachadoError.of("seed_demo", seed=str(seed))
    # -1 draws a fresh seed, which is then shown, so that a text the student liked can be written again
    return SamplingArguments(max_new_tokens=length, temperature=parse_number(temperature, "temperature", integer=False),
                             top_k=parse_number(top_k, "top_k"), top_p=parse_number(top_p, "top_p", integer=False),
                             seed=secrets.randbelow(2**32) if seed == -1 else seed)


SEED_NOTE = {"pt": "Semente usada: **{seed}** (escreva-a em Semente para repetir este texto)",
             "en": "Seed used: **{seed}** (type it in Seed to write this text again)"}


def write_fn(model, tokenizer):
    def write(prompt, max_new_tokens, temperature, top_k, top_p, seed, variants, request: gr.Request):
        """Streams (text, variant 2, variant 3, the seed used): each update is the whole text so far; the variants are
        empty unless asked for, and then all three are sampled in one batch."""
        lang = reader(request)
        try:
            if not prompt or not prompt.strip():
                raise MachadoError.of("empty_prompt")
            if len(prompt) > MAX_PROMPT_CHARS:
                raise MachadoError.of("prompt_chars", n=len(prompt), limit=MAX_PROMPT_CHARS)
            args = sampling_from(max_new_tokens, temperature, top_k, top_p, seed)
        except MachadoError as e:
            raise _user_error(e, lang) from None
        note = SEED_NOTE[lang].format(seed=args.seed)
        n = VARIANTS if variants else 1
        texts = [prompt] * n
        for pieces in stream_texts(model, tokenizer, prompt, args, n):
            texts = [t + p for t, p in zip(texts, pieces)]
            yield texts[0], *(texts[1:] if variants else ["", ""]), note

    return write


FIGURE_TEXT = {
    "pt": {"head": "camada {layer}, cabeça {head}", "key": "chave: o token olhado", "query": "consulta: o token que olha",
           "weight": "peso de atenção", "emb": "emb.", "after": "depois da camada (emb.: só os embeddings)",
           "p_next": "p(próximo token real)", "rank": "{tok} (n.º {rank})",
           "columns": ["posição", "token", "próximo token real", "p(real)", "n.º do real", "mais provável",
                       "p(mais provável)"],
           "lens_columns": ["depois de", "p(próximo token real)"]},
    "en": {"head": "layer {layer}, head {head}", "key": "key: the token looked at", "query": "query: the token looking",
           "weight": "attention weight", "emb": "emb", "after": "after layer (emb: the embeddings only)",
           "p_next": "p(actual next token)", "rank": "{tok} (#{rank})",
           "columns": ["position", "token", "actual next token", "p(actual)", "rank of actual", "most likely",
                       "p(most likely)"],
           "lens_columns": ["after", "p(actual next token)"]},
}


def shown(token: str) -> str:
    """A token as a label: quotes and escapes dropped, a lone space as a middle dot."""
    return repr(token)[1:-1] or "·"


def error_figure(message: str):
    """A picture that says what went wrong with it, in place of that picture only."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 1.2))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", color="#c0392b", wrap=True, fontsize=10)
    plt.close(fig)
    return fig


def figures(data: dict, lang: str = "pt", errors: dict | None = None):
    """(a) next-token bars per position, with the actual next token in red (added with its rank when it is not in
    the top 5), (b) the attention heatmap with its colour scale, (c) the logit lens; labels in `lang`. A picture
    whose numbers are missing shows its own error (`errors`, by picture) and the others are drawn."""
    text, errors = FIGURE_TEXT[lang], errors or {}
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tokens, n = data["tokens"], len(data["tokens"])
    cols = min(4, n)
    rows = -(-n // cols)
    bars, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 1.9 * rows), squeeze=False)
    for t, ax in enumerate(axes.flat):
        if t >= n:
            ax.axis("off")
            continue
        top = [(shown(tok), p, "#c0392b" if t + 1 < n and tok == tokens[t + 1] else "#4a6fa5")
               for tok, p in data["top"][t]]
        if t + 1 < n and tokens[t + 1] not in [tok for tok, _ in data["top"][t]]:  # the real next token, further down
            p, rank = data["actual"][t]
            top.append((text["rank"].format(tok=shown(tokens[t + 1]), rank=rank), p, "#c0392b"))
        labels, values, colors = (list(x)[::-1] for x in zip(*top))
        ax.barh(labels, values, color=colors)
        ax.set_xlim(0, 1)
        ax.set_title(f"{t}: {tokens[t]!r}", fontsize=9)
        ax.tick_params(labelsize=8)
    bars.tight_layout()
    plt.close(bars)

    if data["attention"] is None:
        heat = error_figure(errors.get("attention", ""))
    else:
        heat, ax = plt.subplots(figsize=(1 + 0.35 * n, 1 + 0.35 * n))
        image = ax.imshow(data["attention"], cmap="Blues", vmin=0, vmax=1)
        heat.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label=text["weight"])
        names = [shown(tok) for tok in tokens]
        ax.set_xticks(range(n), names, rotation=90, fontsize=8)
        ax.set_yticks(range(n), names, fontsize=8)
        ax.set_xlabel(text["key"], fontsize=8)
        ax.set_ylabel(text["query"], fontsize=8)
        ax.set_title(text["head"].format(layer=data["layer"], head=data["head"]), fontsize=10)
        heat.tight_layout()
        plt.close(heat)

    if data["lens"] is None:
        lens = error_figure(errors.get("lens", ""))
    else:
        lens, ax = plt.subplots(figsize=(6, 3))
        ax.plot(lens_steps(data, lang), data["lens"], marker="o", color="#4a6fa5")
        ax.set_ylim(0, 1)
        ax.set_xlabel(text["after"])
        ax.set_ylabel(text["p_next"])
        ax.set_title(f"{data['position']}: {tokens[data['position']]!r} -> {data['next_token']!r}", fontsize=10)
        lens.tight_layout()
        plt.close(lens)
    return bars, heat, lens


def lens_steps(data: dict, lang: str) -> list[str]:
    return [FIGURE_TEXT[lang]["emb"]] + [str(i + 1) for i in range(len(data["lens"]) - 1)]


def tables(data: dict, lang: str = "pt"):
    """'Os números' as two readable tables, numbers written as `lang` writes them: per position, the actual next
    token with its probability and rank and the model's first choice; and the logit lens, layer by layer."""
    import pandas as pd

    text, tokens = FIGURE_TEXT[lang], data["tokens"]
    rows = [[t, shown(tokens[t]), shown(tokens[t + 1]), number(p, lang, 3), rank, shown(data["top"][t][0][0]),
             number(data["top"][t][0][1], lang, 3)] for t, (p, rank) in enumerate(data["actual"])]
    lens = [] if data["lens"] is None else [[step, number(p, lang, 3)]
                                            for step, p in zip(lens_steps(data, lang), data["lens"])]
    return pd.DataFrame(rows, columns=text["columns"]), pd.DataFrame(lens, columns=text["lens_columns"])


def anatomy_fn(model, tokenizer):
    def look(prompt, layer, head, position, request: gr.Request):
        """The three pictures, the two tables and the numbers (for the API). A bad prompt is a message; a bad layer,
        head or position is shown in its own picture, and the other pictures are still drawn."""
        lang = reader(request)
        try:
            data = anatomy(model, tokenizer, prompt or "", parse_number(layer, "layer"), parse_number(head, "head"),
                           parse_number(position, "position"), keep_errors=True)
        except MachadoError as e:
            raise _user_error(e, lang) from None
        errors = {name: e.in_language(lang) for name, e in data.pop("errors").items()}
        return (*figures(data, lang, errors), *tables(data, lang), {**data, "errors": errors})

    return look


EXAMPLE_NOTES = {
    "pt": {"top": "*No exemplo inicial*, a peça real é a primeira aposta do modelo em {hits} de {n} posições. A mais "
                  "segura: depois de '{a}', o modelo dá {p} a '{b}'.",
           "attention": "*No exemplo inicial*, esta cabeça (camada {layer}, cabeça {head}) é a que mais olha para a "
                        "peça imediatamente anterior: em média, {w} do seu peso vai para ela (a faixa escura logo "
                        "abaixo da diagonal). Mude a camada e a cabeça para ver outros padrões.",
           "lens": "*No exemplo inicial*, na posição {position} ('{a}' → '{b}'), a probabilidade da peça certa vai de "
                   "{p0} depois dos embeddings a {p_last} depois da última camada; a maior subida vem na camada "
                   "{best}."},
    "en": {"top": "*In the starting example*, the actual next piece is the model's first choice at {hits} of {n} "
                  "positions. The surest: after '{a}', the model gives {p} to '{b}'.",
           "attention": "*In the starting example*, this head (layer {layer}, head {head}) is the one that looks most "
                        "at the piece just before: on average {w} of its weight goes there (the dark band just below "
                        "the diagonal). Change the layer and the head to see other patterns.",
           "lens": "*In the starting example*, at position {position} ('{a}' → '{b}'), the probability of the right "
                   "piece goes from {p0} after the embeddings to {p_last} after the last layer; the biggest rise "
                   "comes at layer {best}."},
}


def previous_token_head(model, tokenizer, prompt: str) -> tuple[int, int, float]:
    """(layer, head, mean weight): the head that puts most of its attention on the token just before, in `prompt`
    (the demo opens on it, so the first heatmap shows a clear pattern)."""
    import torch

    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        attentions = model(input_ids=torch.tensor([ids], device=model.device), output_attentions=True).attentions
    weights = torch.stack([a[0].float().diagonal(offset=-1, dim1=-2, dim2=-1).mean(-1) for a in attentions])
    best = int(weights.argmax())
    layer, head = divmod(best, weights.shape[1])
    return layer, head, float(weights.flatten()[best])


def example(model, tokenizer) -> dict:
    """Anatomia's opening view, measured on the served model: the example, the head and position that show it best,
    and a paragraph per picture in each language with the numbers it shows."""
    words, window = ANATOMY_EXAMPLE.split(" "), context_length(model.config)
    # the longest ending of the example that fits the model's window (all of it for the main recipe's 128 tokens)
    prompt = next(text for i in range(len(words)) for text in [" ".join(words[i:])]
                  if len(tokenizer(text, add_special_tokens=False)["input_ids"]) <= window)
    layer, head, weight = previous_token_head(model, tokenizer, prompt)
    position = rising_position(model, tokenizer, prompt)
    data = anatomy(model, tokenizer, prompt, layer, head, position)
    tokens, lens = data["tokens"], data["lens"]
    hits = sum(rank == 1 for _, rank in data["actual"])
    sure = max(range(len(data["actual"])), key=lambda t: data["actual"][t][0])
    best = max(range(1, len(lens)), key=lambda k: lens[k] - lens[k - 1])
    notes = {}
    for lang, templates in EXAMPLE_NOTES.items():
        notes[lang] = {
            "top": templates["top"].format(hits=hits, n=len(data["actual"]), a=shown(tokens[sure]),
                                           b=shown(tokens[sure + 1]), p=number(data["actual"][sure][0], lang, 2)),
            "attention": templates["attention"].format(layer=layer, head=head, w=number(weight, lang, 2)),
            "lens": templates["lens"].format(position=position, a=shown(tokens[position]), b=shown(tokens[position + 1]),
                                             p0=number(lens[0], lang, 2), p_last=number(lens[-1], lang, 2), best=best)}
    return {"prompt": prompt, "layer": layer, "head": head, "position": position, "notes": notes}


def model_line(model, model_name: str, lang: str) -> str:
    """'`machado-gpt` · qwen3 · 4 camadas × 128 · 1.328.512 parâmetros · janela de 128 tokens', numbers as `lang`
    writes them."""
    c = model.config
    layers, params, window = {"pt": ("camadas", "parâmetros", "janela de"), "en": ("layers", "parameters", "window of")}[lang]
    return (f"`{model_name}` · {c.model_type} · {c.num_hidden_layers} {layers} × {c.hidden_size} · "
            f"{number(model.num_parameters(), lang)} {params} · {window} {context_length(c)} tokens")


def build_demo(model, tokenizer, model_name: str, writer=None) -> gr.Blocks:
    """`model` (PyTorch, eager attention) draws Anatomia; `writer` (default: the same model) runs Escrever, e.g. an
    onnx_export.OnnxDecoder, which generation.generate_batch drives with the same sampling code."""
    config = model.config
    opening = example(model, tokenizer)  # measured once, on this model
    with gr.Blocks(title="machado-gpt") as demo:
        gr.Markdown(_("heading"))
        gr.Markdown(_("intro"))
        header = gr.Markdown(model_line(model, model_name, "pt"), elem_id="modelo")
        with gr.Tab(_("write"), id="escrever"):
            prompt = gr.Textbox(label=_("prompt"), value=EXAMPLES[0], lines=2, max_length=MAX_PROMPT_CHARS,
                                elem_id="prompt")
            with gr.Row():
                length = gr.Slider(1, MAX_NEW_TOKENS, value=300, step=1, label=_("length"))
                temperature = gr.Slider(0, 2, value=0.7, step=0.05, label=_("temperature"))
            with gr.Row():
                top_k = gr.Slider(0, 200, value=50, step=1, label=_("top_k"))
                top_p = gr.Slider(0.05, 1, value=0.95, step=0.01, label=_("top_p"))
                seed = gr.Number(value=-1, precision=0, label=_("seed"))  # random by default, shown after each run
            variants = gr.Checkbox(value=False, label=_("variants"), elem_id="variantes")
            with gr.Row():
                go = gr.Button(_("write"), variant="primary", elem_id="escrever-botao")
                stop = gr.Button(_("stop"), elem_id="parar")
            with gr.Row():
                text = gr.Textbox(label=_("text"), lines=14, elem_id="texto")
                text_2 = gr.Textbox(label=_("text_2"), lines=14, visible=False, elem_id="texto-2")
                text_3 = gr.Textbox(label=_("text_3"), lines=14, visible=False, elem_id="texto-3")
            used_seed = gr.Markdown(elem_id="semente-usada")
            gr.Examples([[e] for e in EXAMPLES], inputs=[prompt], label=_("examples"))
            variants.change(lambda v: (gr.update(visible=v), gr.update(visible=v)), variants, [text_2, text_3],
                            queue=False, api_visibility="private")
            event = go.click(write_fn(writer or model, tokenizer), [prompt, length, temperature, top_k, top_p, seed, variants],
                             [text, text_2, text_3, used_seed], api_name="escrever",
                             concurrency_limit=GENERATION_CONCURRENCY, concurrency_id="model")
            stop.click(None, cancels=[event])
        with gr.Tab(_("anatomy"), id="anatomia"):
            short = gr.Textbox(label=_("short_prompt"), value=opening["prompt"], max_length=MAX_PROMPT_CHARS,
                               elem_id="curto")
            with gr.Row():
                layer = gr.Slider(0, config.num_hidden_layers - 1, value=opening["layer"], step=1, label=_("layer"),
                                  elem_id="camada")
                head = gr.Slider(0, config.num_attention_heads - 1, value=opening["head"], step=1, label=_("head"),
                                 elem_id="cabeca")
                position = gr.Number(value=opening["position"], precision=0, label=_("position"), elem_id="posicao")
            look = gr.Button(_("look"), variant="primary", elem_id="anatomia-botao")
            gr.Markdown(_("top_help"))
            top_note = gr.Markdown(opening["notes"]["pt"]["top"], elem_id="nota-barras")
            bars = gr.Plot(elem_id="barras")
            gr.Markdown(_("attention_help"))
            attention_note = gr.Markdown(opening["notes"]["pt"]["attention"], elem_id="nota-atencao")
            heat = gr.Plot(elem_id="atencao")
            gr.Markdown(_("lens_help"))
            lens_note = gr.Markdown(opening["notes"]["pt"]["lens"], elem_id="nota-lente")
            lens = gr.Plot(elem_id="lente")
            with gr.Accordion(_("numbers"), open=False, elem_id="numeros"):
                table = gr.Dataframe(interactive=False, wrap=True, elem_id="tabela")
                lens_table = gr.Dataframe(interactive=False, elem_id="tabela-lente")
            numbers = gr.JSON(visible=False)  # everything, for API clients
            inputs, outputs = [short, layer, head, position], [bars, heat, lens, table, lens_table, numbers]
            look.click(anatomy_fn(model, tokenizer), inputs, outputs, api_name="anatomia",
                       concurrency_limit=GENERATION_CONCURRENCY, concurrency_id="model")
            # The pictures follow the controls as they move: no need to press the button again.
            for control in (layer.change, head.change, position.change, short.submit):
                control(anatomy_fn(model, tokenizer), inputs, outputs, api_visibility="private",
                        concurrency_limit=GENERATION_CONCURRENCY, concurrency_id="model", trigger_mode="always_last")

        def opening_for(request: gr.Request):
            """The header and the example's notes in the reader's language (Portuguese first)."""
            lang = reader(request)
            notes = opening["notes"][lang]
            return model_line(model, model_name, lang), notes["top"], notes["attention"], notes["lens"]

        demo.load(opening_for, None, [header, top_note, attention_note, lens_note], queue=False)
        demo.load(anatomy_fn(model, tokenizer), inputs, outputs, api_visibility="private",
                  concurrency_limit=GENERATION_CONCURRENCY, concurrency_id="model")  # the example, drawn at once
    demo.queue(max_size=32)
    return demo


def space_model_reference(folder: Path) -> str | None:
    """In a Space, the model named by the README's front matter (`models:`), which push_to_hub.py --space writes."""
    readme = folder / "README.md"
    if not readme.is_file():
        return None
    text = readme.read_text(encoding="utf-8")
    if not text.startswith("---\n"):
        return None
    import yaml

    meta = yaml.safe_load(text.split("---\n", 2)[1]) or {}
    models = meta.get("models") if meta.get("sdk") == "gradio" else None
    return models[0] if models else None


def model_reference(app_dir: Path) -> str:
    """MODEL_DIR if set, else the Space's model, else the folder `make all` writes."""
    return os.environ.get("MODEL_DIR") or space_model_reference(app_dir) or "machado-gpt"


def launch(app_dir: Path, port: int | None = None) -> None:
    from .evaluation import load_model
    from .onnx_export import load_decoder, onnx_file

    reference = model_reference(app_dir)
    # eager attention: the Anatomia tab reads the attention weights, which SDPA does not return
    model, tokenizer = load_model(reference, attn_implementation="eager")
    # Escrever on onnxruntime when the folder has onnx/ (faster on a CPU; export_onnx.py checked that its greedy text
    # is PyTorch's), as generate.py does
    writer = load_decoder(reference, "onnx")[0] if onnx_file(reference).is_file() else model
    demo = build_demo(model, tokenizer, reference, writer)
    port = port or int(os.environ.get("GRADIO_SERVER_PORT", 7860))
    # No "Runs" link in the footer: Gradio does not translate it, and the Portuguese page would show an English word
    demo.launch(server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"), server_port=port, i18n=I18N,
                footer_links=["api", "gradio", "settings"])
