"""Shared plumbing: the project's error type, YAML + CLI argument parsing, and the CLI error wrapper."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml


class MachadoError(Exception):
    """A user-facing error: its message is one line naming the problem and the fix. One made by `of` also carries
    its catalog key and parameters, so that the demo can show it in its reader's language (machado_gpt/i18n.py)."""

    key: str | None = None
    params: dict = {}

    @classmethod
    def of(cls, key: str, **params) -> MachadoError:
        from .i18n import message

        error = cls(message(key, "en", **params))
        error.key, error.params = key, params
        return error

    def in_language(self, lang: str) -> str:
        from .i18n import message

        return message(self.key, lang, **self.params) if self.key else str(self)


def parse_config(dataclass_types: Sequence[type], argv: Sequence[str] | None = None) -> tuple:
    """Parse `--config recipe.yaml` plus CLI flags into the given dataclasses (CLI overrides YAML).

    Unknown keys in the YAML or on the command line are an error, as in TRL's `--config`.
    """
    from transformers import HfArgumentParser

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = HfArgumentParser(dataclass_types)
    for action in parser._actions:  # argparse %-formats help texts; ours are plain text ("the last 40%")
        if action.help and "%" in action.help and "%(" not in action.help:
            action.help = action.help.replace("%", "%%")
    config_path = None
    if "--config" in argv:
        i = argv.index("--config")
        if i + 1 >= len(argv):
            raise MachadoError.of("config_needs_path")
        config_path = argv[i + 1]
        del argv[i : i + 2]
    defaults: dict[str, Any] = {}
    if config_path:
        if not Path(config_path).is_file():
            raise MachadoError.of("config_not_found", path=config_path)
        defaults = yaml.safe_load(Path(config_path).read_text(encoding="utf-8")) or {}
        known = {f.name for t in dataclass_types for f in dataclasses.fields(t)}
        unknown = sorted(set(defaults) - known)
        if unknown:
            raise MachadoError.of("unknown_keys", keys=str(unknown), path=config_path)
    # YAML values go first as flags, so argparse checks their types; later CLI flags win.
    try:
        return parser.parse_args_into_dataclasses(args=_as_flags(defaults) + argv, return_remaining_strings=False)
    except SystemExit as e:
        if e.code in (0, None):
            raise
        raise MachadoError.of("bad_arguments", argv=" ".join(argv)) from None
    except ValueError as e:  # unknown flags, and TrainingArguments' own cross-field checks
        raise MachadoError.of("bad_arguments_detail", detail=str(e).splitlines()[0]) from None


def recipe_values(argv: Sequence[str], parsed: Sequence[Any]) -> dict[str, Any]:
    """The keys a user set (in the --config YAML or as flags), with their parsed values: a recipe to write back."""
    argv = list(argv)
    keys: list[str] = []
    if "--config" in argv:
        path = argv[argv.index("--config") + 1]
        keys += list(yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {})
    keys += [a[2:] for a in argv if a.startswith("--") and a != "--config"]
    values = {}
    for key in dict.fromkeys(keys):
        for obj in parsed:
            if hasattr(obj, key):
                value = getattr(obj, key)
                values[key] = value.value if hasattr(value, "value") else value  # enums (eval_strategy...) as text
                break
    return values


def _as_flags(values: dict[str, Any]) -> list[str]:
    """{'n_layer': 4, 'report_to': ['wandb'], 'bf16': True} -> ['--n_layer', '4', '--report_to', 'wandb', '--bf16', 'True']."""
    flags: list[str] = []
    for key, value in values.items():
        if value is None:
            continue
        flags.append(f"--{key}")
        if isinstance(value, list):
            flags.extend(str(v) for v in value or ["none"])  # report_to: [] means none
        elif isinstance(value, dict):
            flags.append(json.dumps(value))
        else:
            flags.append(str(value))
    return flags


def model_dir_first(argv: Sequence[str] | None) -> list[str]:
    """`script.py machado-gpt --flag ...`: a leading folder is --model_dir."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return ["--model_dir", argv[0], *argv[1:]] if argv and not argv[0].startswith("-") else argv


def run_cli(main: Callable[[Sequence[str] | None], Any]) -> None:
    """Run a script's main(); a MachadoError becomes one line on stderr, in the terminal's language where the message
    has a Portuguese text (LANG=pt_BR.UTF-8 or MACHADO_LANG=pt), and exit status 2."""
    from .i18n import cli_language

    try:
        main(None)
    except MachadoError as e:
        lang = cli_language()
        print(f"{'erro' if lang == 'pt' else 'error'}: {e.in_language(lang)}", file=sys.stderr)
        sys.exit(2)


def default_corpus_dir(flag: str | None = None) -> Path:
    """The corpus location: the flag, else $MACHADO_CORPUS_DIR, else data/machado-de-assis."""
    return Path(flag or os.environ.get("MACHADO_CORPUS_DIR") or "data/machado-de-assis")


def write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
