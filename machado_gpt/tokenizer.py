"""Char-level and byte-level BPE tokenizers built with `tokenizers`, saved as a `PreTrainedTokenizerFast`.

Both normalize to NFC and decode losslessly. Special tokens have stable ids: `<|endoftext|>` = 0 (bos/eos,
separates works), `<pad>` = 1, and for char `<unk>` = 2 for characters never seen.
"""

from __future__ import annotations

import json
import time
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from .utils import MachadoError, write_json

EOS, PAD, UNK = "<|endoftext|>", "<pad>", "<unk>"
KINDS = ("char", "bpe")
REPORT = "tokenizer_report.json"
# Characters a char tokenizer always knows, seen in train or not: printable ASCII, Latin-1 letters and the
# typographic punctuation of Portuguese books, so that held-out text ('―' appears only in validation) round-trips.
BASE_ALPHABET = (
    "\n" + "".join(chr(c) for c in range(32, 127)) + "".join(chr(c) for c in range(0xA0, 0x100)) + "–—―‘’‚“”„…•′″€"
)


@dataclass
class TokenizerArguments:
    """Which tokenizer to train and where it lives."""

    tokenizer_kind: str = field(default="char", metadata={"help": "char (as in the thesis) or bpe (byte-level BPE)"})
    tokenizer_vocab_size: int = field(default=1024, metadata={"help": "BPE vocabulary size, specials included (bpe only)"})
    tokenizer_dir: str | None = field(default=None, metadata={"help": "Default data/tokenizer-char or data/tokenizer-bpe-N"})
    bpe_dropout: float = field(default=0.0, metadata={
        "help": "BPE-dropout (Provilkov et al. 2020), a data augmentation: every epoch the train split is segmented "
                "afresh, each merge skipped with this probability (try 0.1). Evaluation and the saved tokenizer never "
                "drop merges. 0: off (bpe only)"})

    def __post_init__(self):
        if not 0 <= self.bpe_dropout < 1 or (self.bpe_dropout and self.tokenizer_kind != "bpe"):
            raise MachadoError.of("bpe_dropout", value=str(self.bpe_dropout))
        if self.tokenizer_kind not in KINDS:
            raise MachadoError.of("unknown_choice", name="tokenizer_kind", value=repr(self.tokenizer_kind),
                                  choices=", ".join(KINDS))
        if self.tokenizer_kind == "bpe" and self.tokenizer_vocab_size < 256 + 2:
            raise MachadoError.of("bpe_vocab", value=str(self.tokenizer_vocab_size))
        if self.tokenizer_dir is None:
            suffix = "char" if self.tokenizer_kind == "char" else f"bpe-{self.tokenizer_vocab_size}"
            self.tokenizer_dir = f"data/tokenizer-{suffix}"


def char_tokenizer(texts: Iterable[str]) -> Tokenizer:
    """One token per character: the characters of `texts` by frequency, then the base alphabet.

    Example: trained on ['aab'] -> ids {'<|endoftext|>': 0, '<pad>': 1, '<unk>': 2, 'a': 3, 'b': 4, '\\n': 5, ...}.
    """
    counts: Counter[str] = Counter()
    for t in texts:
        counts.update(unicodedata.normalize("NFC", t))
    chars = [c for c, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    chars += [c for c in BASE_ALPHABET if c not in counts]
    vocab = {tok: i for i, tok in enumerate([EOS, PAD, UNK, *chars])}
    # A BPE model with no merges is exactly a character model, and it needs no pre-tokenizer: measured here,
    # encoding the train split takes 1.5 s, against 19 s for WordLevel behind a one-character regex Split.
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=UNK))
    tok.normalizer = normalizers.NFC()
    tok.decoder = decoders.Fuse()  # join the characters back without spaces ('a ç ã o' -> 'ação')
    return tok


def bpe_tokenizer(texts: Iterable[str], vocab_size: int) -> Tokenizer:
    """Byte-level BPE (GPT-2 style, no unknowns), NFC-normalized, no prefix space, so decoding is exact."""
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[EOS, PAD], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


# Keys that transformers 5 writes into tokenizer_config.json but that describe one machine's load, not the tokenizer.
LOAD_TIME_KEYS = ("is_local", "local_files_only", "_commit_hash", "cache_dir", "token", "revision")


class MachadoTokenizerFast(PreTrainedTokenizerFast):
    """A PreTrainedTokenizerFast whose every save (ours, Trainer's checkpoints, the model folder, Hub staging) writes
    `tokenizer_class: PreTrainedTokenizerFast`, `model_input_names` and no load-time keys. transformers 5 writes its class name,
    TokenizersBackend, which transformers 4.x cannot load; fixing it here means no later save can undo the fix."""

    # Without it transformers 4.x returns token_type_ids too, and model.generate(**tokenizer(text)) refuses them.
    model_input_names = ["input_ids", "attention_mask"]

    def save_pretrained(self, save_directory, *args, **kwargs):
        files = super().save_pretrained(save_directory, *args, **kwargs)
        path = Path(save_directory) / "tokenizer_config.json"
        config = json.loads(path.read_text(encoding="utf-8"))
        config["tokenizer_class"] = "PreTrainedTokenizerFast"
        config["model_input_names"] = self.model_input_names  # read by every client, transformers 4.x included
        for key in LOAD_TIME_KEYS:
            config.pop(key, None)
        write_json(path, config)
        return files


def wrap(tok: Tokenizer, kind: str, model_max_length: int) -> PreTrainedTokenizerFast:
    """Set the special tokens on the transformers side explicitly: they are silently lost otherwise."""
    return MachadoTokenizerFast(
        tokenizer_object=tok, bos_token=EOS, eos_token=EOS, pad_token=PAD, unk_token=UNK if kind == "char" else None,
        model_max_length=model_max_length, clean_up_tokenization_spaces=False,  # clean-up would eat ' .' -> '.'
    )


def save(tokenizer: PreTrainedTokenizerFast, out: Path, report: dict) -> None:
    tokenizer.save_pretrained(str(out))
    write_json(out / REPORT, report)


def load_tokenizer(path: str | Path) -> PreTrainedTokenizerFast:
    """The tokenizer of a folder (ours or a model folder), as a MachadoTokenizerFast so that it saves portably."""
    if not (Path(path) / "tokenizer.json").is_file():
        raise MachadoError.of("no_tokenizer", path=str(path))
    return MachadoTokenizerFast.from_pretrained(str(path))


def chars_per_token_id(tokenizer: PreTrainedTokenizerFast) -> list[int]:
    """How many characters each token id decodes to, so that bits per character are exact for any tokenizer.

    Byte-level tokens may hold part of a character: counting only the bytes that start a UTF-8 character
    (not 0b10xxxxxx) makes the sum over any token sequence equal its character count. Specials count 0.
    Example (char): [0, 0, 0, 1, 1, ...]; (bpe) 'Ġque' -> 4, 'Ã' (first byte of 'ã') -> 1, '£' (its second) -> 0.
    """
    vocab = tokenizer.get_vocab()
    special = set(tokenizer.all_special_ids)
    byte_level = isinstance(tokenizer.backend_tokenizer.pre_tokenizer, pre_tokenizers.ByteLevel)
    decode_byte = {v: k for k, v in _bytes_to_unicode().items()}
    counts = [0] * len(vocab)
    for token, i in vocab.items():
        if i in special:
            continue
        if byte_level:
            counts[i] = sum(1 for ch in token if (decode_byte[ch] & 0xC0) != 0x80)
        else:
            counts[i] = len(token)
    return counts


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table, the one ByteLevel uses."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def round_trip_failures(tok: Tokenizer, texts: list[str], names: list[str]) -> list[dict]:
    """Texts for which decode(encode(x)) != NFC(x), with the first differing position and its context."""
    failures = []
    decoded = tok.decode_batch([e.ids for e in tok.encode_batch_fast(texts)], skip_special_tokens=False)
    for name, text, out in zip(names, texts, decoded):
        want = unicodedata.normalize("NFC", text)
        if out != want:
            i = next((k for k, (a, b) in enumerate(zip(out, want)) if a != b), min(len(out), len(want)))
            failures.append({"text": name, "position": i, "expected": want[max(0, i - 20): i + 20],
                             "got": out[max(0, i - 20): i + 20]})
    return failures


def train_tokenizer(dsd, args: TokenizerArguments, model_max_length: int, log=print) -> PreTrainedTokenizerFast:
    """Train on the train split only, check the exact round trip on every split, save with a report."""
    out = Path(args.tokenizer_dir)
    if out.exists() and any(out.iterdir()) and not (out / REPORT).is_file():  # fail before any work
        raise MachadoError.of("tokenizer_dir_foreign", path=str(out))
    start = time.perf_counter()
    train_texts = dsd["train"]["text"]
    if args.tokenizer_kind == "char":
        tok = char_tokenizer(train_texts)
    else:
        tok = bpe_tokenizer(train_texts, args.tokenizer_vocab_size)
    train_seconds = time.perf_counter() - start

    report: dict = {"kind": args.tokenizer_kind, "vocab_size": tok.get_vocab_size(), "train_seconds": round(train_seconds, 2)}
    failures = []
    for split in dsd:
        texts = dsd[split]["text"]
        failures += round_trip_failures(tok, texts, [f"{split}/{w}" for w in dsd[split]["work"]])
        if split == "train":
            continue
        ids = [e.ids for e in tok.encode_batch_fast(texts)]
        n_tokens, n_chars = sum(map(len, ids)), sum(len(unicodedata.normalize("NFC", t)) for t in texts)
        report[f"{split}_chars_per_token"] = round(n_chars / n_tokens, 4)
        if args.tokenizer_kind == "char":
            unk = tok.token_to_id(UNK)
            report[f"{split}_unk_count"] = sum(i == unk for seq in ids for i in seq)
    report["round_trip_failures"] = failures
    tokenizer = wrap(tok, args.tokenizer_kind, model_max_length)
    save(tokenizer, out, report)
    log(json.dumps(report, ensure_ascii=False, indent=2))
    for f in failures:
        log(f"round trip FAILED on {f['text']} at {f['position']}: expected {f['expected']!r}, got {f['got']!r}")
    log(f"tokenizer saved to {out}")
    return tokenizer


def encode_works(backend: Tokenizer, eos: int, texts: list[str]) -> list[list[int]]:
    """Each text's ids followed by `<|endoftext|>`, which separates works. The backend tokenizer is called directly:
    the wrapper would warn that a whole work exceeds model_max_length."""
    return [e.ids + [eos] for e in backend.encode_batch_fast(texts)]


def with_dropout(tokenizer: PreTrainedTokenizerFast, dropout: float) -> Tokenizer:
    """A copy of the backend whose BPE model skips each merge with probability `dropout` (a new segmentation at every
    call). `tokenizers` reads the dropout only when no cache answers first (tokenizers#201): a model built from the
    JSON has an empty cache, and BPE never caches while dropout is on. `tests/test_augmentation.py` checks that the
    ids really vary."""
    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    if spec["model"]["type"] != "BPE" or not spec["model"]["merges"]:
        raise MachadoError.of("bpe_dropout", value=str(dropout))  # a char tokenizer has no merges to drop
    spec["model"]["dropout"] = dropout
    return Tokenizer.from_str(json.dumps(spec))


def tokenize_dataset(dsd, tokenizer: PreTrainedTokenizerFast, num_proc: int | None = None):
    """Batched, cached `Dataset.map` of `encode_works` over every split."""
    backend, eos = tokenizer.backend_tokenizer, tokenizer.eos_token_id

    def encode(batch):
        return {"input_ids": encode_works(backend, eos, batch["text"])}

    return dsd.map(encode, batched=True, batch_size=16, num_proc=num_proc, desc="tokenizing",
                   remove_columns=[c for c in dsd["train"].column_names if c not in ("genre", "work", "n_chars")])
