"""Share a model folder (and the dataset) on the Hugging Face Hub: stage exactly the files a user needs, check
that they load, then `create_repo` + `upload_folder`. The token comes from HF_TOKEN or `hf auth login`."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .card import folder_card
from .utils import MachadoError

# What a user needs, and nothing else: no training_args.bin or other pickles, no optimizer states, no checkpoints.
UPLOAD_PATTERNS = ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
                   "tokenizer_config.json", "special_tokens_map.json", "README.md", "metrics.json", "run_config.yaml",
                   "eval_*.json", "eval_*.png", "training_curve.png",
                   "onnx/model.onnx", "onnx/model_quantized.onnx", "onnx/model_optimized.onnx",
                   "onnx/export.json")
NEVER = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
ROOT = Path(__file__).resolve().parents[1]


@dataclass
class HubArguments:
    model_dir: str = field(default="machado-gpt", metadata={"help": "Model folder written by train_hf.py"})
    repo_id: str | None = field(default=None, metadata={"help": "Hub repository, user/name"})
    private: bool = field(default=False, metadata={"help": "Create the repository as private"})
    dataset: str | None = field(default=None, metadata={"help": "Also push the DatasetDict to this dataset repo id"})
    dataset_dir: str = field(default="data/machado-dataset", metadata={"help": "The saved dataset pushed by --dataset"})
    dry_run: bool = field(default=False, metadata={"help": "Stage and check the upload locally; upload nothing"})
    staging_dir: str = field(default="out/hub-staging", metadata={"help": "Where the upload is staged"})
    space: str | None = field(default=None, metadata={
        "help": "Also stage (and push) the Gradio demo as this Space, user/name, running the model of --repo_id"})

    def __post_init__(self):
        if not self.repo_id or self.repo_id.count("/") != 1:
            raise MachadoError.of("repo_id", value=repr(self.repo_id))
        if self.space is not None and self.space.count("/") != 1:
            raise MachadoError.of("space_id", value=repr(self.space))


def stage(model_dir: Path, staging: Path, repo_id: str) -> list[tuple[str, int]]:
    """Copy the allowed files into a clean staging folder, with the card rewritten for `repo_id`."""
    from .evaluation import check_model_location

    check_model_location(str(model_dir))  # the same one-line errors as generate.py and evaluate_model.py
    if not (model_dir / "config.json").is_file() or not (model_dir / "model.safetensors").is_file():
        raise MachadoError.of("not_trained_folder", path=str(model_dir))
    unsafe = sorted(p.name for p in model_dir.rglob("*") if p.is_file() and p.name.endswith(NEVER + (".py",)))
    if unsafe:  # a pickle runs code when loaded; a .py file is what trust_remote_code would run
        kind = ({"en": "Python code that trust_remote_code would run", "pt": "código Python que trust_remote_code rodaria"}
                if unsafe[0].endswith(".py") else
                {"en": "a pickle, which runs code when loaded", "pt": "um pickle, que roda código ao ser carregado"})
        raise MachadoError.of("unsafe_file", path=str(model_dir), name=unsafe[0], kind=kind)
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    for pattern in UPLOAD_PATTERNS:
        for p in sorted(model_dir.glob(pattern)):  # pickles and code were refused above
            (staging / p.relative_to(model_dir)).parent.mkdir(exist_ok=True)  # onnx/, when export_onnx.py ran
            shutil.copy2(p, staging / p.relative_to(model_dir))
    card = folder_card(model_dir, repo_id=repo_id)
    if card is not None:
        (staging / "README.md").write_text(card, encoding="utf-8")
    for p in staging.rglob("*"):
        if p.suffix in TEXT_SUFFIXES:
            p.write_text(scrub_local_paths(p.read_text(encoding="utf-8")), encoding="utf-8")
    return [(str(p.relative_to(staging)), p.stat().st_size) for p in sorted(staging.rglob("*")) if p.is_file()]


TEXT_SUFFIXES = (".json", ".yaml", ".md")
# An absolute local path (/home/me/textos, ~/x): after a space, a quote, '(' or '=' or at a line start, never
# inside a word (bits/char) or a URL (https://...). Its last part stays: it names the thing without the machine.
_LOCAL_PATH = re.compile(r"""(?<![\w:/.~-])(?:~|/(?=[^\s/"'`]))[^\s"'`,;)\]}]*""")


def scrub_local_paths(text: str) -> str:
    """Every absolute local path reduced to its last component, so nothing staged tells where it was made.
    Example: 'source: /home/me/textos' -> 'source: textos'; 'bits/char' and 'https://hf.co/x' stay."""
    return _LOCAL_PATH.sub(lambda m: m.group(0).rstrip("/").rsplit("/", 1)[-1] or m.group(0), text)


# What the demo imports at run time, with the bounds of requirements.txt (the Space's SDK brings gradio itself).
SPACE_PACKAGES = ("torch", "transformers", "tokenizers", "safetensors", "huggingface_hub", "datasets", "evaluate",
                  "matplotlib", "pyyaml", "babel")


def space_requirements() -> list[str]:
    lines = [line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if re.split(r"[<>=~!\[ ]", line)[0] in SPACE_PACKAGES]


def stage_space(staging: Path, space_id: str, model_id: str) -> list[tuple[str, int]]:
    """app.py, the package it is thin over, the Space's requirements, and a README whose front matter makes it a
    Gradio Space and names the model it runs (`models:`, which app.py reads)."""
    import gradio

    if staging.exists():
        shutil.rmtree(staging)
    (staging / "machado_gpt" / "metrics").mkdir(parents=True)
    shutil.copy2(ROOT / "app.py", staging / "app.py")
    for p in [*(ROOT / "machado_gpt").glob("*.py"), *(ROOT / "machado_gpt" / "metrics").glob("*.py")]:
        shutil.copy2(p, staging / p.relative_to(ROOT))
    (staging / "requirements.txt").write_text("\n".join(space_requirements()) + "\n", encoding="utf-8")
    front = {"title": "Sonhos machadianos", "emoji": "📜", "colorFrom": "yellow", "colorTo": "gray", "sdk": "gradio",
             "sdk_version": gradio.__version__, "app_file": "app.py", "models": [model_id], "license": "mit",
             "short_description": "A small GPT trained on Machado de Assis, and a look inside it"}
    (staging / "README.md").write_text(
        f"---\n{yaml.safe_dump(front, allow_unicode=True, sort_keys=False)}---\n\n# Sonhos machadianos\n\n"
        f"Escreva com um pequeno GPT treinado na obra de Machado de Assis ([{model_id}](https://huggingface.co/"
        f"{model_id})) e veja por dentro como ele decide a próxima palavra.\n\nWrite with a small GPT trained on "
        f"the works of Machado de Assis, and look inside it. Code: machado-gpt (`app.py`).\n", encoding="utf-8")
    return [(str(p.relative_to(staging)), p.stat().st_size) for p in sorted(staging.rglob("*")) if p.is_file()]


def check_staged(staging: Path) -> dict:
    """Offline checks of the staged folder: the card parses, and the three loaders work."""
    from huggingface_hub import ModelCard
    from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline

    card = ModelCard.load(staging / "README.md")
    data = card.data.to_dict()
    for key, want in (("language", ["pt"]), ("library_name", "transformers"), ("pipeline_tag", "text-generation")):
        if data.get(key) != want:
            raise MachadoError.of("card_field", key=key, value=repr(data.get(key)), want=repr(want))
    model = AutoModelForCausalLM.from_pretrained(staging)
    tokenizer = AutoTokenizer.from_pretrained(staging)
    text = pipeline("text-generation", model=str(staging))("Capitu")[0]["generated_text"]
    pickles = [p.name for p in staging.rglob("*") if p.name.endswith(NEVER)]
    if pickles:
        raise MachadoError.of("staged_pickles", names=str(pickles))
    return {"parameters": model.num_parameters(), "vocab_size": len(tokenizer), "sample": text}


def require_online_token() -> str:
    """The token from the standard places, never printed; one clear error when offline or logged out."""
    from huggingface_hub import get_token

    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        raise MachadoError.of("hub_offline")
    token = get_token()
    if not token:
        raise MachadoError.of("hub_token")
    return token


def push(args: HubArguments, log=print) -> dict:
    model_dir, staging = Path(args.model_dir), Path(args.staging_dir) / args.repo_id.replace("/", "--")
    if not args.dry_run:
        token = require_online_token()  # before anything is staged or uploaded
    files = stage(model_dir, staging, args.repo_id)
    for name, size in files:
        log(f"{size:>12,}  {name}")
    checks = check_staged(staging)
    log(f"staged {len(files)} files in {staging}; loads with AutoModelForCausalLM, AutoTokenizer and pipeline "
        f"({checks['parameters']:,} parameters)")
    result = {"staging": str(staging), "files": files, **checks}
    if args.space:
        space_staging = Path(args.staging_dir) / ("space--" + args.space.replace("/", "--"))
        result["space_staging"] = str(space_staging)
        result["space_files"] = stage_space(space_staging, args.space, args.repo_id)
        log(f"staged the Space {args.space} in {space_staging}: its app.py runs {args.repo_id} (offline, run it on a "
            f"local folder with MODEL_DIR=<model folder> python app.py)")
    if args.dry_run:
        return result

    from huggingface_hub import ModelCard, create_repo, upload_folder

    ModelCard.load(staging / "README.md").validate()  # the Hub's own card validation
    url = create_repo(args.repo_id, private=args.private, exist_ok=True, token=token)
    upload_folder(repo_id=args.repo_id, folder_path=str(staging), commit_message="Upload machado-gpt", token=token)
    log(f"uploaded to {url}")
    result["url"] = str(url)
    if args.space:
        space_url = create_repo(args.space, repo_type="space", space_sdk="gradio", private=args.private, exist_ok=True,
                                token=token)
        upload_folder(repo_id=args.space, repo_type="space", folder_path=result["space_staging"], token=token,
                      commit_message="Upload the machado-gpt demo")
        log(f"Space uploaded to {space_url}")
        result["space_url"] = str(space_url)
    if args.dataset:
        result["dataset_url"] = push_dataset(args.dataset_dir, args.dataset, args.private, token, log)
    return result


def push_dataset(dataset_dir: str, repo_id: str, private: bool, token: str, log=print) -> str:
    """DatasetDict.push_to_hub, then our dataset card (with its cleaning figures) as the repo's README.md."""
    from datasets import load_from_disk
    from huggingface_hub import upload_file

    dsd = load_from_disk(dataset_dir)
    dsd.push_to_hub(repo_id, private=private, token=token)
    upload_file(path_or_fileobj=str(Path(dataset_dir) / "README.md"), path_in_repo="README.md", repo_id=repo_id,
                repo_type="dataset", token=token)
    log(f"dataset pushed to {repo_id}")
    return f"https://huggingface.co/datasets/{repo_id}"
