"""The Machado de Assis corpus as a `datasets.DatasetDict`: reading, cleaning, leak-free splits, card, cache.

Layout read: `<corpus_dir>/<genre>/<work>.txt` (the Kaggle dataset `luxedo/machado-de-assis`).
Rows: one per work and split, with columns text, genre, work, title, n_chars, n_paragraphs.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

from datasets import Dataset, DatasetDict, Features, Value, load_from_disk

from . import cleaning
from .utils import MachadoError, default_corpus_dir, write_json

KAGGLE_DATASET = "luxedo/machado-de-assis"
KAGGLE_URL = "https://www.kaggle.com/datasets/luxedo/machado-de-assis"
SPLITS = ("train", "validation", "test")
POETRY = "poesia"
# Held-out paragraphs this long that also occur in train are dropped; shorter ones ("— Sim.", "CAPÍTULO II")
# repeat everywhere and carry no leak.
LEAK_MIN_CHARS = 30
# Bump when the cleaning or split code changes, so that saved datasets are rebuilt.
BUILD_VERSION = 3


class CorpusWarning(UserWarning):
    """A corpus file was skipped (empty, binary or not UTF-8); the build goes on without it."""


@dataclass
class DataArguments:
    """Where the corpus is, how it is cleaned and split, and where the dataset is saved."""

    corpus_dir: str | None = field(
        default=None, metadata={"help": "Corpus folder <genre>/<work>.txt; default $MACHADO_CORPUS_DIR or data/machado-de-assis"}
    )
    dataset_dir: str = field(default="data/machado-dataset", metadata={"help": "Where the DatasetDict is saved"})
    normalize: bool = field(default=True, metadata={"help": "NFC, \\r\\n -> \\n, trailing spaces, blank-line runs"})
    drop_index: bool = field(default=True, metadata={"help": "Drop the title line and ÍNDICE (table of contents) blocks"})
    rejoin_prose: bool = field(default=True, metadata={"help": "Rejoin hard-wrapped prose lines into paragraphs"})
    validation_fraction: float = field(default=0.05, metadata={"help": "Share of each work's characters, at its end"})
    test_fraction: float = field(default=0.05, metadata={"help": "Share of each work's characters, before validation"})
    min_paragraphs: int = field(default=20, metadata={"help": "Works with fewer paragraphs go whole to train"})
    force_rebuild: bool = field(default=False, metadata={"help": "Rebuild even if the saved dataset is up to date"})
    train_fraction: float = field(default=1.0, metadata={
        "help": "Train on the first share of every work's train text (0.25: a quarter), a cheaper proxy for many "
                "epochs; the saved dataset, validation and test are unchanged"})
    shift_blocks: bool = field(default=False, metadata={
        "help": "Cut the train blocks at a new random offset every epoch after the first, a data augmentation for "
                "many passes: each pass shows every token with other context (BPE-dropout moves the cuts already)"})

    def __post_init__(self):
        if not (0 < self.validation_fraction < 0.5 and 0 < self.test_fraction < 0.5):
            raise MachadoError.of("fractions")
        if not 0 < self.train_fraction <= 1:
            raise MachadoError.of("train_fraction", value=str(self.train_fraction))

    @property
    def cleaning_options(self) -> dict:
        return {"normalize": self.normalize, "drop_index": self.drop_index, "rejoin_prose": self.rejoin_prose}


def list_works(corpus_dir: Path) -> list[Path]:
    """All `<genre>/<work>.txt` files, sorted; a clear error if there are none."""
    if not corpus_dir.is_dir():
        raise MachadoError.of("missing_corpus", path=str(corpus_dir), dataset=KAGGLE_DATASET, url=KAGGLE_URL)
    if not any(corpus_dir.iterdir()):
        raise MachadoError.of("empty_corpus", path=str(corpus_dir), dataset=KAGGLE_DATASET, url=KAGGLE_URL)
    files = sorted(p for p in corpus_dir.glob("*/*.txt") if p.is_file())
    if not files:
        raise MachadoError.of("corpus_layout", path=str(corpus_dir), url=KAGGLE_URL)
    return files


def read_work(path: Path) -> str | None:
    """The file's text, or None (with a CorpusWarning naming the file) if it is empty, binary or not UTF-8."""
    data = path.read_bytes()
    if not data.strip():
        warnings.warn(f"skipping empty file {path}", CorpusWarning, stacklevel=2)
        return None
    if b"\x00" in data[:8192]:
        warnings.warn(f"skipping binary file {path} (it holds NUL bytes; is it really text?)", CorpusWarning, stacklevel=2)
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        warnings.warn(
            f"skipping {path}: not UTF-8 (byte {e.start}); convert it with `iconv -f latin1 -t utf-8`",
            CorpusWarning,
            stacklevel=2,
        )
        return None


def clean_work(raw: str, genre: str, options: dict) -> tuple[str, str]:
    """(title, cleaned text) of one work. With every option off the text is the raw file, title included."""
    text = raw
    if options["normalize"]:
        text = cleaning.normalize_unicode(cleaning.normalize_newlines(text))
        text = cleaning.collapse_blank_lines(cleaning.strip_trailing_spaces(text))
    title, body = cleaning.split_title(text)
    if options["drop_index"]:
        text = cleaning.drop_index_blocks(body)
    if options["rejoin_prose"] and genre != POETRY:
        text = cleaning.rejoin_hard_wraps(text)
    return title, text.strip("\n")


def split_work(text: str, validation_fraction: float, test_fraction: float, min_paragraphs: int) -> dict[str, str]:
    """Cut a work into train / test / validation at paragraph (line) boundaries: the last
    `validation_fraction` of its characters is validation, the `test_fraction` before it is test.

    Works with fewer than `min_paragraphs` non-empty lines go whole to train.
    Example: 40 equal paragraphs, 0.05 / 0.05 -> 36 train, 2 test, 2 validation.
    """
    lines = text.split("\n")
    nonempty = [i for i, s in enumerate(lines) if s.strip()]
    if len(nonempty) < min_paragraphs:
        return {"train": text, "validation": "", "test": ""}
    total = sum(len(s) + 1 for s in lines)

    def cut(fraction_from_end: float) -> int:
        # The first non-empty line at or after the point that leaves `fraction_from_end` of the characters.
        target, acc = total * (1 - fraction_from_end), 0
        for i, s in enumerate(lines):
            if acc >= target and s.strip():
                return i
            acc += len(s) + 1
        return nonempty[-1]

    v = min(cut(validation_fraction), nonempty[-1])  # validation keeps at least the last paragraph
    t = min(cut(validation_fraction + test_fraction), v)
    if t == v:  # test keeps at least one paragraph
        t = max(i for i in nonempty if i < v)
    parts = {"train": lines[:t], "test": lines[t:v], "validation": lines[v:]}
    return {k: "\n".join(ls).strip("\n") for k, ls in parts.items()}


def drop_leaked_paragraphs(rows: dict[str, list[dict]], min_chars: int = LEAK_MIN_CHARS) -> int:
    """Remove from validation/test every paragraph of >= `min_chars` characters that also occurs in train.

    Some texts are printed twice in the corpus (a poem in two collections, a review in two critiques),
    so a held-out span can repeat a train paragraph word for word. Returns how many were dropped (43 here).
    """
    seen = {p for r in rows["train"] for p in r["text"].split("\n") if len(p) >= min_chars}
    dropped = 0
    for split in ("validation", "test"):
        for r in rows[split]:
            kept = [p for p in r["text"].split("\n") if len(p) < min_chars or p not in seen]
            dropped += r["text"].count("\n") + 1 - len(kept)
            r["text"] = "\n".join(kept).strip("\n")
    return dropped


def _fingerprint(files: list[Path], corpus_dir: Path, args: DataArguments) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([BUILD_VERSION, args.cleaning_options, args.validation_fraction, args.test_fraction,
                         args.min_paragraphs]).encode())
    for p in files:
        h.update(str(p.relative_to(corpus_dir)).encode())
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def corpus_stats(dsd: DatasetDict) -> dict:
    """Counts of works, characters and paragraphs per split and genre: {split: {genre: {...}}}."""
    stats: dict = {}
    for split in SPLITS:
        per_genre: dict = {}
        for row in dsd[split].select_columns(["genre", "n_chars", "n_paragraphs"]):
            g = per_genre.setdefault(row["genre"], {"works": 0, "chars": 0, "paragraphs": 0})
            g["works"] += 1
            g["chars"] += row["n_chars"]
            g["paragraphs"] += row["n_paragraphs"]
        stats[split] = dict(sorted(per_genre.items()))
    return stats


def build_dataset(args: DataArguments, log=print) -> DatasetDict:
    """Build (or load, if up to date) the cleaned, split DatasetDict saved at `args.dataset_dir`."""
    corpus_dir = default_corpus_dir(args.corpus_dir)
    out = Path(args.dataset_dir)
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CorpusWarning)
        if not corpus_dir.exists() and (out / "build_info.json").is_file() and not args.force_rebuild:
            log(f"corpus {corpus_dir} not found: using the dataset saved at {out}")
            return load_from_disk(str(out))
        files = list_works(corpus_dir)
        fingerprint = _fingerprint(files, corpus_dir, args)
        info_path = out / "build_info.json"
        if not args.force_rebuild and info_path.is_file():
            if json.loads(info_path.read_text(encoding="utf-8")).get("fingerprint") == fingerprint:
                log(f"dataset at {out} is up to date (fingerprint {fingerprint[:12]})")
                return load_from_disk(str(out))

        rows: dict[str, list[dict]] = {s: [] for s in SPLITS}
        measures = {"prose": {"raw": [0, 0], "clean": [0, 0]}, "poetry": {"raw_breaks": 0, "kept_breaks": 0}}
        for path in files:
            raw = read_work(path)
            if raw is None:
                continue
            genre, work = path.parent.name, path.stem
            title, text = clean_work(raw, genre, args.cleaning_options)
            _measure(raw, text, genre, args.cleaning_options, measures)
            parts = split_work(text, args.validation_fraction, args.test_fraction, args.min_paragraphs)
            for split, part in parts.items():
                rows[split].append({"text": part, "genre": genre, "work": work, "title": title})
    for w in caught:
        log(f"warning: {w.message}")
        warnings.warn(w.message, w.category, stacklevel=2)
    if not rows["train"]:
        raise MachadoError.of("no_readable_works", path=str(corpus_dir))
    n_dropped = drop_leaked_paragraphs(rows)
    for split in SPLITS:
        rows[split] = [{**r, "n_chars": len(r["text"]), "n_paragraphs": sum(1 for s in r["text"].split("\n") if s.strip())}
                       for r in rows[split] if r["text"].strip()]

    dsd = DatasetDict({s: Dataset.from_dict({k: [r[k] for r in rows[s]] for k in FEATURES}, features=FEATURES)
                       for s in SPLITS})
    stats = corpus_stats(dsd)
    figures = {**_figures(measures), "heldout_paragraphs_dropped_as_duplicates": n_dropped}
    seconds = time.perf_counter() - start
    info = {"fingerprint": fingerprint, "corpus_dir": str(corpus_dir), "n_files": len(files),
            "skipped": [str(w.message) for w in caught], "options": asdict(args), "figures": figures,
            "stats": stats, "build_seconds": round(seconds, 2)}
    _save_atomically(dsd, out, info)
    _log_build(log, stats, figures, out, seconds)
    return load_from_disk(str(out))  # the saved copy: its Dataset.map results are cached on disk


FEATURES = Features({"text": Value("string"), "genre": Value("string"), "work": Value("string"),
                     "title": Value("string"), "n_chars": Value("int64"), "n_paragraphs": Value("int64")})


def _measure(raw: str, text: str, genre: str, options: dict, m: dict) -> None:
    """Accumulate the cleaning's measured targets: mid-sentence newlines in prose, kept verse breaks."""
    if genre == POETRY:
        # Verse breaks the cleaning had to keep: those left after normalization and index removal.
        base = clean_work(raw, genre, {**options, "rejoin_prose": False})[1] if options["rejoin_prose"] else text
        m["poetry"]["raw_breaks"] += base.count("\n")
        m["poetry"]["kept_breaks"] += text.count("\n")
        return
    for key, t in (("raw", raw), ("clean", text)):
        m["prose"][key][0] += round(cleaning.mid_sentence_newline_share(t) * t.count("\n"))
        m["prose"][key][1] += t.count("\n")


def _figures(m: dict) -> dict:
    share = lambda a: a[0] / a[1] if a[1] else 0.0  # noqa: E731
    p = m["poetry"]
    return {
        "prose_mid_sentence_newlines_raw": round(share(m["prose"]["raw"]), 4),
        "prose_mid_sentence_newlines_clean": round(share(m["prose"]["clean"]), 4),
        "poetry_line_breaks_kept": round(p["kept_breaks"] / p["raw_breaks"], 4) if p["raw_breaks"] else 1.0,
    }


def _save_atomically(dsd: DatasetDict, out: Path, info: dict) -> None:
    """Write into a temporary sibling folder, then swap it in: a failed build leaves the old dataset intact."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        # One shard per split: the corpus is 10 MB, and an empty split saved with 0 shards cannot be loaded back.
        dsd.save_to_disk(str(tmp), num_shards={split: 1 for split in dsd})
        (tmp / "README.md").write_text(dataset_card(info), encoding="utf-8")
        write_json(tmp / "build_info.json", info)
        if out.exists():
            if not (out / "build_info.json").is_file():
                raise MachadoError.of("dataset_dir_foreign", path=str(out))
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _log_build(log, stats: dict, figures: dict, out: Path, seconds: float) -> None:
    log(f"{'split':<11}{'genre':<12}{'works':>6}{'chars':>11}{'paragraphs':>12}")
    for split, per_genre in stats.items():
        for genre, s in per_genre.items():
            log(f"{split:<11}{genre:<12}{s['works']:>6}{s['chars']:>11,}{s['paragraphs']:>12,}")
    log(f"prose newlines mid-sentence: {figures['prose_mid_sentence_newlines_raw']:.1%} raw -> "
        f"{figures['prose_mid_sentence_newlines_clean']:.1%} clean (target < 5%)")
    log(f"poetry line breaks kept: {figures['poetry_line_breaks_kept']:.1%} (target >= 95%)")
    log(f"saved to {out} in {seconds:.1f} s")


def load_dataset_dir(dataset_dir: str | Path) -> DatasetDict:
    """Load a saved dataset, with a clear error if it was never built."""
    path = Path(dataset_dir)
    if not (path / "dataset_dict.json").is_file():
        raise MachadoError.of("no_dataset", path=str(path))
    return load_from_disk(str(path))


def dataset_card(info: dict) -> str:
    """The dataset card (README.md) with the Hub's YAML header, written into the saved folder."""
    stats, fig, opts = info["stats"], info["figures"], info["options"]
    n_chars = sum(g["chars"] for split in stats.values() for g in split.values())
    table = ["| split | genre | works | characters | paragraphs |", "|---|---|---:|---:|---:|"]
    for split, per_genre in stats.items():
        for genre, s in per_genre.items():
            table.append(f"| {split} | {genre} | {s['works']} | {s['chars']:,} | {s['paragraphs']:,} |")
    steps = [name for name, on in (("Unicode NFC, `\\r\\n` -> `\\n`, trailing spaces stripped, blank-line runs "
                                    "collapsed", opts["normalize"]),
                                   ("title line moved to the `title` column and every `ÍNDICE` (table of contents) "
                                    "block dropped", opts["drop_index"]),
                                   ("hard-wrapped prose lines rejoined into one line per paragraph, words hyphenated "
                                    "across a break rejoined; poetry keeps its verse lines", opts["rejoin_prose"])) if on]
    return f"""---
language:
- pt
license: cc0-1.0
pretty_name: Machado de Assis, complete works (cleaned)
task_categories:
- text-generation
size_categories:
- n<1K
source_datasets:
- {KAGGLE_DATASET}
tags:
- literature
- portuguese
- machado-de-assis
---

# Machado de Assis, complete works (cleaned for language modelling)

The works of Machado de Assis (1839-1908), public domain, as extracted from the PDFs of the Brazilian
Ministry of Education's public collection and published as the Kaggle dataset
[`{KAGGLE_DATASET}`]({KAGGLE_URL}). {info['n_files']} files, {n_chars:,} characters after cleaning.
Built by `machado_gpt.corpus` (build version {BUILD_VERSION}) in {info['build_seconds']} s.

## Columns
`text` (a contiguous span of one work), `genre`, `work` (file stem), `title`, `n_chars`, `n_paragraphs`.

## Cleaning
{chr(10).join(f"- {s}" for s in steps) or "- none: the raw text, for comparison with the thesis"}

Measured: newlines falling mid-sentence in prose (lowercase letter or comma before, lowercase letter after)
{fig['prose_mid_sentence_newlines_raw']:.1%} raw -> {fig['prose_mid_sentence_newlines_clean']:.1%} cleaned;
poetry line breaks kept: {fig['poetry_line_breaks_kept']:.1%}.

## Splits
Leak-free and representative: every work with at least {opts['min_paragraphs']} paragraphs gives the last
{opts['validation_fraction']:.0%} of its characters to `validation` and the {opts['test_fraction']:.0%} before that
to `test`, cut at paragraph boundaries; shorter works go whole to `train`. Every genre is in every split.

{chr(10).join(table)}
"""


def download_corpus(target: Path) -> Path:
    """Fetch the Kaggle dataset with kagglehub and copy its `<genre>/<work>.txt` tree to `target`."""
    if target.exists() and any(target.iterdir()):
        raise MachadoError.of("corpus_target_full", path=str(target))
    try:
        import kagglehub

        path = Path(kagglehub.dataset_download(KAGGLE_DATASET))
    except Exception as e:  # offline, no credentials, Kaggle down: all end the same way for the user
        error = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        raise MachadoError.of("download_failed", dataset=KAGGLE_DATASET, error=error, url=KAGGLE_URL,
                              path=str(target)) from None
    # The archive may nest the genre folders one level down (machado-de-assis/raw/<genre>/...).
    root = next((p.parent.parent for p in sorted(path.rglob("*.txt"))), None)
    if root is None:
        raise MachadoError.of("download_empty", path=str(path), url=KAGGLE_URL)
    shutil.copytree(root, target, dirs_exist_ok=True)
    return target
