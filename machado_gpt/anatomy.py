"""A look inside the model for one short prompt ("Anatomia do GPT"): the next-token distribution at every position,
the attention weights of one layer and head, and the logit lens (each layer's residual stream read through the
final norm and the head). Works for both families; the numbers are what the demo draws."""

from __future__ import annotations

import torch

from .config import context_length
from .utils import MachadoError


def final_norm(model) -> torch.nn.Module:
    """The norm before the head: GPT-2's ln_f, Qwen3's norm."""
    base = model.base_model
    norm = getattr(base, "ln_f", None) or getattr(base, "norm", None)
    if norm is None:
        raise MachadoError.of("no_final_norm", model=type(model).__name__)
    return norm


def token_texts(tokenizer, ids: list[int]) -> list[str]:
    """Each token as the text it stands for (byte-level tokens decoded one by one; a half character shows as �)."""
    return [tokenizer.decode([i]) for i in ids]


@torch.inference_mode()
def anatomy(model, tokenizer, prompt: str, layer: int = 0, head: int = 0, position: int = -1, top_n: int = 5,
            keep_errors: bool = False) -> dict:
    """Everything the Anatomia tab shows, as plain lists. `position` picks the token whose next-token probability
    the logit lens follows (negative counts from the end); its actual next token is the prompt's next one.
    A bad prompt is always an error. With keep_errors, a bad layer/head or position is not: that picture's numbers
    are None and its MachadoError is in "errors" ("attention" or "lens"), so the other pictures are still drawn."""
    config = model.config
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    limit = context_length(config)
    if not prompt.strip() or not ids:
        raise MachadoError.of("empty_prompt")
    if len(ids) > limit:
        raise MachadoError.of("prompt_tokens", n=len(ids), limit=limit)
    n_layer, n_head = config.num_hidden_layers, config.num_attention_heads
    if len(ids) < 2:
        raise MachadoError.of("one_token")
    errors = {}
    if not (0 <= layer < n_layer and 0 <= head < n_head):
        errors["attention"] = MachadoError.of("layer_head", layer=layer, head=head, n_layer=n_layer, n_head=n_head)
    position = position if position >= 0 else len(ids) - 1 + position  # the last position with a next token
    if not 0 <= position < len(ids) - 1:
        errors["lens"] = MachadoError.of("position", position=position, last=len(ids) - 2)
    if errors and not keep_errors:
        raise next(iter(errors.values()))
    out = model(input_ids=torch.tensor([ids], device=model.device), output_attentions=True, output_hidden_states=True)
    probs = torch.softmax(out.logits[0].float(), dim=-1)  # (T, V)
    top = probs.topk(min(top_n, probs.shape[-1]), dim=-1)
    lens = None if "lens" in errors else lens_table(model, out, ids)[:, position].tolist()
    texts = token_texts(tokenizer, ids)
    nxt = torch.tensor(ids[1:], device=probs.device)
    actual_p = probs[:-1].gather(1, nxt[:, None])[:, 0]  # (T-1,): the probability of the token that does come next
    actual_rank = (probs[:-1] > actual_p[:, None]).sum(-1) + 1
    return {
        "tokens": texts,
        "top": [[[tokenizer.decode([int(i)]), float(p)] for i, p in zip(row_i, row_p)]
                for row_i, row_p in zip(top.indices.tolist(), top.values.tolist())],
        # (T, T): row = query, column = key
        "attention": None if "attention" in errors else out.attentions[layer][0, head].float().tolist(),
        "layer": layer, "head": head, "position": position,
        "next_token": None if "lens" in errors else texts[position + 1],
        "lens": lens,  # probability of the actual next token after the embeddings and after each layer
        "actual": [[float(p), int(r)] for p, r in zip(actual_p.tolist(), actual_rank.tolist())],  # per position
        "errors": errors,
    }


def lens_table(model, out, ids: list[int]) -> torch.Tensor:
    """(n_layer + 1, T - 1): at every position, the probability of the actual next token read after the embeddings
    (row 0) and after each layer. hidden_states[k] is the residual stream after layer k; after the last layer the
    model's own logits are the reading (its final norm is already applied there)."""
    head_norm, lm_head = final_norm(model), model.get_output_embeddings()
    nxt = torch.tensor(ids[1:], device=out.logits.device)[:, None]
    rows = [lm_head(head_norm(h[0, :-1])) for h in out.hidden_states[:model.config.num_hidden_layers]]
    rows.append(out.logits[0, :-1])
    return torch.stack([torch.softmax(r.float(), -1).gather(1, nxt)[:, 0] for r in rows])


@torch.inference_mode()
def rising_position(model, tokenizer, prompt: str) -> int:
    """The position whose logit lens rises most, from the embeddings to the last layer: where the example shows
    best that the layers 'decide'. The demo's default position is chosen this way, on the model it serves."""
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    out = model(input_ids=torch.tensor([ids], device=model.device), output_hidden_states=True)
    table = lens_table(model, out, ids)
    return int((table[-1] - table[0]).argmax())
