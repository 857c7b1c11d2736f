"""push_to_hub.py: a dry run stages exactly the loadable files with a valid card; clear errors offline or logged out."""

import json

import pytest
from huggingface_hub import ModelCard

import push_to_hub
import train_hf
from machado_gpt.i18n import number
from machado_gpt.utils import MachadoError


@pytest.fixture(scope="module")
def model_dir(real_dataset, corpus_dir, char_tokenizer_dir, tmp_path_factory):
    from tests.conftest import ROOT

    _, dataset_dir = real_dataset
    tmp = tmp_path_factory.mktemp("hub")
    train_hf.main(["--config", str(ROOT / "configs/tiny.yaml"), "--corpus_dir", str(corpus_dir), "--dataset_dir",
                   str(dataset_dir), "--tokenizer_dir", str(char_tokenizer_dir), "--output_dir", str(tmp / "run"),
                   "--model_dir", str(tmp / "model"), "--max_steps", "4", "--eval_steps", "2", "--save_steps", "2"])
    return tmp / "model"


def test_dry_run_stages_a_loadable_folder_with_our_card(model_dir, tmp_path):
    result = push_to_hub.main([str(model_dir), "--repo_id", "someone/machado-gpt", "--dry_run",
                               "--staging_dir", str(tmp_path / "stage")])
    staged = {name for name, _ in result["files"]}
    assert {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
            "README.md", "metrics.json", "run_config.yaml"} <= staged
    assert not [n for n in staged if n.endswith((".bin", ".pt", ".pkl"))] and "training_args.bin" not in staged
    assert result["sample"].startswith("Capitu") and result["parameters"] > 0
    card = ModelCard.load(tmp_path / "stage" / "someone--machado-gpt" / "README.md")
    assert card.data.language == ["pt"] and card.data.pipeline_tag == "text-generation"
    assert card.data.library_name == "transformers" and card.data.widget
    assert 'pipeline("text-generation", model="someone/machado-gpt")' in card.text
    assert "fine-tuned version of" not in card.text and "bits/char" in card.text
    assert "## Resumo em português" in card.text and "bits por caractere" in card.text  # a Portuguese summary
    # Numbers as a Brazilian reads them: 3,412 bits por caractere and 34.240 parâmetros, not 3.412 and 34,240.
    summary = card.text.split("## Resumo em português", 1)[1].split("\n## ", 1)[0]
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert f"{number(metrics['parameters'], 'pt')} parâmetros" in summary and "." in number(metrics["parameters"], "pt")
    assert f"{number(metrics['test_bpc'], 'pt', 3)} bits por caractere" in summary and "," in number(1.5, "pt", 3)


@pytest.mark.parametrize("planted", ["training_args.bin", "optimizer.pt", "extra.pkl", "modeling_machado.py"])
def test_staging_refuses_a_folder_with_a_pickle_or_code(model_dir, tmp_path, planted):
    import shutil

    folder = tmp_path / "folder"
    shutil.copytree(model_dir, folder)
    (folder / planted).write_bytes(b"not to be run")
    with pytest.raises(MachadoError, match=f"holds {planted} .*safetensors and JSON only"):
        push_to_hub.main([str(folder), "--repo_id", "someone/machado-gpt", "--dry_run",
                          "--staging_dir", str(tmp_path / "stage")])
    assert not (tmp_path / "stage").exists()  # nothing staged


def test_offline_and_no_token_errors(model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(MachadoError, match="HF_HUB_OFFLINE is set"):
        push_to_hub.main([str(model_dir), "--repo_id", "someone/machado-gpt", "--staging_dir", str(tmp_path)])
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # no stored login either
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_TOKEN_PATH", str(tmp_path / "hf-home" / "token"))
    with pytest.raises(MachadoError, match="no Hugging Face token"):
        push_to_hub.main([str(model_dir), "--repo_id", "someone/machado-gpt", "--staging_dir", str(tmp_path)])
    assert not list(tmp_path.glob("someone--*")), "nothing is staged before the token check"


def test_bad_repo_id():
    with pytest.raises(MachadoError, match="must be user/name"):
        push_to_hub.main(["machado-gpt", "--repo_id", "no-slash"])
