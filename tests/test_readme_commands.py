"""Every command of the README's Training, Hyperparameter search and Scale sections runs as written, with tiny
overrides appended (a 1-layer model, 2 steps, scratch folders). The first command of each recipe runs from nothing
but the corpus: it builds the dataset and the tokenizer itself; the recipe's later commands find them built, as a
reader's would after the first. Commands that need a GPU or the network are marked so in the README and are checked
for that mark (and, for W&B sweeps, for their offline error)."""

import re
import shlex
import subprocess
import sys

import pytest

from tests.conftest import ROOT

# Where the commands are: the README's short list, and the training page's full one.
SECTIONS = {"README.md": ("## Training, and more",),
            "docs/training.md": ("## Training", "## Hyperparameter search", "## Scale: GPUs and machines")}
DOCS = ("training", "results", "performance", "gpu", "clients", "demo", "hub", "corpus", "tests")
NEEDS_GPU = ("single-gpu-bf16.yaml", "multi-gpu-ddp.yaml", "multi-node.yaml", "fsdp.yaml")


def readme_commands() -> list[tuple[str, str]]:
    """(command, its comment) for every command line of the sections; continuation lines are joined."""
    commands = []
    for path, title in ((path, title) for path, titles in SECTIONS.items() for title in titles):
        body = (ROOT / path).read_text(encoding="utf-8").split(title + "\n", 1)[1].split("\n## ", 1)[0]
        for block in re.findall(r"```bash\n(.*?)```", body, flags=re.S):
            joined = re.sub(r"\\\s*(#[^\n]*)?\n\s*", " ", block)
            for line in joined.splitlines():
                command, _, comment = line.partition("  #")
                if command.strip().startswith(("python ", "accelerate launch")):
                    commands.append((command.strip(), comment))
    return list(dict((c, (c, comment)) for c, comment in commands).values())  # a command in both places runs once


COMMANDS = readme_commands()


def test_the_readme_has_the_commands_this_test_runs():
    commands = [c for c, _ in COMMANDS]
    assert len(commands) >= 10
    assert any("--time_budget" in c for c in commands) and any("--hp_search optuna" in c for c in commands)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One dataset and tokenizer folder per recipe, shared by its commands: building them is most of a tiny run
    (about 25 s), and the first command of each recipe still builds them from nothing."""
    folders = {}

    def folder(recipe: str):
        if recipe not in folders:
            folders[recipe] = tmp_path_factory.mktemp("readme-" + recipe.replace("/", "-").removesuffix(".yaml"))
        return folders[recipe]

    return folder


@pytest.mark.slow  # about 10 trainings of 15-40 s: after the main suite
@pytest.mark.parametrize("command, comment", COMMANDS, ids=[c for c, _ in COMMANDS])
def test_readme_command_runs_as_written(command, comment, corpus_dir, built, tmp_path):
    argv = shlex.split(command.replace("<user>", "someone"))
    if any(name in command for name in NEEDS_GPU):
        assert "needs a GPU" in comment, f"mark {command!r} in the README: # needs a GPU"
        pytest.skip("needs a GPU (marked so in the README)")
    if "--hp_search wandb" in command:
        assert "W&B account" in comment, f"mark {command!r} in the README: # W&B account needed"
    if argv[0] == "python":
        argv = [sys.executable, *argv[1:]]
    else:  # accelerate launch: the environment's own launcher
        argv = [str(ROOT / ".venv/bin/accelerate"), *argv[1:]]
    data = built(argv[argv.index("--config") + 1])
    tiny = ["--corpus_dir", str(corpus_dir), "--dataset_dir", str(data / "dataset"), "--tokenizer_dir",
            str(data / "tokenizer"), "--output_dir", str(tmp_path / "run"), "--model_dir", str(tmp_path / "model"),
            "--n_layer", "1", "--n_embd", "32", "--n_head", "2", "--max_steps", "2", "--max_eval_blocks", "8",
            "--per_device_train_batch_size", "4", "--per_device_eval_batch_size", "2", "--sample_max_new_tokens", "4",
            "--report_to", "none", "--tokenizer_vocab_size", "300"]
    if "--hp_search" in command:
        tiny += ["--n_trials", "1", "--eval_steps", "1", "--max_steps", "2"]
    else:
        tiny += ["--eval_strategy", "no", "--save_strategy", "no"]
    if "--report_to wandb" in command:
        tiny = [a for a in tiny if a not in ("--report_to", "none")]
    env_extra = {"WANDB_MODE": "offline", "HF_HUB_OFFLINE": "1"}
    import os

    fresh = not (data / "tokenizer" / "tokenizer.json").is_file()  # the recipe's first command: nothing built yet
    proc = subprocess.run([*argv, *tiny], cwd=ROOT, capture_output=True, text=True, env={**os.environ, **env_extra},
                          timeout=600)
    if "--hp_search wandb" in command:  # needs W&B's server: offline it is one clear line
        assert proc.returncode == 2 and "W&B sweeps cannot run offline" in proc.stderr
        return
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (data / "tokenizer" / "tokenizer.json").is_file() and (data / "dataset").is_dir()
    # The first command built both itself, from the corpus alone; the later ones found them and built nothing.
    log = proc.stdout + proc.stderr
    built_here = ("training it first" in log, f"saved to {data / 'dataset'} in" in log)
    assert built_here == (fresh, fresh), log[-3000:]
    if "--hp_search" in command:
        assert (tmp_path / "run" / "best-recipe.yaml").is_file()
    else:
        assert (tmp_path / "model" / "model.safetensors").is_file()


def test_the_portuguese_readme_keeps_in_step_with_the_english_one():
    """README.pt-BR.md: linked both ways; every make target and script it names exists; every flag it uses is one
    the English README documents too (a renamed flag fails here until both are updated)."""
    pt = (ROOT / "README.pt-BR.md").read_text(encoding="utf-8")
    en = (ROOT / "README.md").read_text(encoding="utf-8")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "(README.pt-BR.md)" in en.split("## Quick start")[0] and "(README.md)" in pt.split("## ")[0]
    code = "\n".join(re.findall(r"```(?:bash|python)\n(.*?)```", pt, flags=re.S))
    for target in set(re.findall(r"\bmake ([a-z-]+)", code)):
        assert re.search(rf"^{target}:", makefile, flags=re.M), f"make {target}"
    for script in set(re.findall(r"(?:python|node) ([\w/]+\.(?:py|mjs))", code)):
        assert (ROOT / script).is_file(), script
    documented = en + "".join((ROOT / "docs" / f"{page}.md").read_text(encoding="utf-8") for page in DOCS)
    for flag in set(re.findall(r"(--\w+)", code)):
        assert flag in documented, f"{flag} is in README.pt-BR.md but not in README.md or docs/"
    for section in ("Começo rápido", "O corpus", "Anatomia do GPT, na prática: o caderno", "Treinar", "Gerar texto",
                    "Sonhos machadianos", "Publicar no Hub", "Glossário", "Documentação", "Testes"):
        assert f"## {section}" in pt or f": {section}" in pt, section
    for word in ("token", "janela", "temperatura", "bits por caractere"):  # the glossary a student needs
        assert f"- **{word}**" in pt.split("## Glossário", 1)[1], word


def test_both_readmes_are_short_and_link_every_docs_page():
    """The README's shape (STYLE.md): pitch, quick start, notebook, results with one picture, use, links to docs/."""
    for name in ("README.md", "README.pt-BR.md"):
        text = (ROOT / name).read_text(encoding="utf-8")
        assert len(text.splitlines()) <= 250, name
        for page in DOCS:
            assert f"(docs/{page}.md)" in text, f"{name} does not link docs/{page}.md"
        for link in re.findall(r"\]\(((?:docs|notebooks)/[^)#]+)", text):
            assert (ROOT / link).exists(), f"{name} links {link}, which does not exist"
        assert "colab.research.google.com/github/" in text  # the notebook's badge


def test_headline_figures_come_from_the_committed_results_file():
    """docs/results/headline.json (benchmarks/headline.py, from what `make all` wrote) is what both READMEs and
    docs/results.md quote, each in its language's numbers: none can disagree with it or with the others."""
    import json

    from machado_gpt.i18n import number

    headline = json.loads((ROOT / "docs/results/headline.json").read_text(encoding="utf-8"))
    for name, lang in (("README.md", "en"), ("README.pt-BR.md", "pt"), ("docs/results.md", "en")):
        text = (ROOT / name).read_text(encoding="utf-8")
        figures = [number(headline["steps"], lang), number(headline["tokens_per_second"], lang),
                   number(headline["test_bits_per_char"], lang, 3), number(100 * headline["word_validity"], lang, 1),
                   number(100 * headline["word_validity_temperature_1"], lang, 1)]
        for figure in figures:
            assert figure in text, f"{name} does not quote {figure} from docs/results/headline.json"
    assert headline["machine"].split(",")[0] in (ROOT / "README.md").read_text(encoding="utf-8")
