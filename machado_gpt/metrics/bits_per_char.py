"""An `evaluate` metric, loaded by path (no Hub needed): bits per character and perplexity of a causal LM folder
over a list of texts, sliding a window over texts longer than the model's context.

    import evaluate
    metric = evaluate.load("machado_gpt/metrics/bits_per_char.py")
    metric.compute(predictions=["Capitu olhou para mim."], model_id="machado-gpt")
    # -> {'bits_per_char': 2.1, 'perplexity': 4.3, 'nats': [...], 'chars': [...], 'tokens': [...]}

Each text is scored from its first character: `<|endoftext|>` (the token that separates works in training)
comes first as context. Bits per character = total nats / ln 2 / characters (NFC), whatever the tokenizer.
"""

import math
import unicodedata

import datasets
import evaluate
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

_DESCRIPTION = "Bits per character and per-token perplexity of a causal language model on raw texts."
_KWARGS = """
Args:
    predictions: list of texts to score.
    model_id: folder (or Hub id) of a causal LM with its tokenizer.
    batch_size: windows per forward pass (default 32).
    stride: new tokens scored per window after the first (default n_positions // 2): every token after the first
        window sees at least n_positions - stride tokens of context.
    device: torch device (default cuda if available, else cpu).
Returns:
    bits_per_char, perplexity (per token), and per text: nats, chars, tokens.
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class BitsPerChar(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation="", inputs_description=_KWARGS,
            features=datasets.Features({"predictions": datasets.Value("string")}),
        )

    def _compute(self, predictions, model_id, batch_size=32, stride=None, device=None, model=None, tokenizer=None):
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        model = model or AutoModelForCausalLM.from_pretrained(model_id, use_safetensors=True).to(device)  # no pickles
        tokenizer = tokenizer or AutoTokenizer.from_pretrained(model_id)
        model.eval()
        # The trained context: the attention window of a sliding-window model, else the learned positions (n_positions).
        window = getattr(model.config, "sliding_window", None) or model.config.max_position_embeddings
        # A window's first position is context only, so a stride of window - 1 scores every token once (the
        # disjoint windows of lm-eval's loglikelihood_rolling); a longer one would skip tokens.
        stride = min(stride or window // 2, window - 1)
        start = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.bos_token_id

        # Cut every text into windows; each window scores only the tokens no earlier window scored.
        windows = []  # (text index, input ids, index of the first scored position)
        n_tokens = []
        for t, text in enumerate(predictions):
            ids = [start] + tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]
            n_tokens.append(len(ids) - 1)
            scored_to = 1
            begin = 0
            while scored_to < len(ids):
                end = min(begin + window, len(ids))
                windows.append((t, ids[begin:end], scored_to - begin))
                scored_to = end
                begin = min(begin + stride, max(0, len(ids) - window)) if end < len(ids) else end
        nats = [0.0] * len(predictions)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        with torch.no_grad():
            for i in range(0, len(windows), batch_size):
                batch = windows[i : i + batch_size]
                width = max(len(w[1]) for w in batch)
                input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                labels = torch.full((len(batch), width), -100, dtype=torch.long)
                for row, (_, ids, first) in enumerate(batch):
                    input_ids[row, : len(ids)] = torch.tensor(ids)
                    mask[row, : len(ids)] = 1
                    labels[row, first : len(ids)] = torch.tensor(ids[first:])
                logits = model(input_ids=input_ids.to(device), attention_mask=mask.to(device)).logits.float()
                # position p predicts token p + 1: (B, W-1, V) against (B, W-1)
                loss = torch.nn.functional.cross_entropy(
                    logits[:, :-1].transpose(1, 2), labels[:, 1:].to(device), reduction="none", ignore_index=-100
                ).sum(dim=1)
                for row, (t, _, _) in enumerate(batch):
                    nats[t] += float(loss[row])
        chars = [len(unicodedata.normalize("NFC", t)) for t in predictions]
        total_nats, total_chars, total_tokens = sum(nats), sum(chars), sum(n_tokens)
        return {
            "bits_per_char": total_nats / math.log(2) / max(total_chars, 1),
            "perplexity": math.exp(total_nats / max(total_tokens, 1)),
            "nats": nats, "chars": chars, "tokens": n_tokens,
        }
