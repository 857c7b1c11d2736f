"""The demo in a real browser: Debian's headless Chromium, driven by Playwright, against `python app.py` started on
a local port, as a user would. Slow (a browser and a server): `.ci/run` runs it with `pytest -m slow`.
The demo's Space staging starts from its staged files, offline."""

import os
import subprocess
import sys
import time
import urllib.request

import pytest

import push_to_hub
from machado_gpt.evaluation import load_model
from machado_gpt.i18n import number
from machado_gpt.web import CHROMIUM
from tests.conftest import FAMILIES, ROOT
from tests.test_demo import free_port

pytestmark = pytest.mark.slow


def start_app(cwd, model_dir, port):
    env = {**os.environ, "MODEL_DIR": str(model_dir), "GRADIO_SERVER_PORT": str(port), "HF_HUB_OFFLINE": "1",
           "GRADIO_ANALYTICS_ENABLED": "False"}
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    for _ in range(240):
        if proc.poll() is not None:
            raise AssertionError(f"app.py exited: {proc.stdout.read()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=1)
            return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise AssertionError("app.py did not start in 120 s")


@pytest.fixture(scope="module")
def model_dir(real_dataset, corpus_dir, char_tokenizer_dir, tmp_path_factory):
    """A trained folder (with its card, as push_to_hub.py needs) of the sliding-window family, context 64."""
    import train_hf

    tmp = tmp_path_factory.mktemp("demo")
    train_hf.main(["--config", str(ROOT / "configs/tiny.yaml"), "--corpus_dir", str(corpus_dir), "--dataset_dir",
                   str(real_dataset[1]), "--tokenizer_dir", str(char_tokenizer_dir), "--output_dir", str(tmp / "run"),
                   "--model_dir", str(tmp / "model"), *FAMILIES["qwen3"], "--max_steps", "20", "--eval_strategy", "no"])
    return tmp / "model"


# Words only one of the two languages uses, to find text of the other language on a page (tokens and samples aside).
EN_ONLY = {"the", "and", "of", "to", "is", "with", "this", "that", "for", "layer", "layers", "head", "next", "seed",
           "length", "prompt", "error", "examples", "write", "stop", "text", "probability", "attention", "after",
           "parameters", "window", "piece", "pieces", "look", "inside", "numbers", "variants", "random", "position",
           "likely", "built", "settings", "loading", "used", "actual", "runs"}
PT_ONLY = {"de", "que", "com", "para", "não", "camada", "camadas", "cabeça", "semente", "texto", "escrever", "parar",
           "exemplos", "próximo", "peça", "peças", "janela", "parâmetros", "atenção", "lente", "probabilidade",
           "depois", "mais", "provável", "olhar", "dentro", "números", "variantes", "aleatória", "posição", "usada",
           "uma", "em", "da"}


def visible_words(page) -> set[str]:
    """The words a reader sees, minus the samples and names: the prompt and text boxes (not in innerText), the
    examples (Portuguese prompts), the tables' token cells, the model's folder name and Machado de Assis."""
    import re

    text = page.evaluate("""() => {
        let text = document.body.innerText.split('Machado de Assis').join(' ');
        for (const e of document.querySelectorAll('.gallery, table.examples-table, #tabela tbody, #tabela-lente tbody,'
                                                   + ' #modelo code'))
            text = text.split(e.innerText).join(' ');
        return text; }""")
    return {w.lower() for w in re.findall(r"[^\W\d_]+", text)}


def test_browser_writes_streams_and_shows_the_anatomy(model_dir):
    from playwright.sync_api import sync_playwright

    proc, url = start_app(ROOT, model_dir, free_port())
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM)
            page = browser.new_context(locale="pt-BR").new_page()
            page.goto(url)
            page.get_by_role("tab", name="Escrever").wait_for(timeout=60_000)  # Portuguese for a pt-BR browser
            # Numbers as a Brazilian writes them: 1.328.512 parâmetros, never 1,328,512.
            params = load_model(str(model_dir))[0].num_parameters()
            page.wait_for_function("(document.querySelector('#modelo')?.innerText || '').includes('parâmetros')", timeout=30_000)
            header = page.locator("#modelo").inner_text()
            assert f"{number(params, 'pt')} parâmetros" in header and "janela de 64 tokens" in header
            assert "parameters" not in header and "window" not in header and params >= 1000
            page.locator("#prompt textarea").fill("Era uma vez")
            page.get_by_role("button", name="Escrever").click()
            lengths = []
            for _ in range(100):  # watch the text grow while it streams
                lengths.append(len(page.locator("#texto textarea").input_value()))
                if lengths[-1] > 200:
                    break
                time.sleep(0.1)
            page.wait_for_function("document.querySelector('#texto textarea').value.length > 300", timeout=60_000)
            text = page.locator("#texto textarea").input_value()
            assert text.startswith("Era uma vez") and len(set(lengths)) > 2
            assert page.locator("#semente-usada").inner_text().startswith("Semente usada: ")  # random, and shown
            (ROOT / "out").mkdir(exist_ok=True)
            page.screenshot(path=str(ROOT / "out" / "demo-escrever.png"), full_page=True)
            assert not visible_words(page) & EN_ONLY, visible_words(page) & EN_ONLY  # no English on the pt page
            # Três variantes: three continuations, side by side.
            assert not page.locator("#texto-2").is_visible()
            page.locator("#variantes input").check()
            page.locator("#texto-3").wait_for(state="visible", timeout=10_000)
            page.locator("#prompt textarea").fill("Capitu olhou")
            page.get_by_role("button", name="Escrever").click()
            page.wait_for_function("['#texto', '#texto-2', '#texto-3'].every(id => "
                                   "document.querySelector(id + ' textarea').value.length > 150)", timeout=60_000)
            texts = [page.locator(f"{box} textarea").input_value() for box in ("#texto", "#texto-2", "#texto-3")]
            assert all(t.startswith("Capitu olhou") for t in texts) and len(set(texts)) == 3
            page.locator("#variantes input").uncheck()
            # Parar (Stop) ends a long generation: the text stops growing well short of 2,000 tokens.
            page.locator("#prompt textarea").fill("Capitu")
            length = page.get_by_label("Comprimento (tokens)", exact=False).first
            length.fill("2000")
            length.press("Enter")
            assert length.input_value() == "2000"
            page.get_by_role("button", name="Escrever").click()
            page.wait_for_function("document.querySelector('#texto textarea').value.startsWith('Capitu') && "
                                   "document.querySelector('#texto textarea').value.length > 100", timeout=60_000)
            page.get_by_role("button", name="Parar").click()
            time.sleep(2)
            stopped = len(page.locator("#texto textarea").input_value())
            time.sleep(2)
            assert len(page.locator("#texto textarea").input_value()) == stopped < 1500
            page.get_by_role("tab", name="Anatomia").click()
            heatmap = page.locator("#atencao img")
            heatmap.wait_for(timeout=60_000)  # the opening example is drawn without pressing anything
            box = heatmap.bounding_box()
            assert box["width"] > 100 and box["height"] > 100
            assert page.locator("#barras img").count() == 1 and page.locator("#lente img").count() == 1
            assert "Atenção" in page.content() and "No exemplo inicial" in page.locator("#nota-lente").inner_text()
            # The pictures follow the controls: a new layer redraws the heatmap, no button pressed.
            layer = page.locator("#camada input[type=number]")
            before = heatmap.get_attribute("src")
            layer.fill(str(1 - int(layer.input_value())))  # the other layer of this 2-layer model
            layer.press("Enter")
            page.wait_for_function("src => document.querySelector('#atencao img')?.src !== src", arg=before,
                                   timeout=30_000)
            page.locator("#numeros").click()  # Os números: a table, headers in Portuguese
            page.locator("#tabela").get_by_text("n.º do real").wait_for(timeout=10_000)
            page.screenshot(path=str(ROOT / "out" / "demo-anatomia.png"), full_page=True)
            assert not visible_words(page) & EN_ONLY, visible_words(page) & EN_ONLY
            english = browser.new_context(locale="en-US").new_page()  # the same demo for an English browser
            english.goto(url)
            english.wait_for_function("(document.querySelector('#modelo')?.innerText || '').includes('parameters')",
                                      timeout=30_000)
            header = english.locator("#modelo").inner_text()
            assert f"{number(params, 'en')} parameters" in header and "parâmetros" not in header
            assert not visible_words(english) & PT_ONLY, visible_words(english) & PT_ONLY  # the Write tab
            english.get_by_role("tab", name="Anatomy").click()
            english.locator("#atencao img").wait_for(state="visible", timeout=60_000)
            assert not visible_words(english) & PT_ONLY, visible_words(english) & PT_ONLY  # and Anatomy
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert (ROOT / "out" / "demo-anatomia.png").stat().st_size > 20_000


def test_space_staging_starts_the_app_offline_from_the_staged_files(model_dir, tmp_path):
    from gradio_client import Client

    from machado_gpt.demo import space_model_reference

    result = push_to_hub.main([str(model_dir), "--repo_id", "someone/machado-gpt", "--space", "someone/sonhos",
                               "--dry_run", "--staging_dir", str(tmp_path)])
    space = tmp_path / "space--someone--sonhos"
    names = {name for name, _ in result["space_files"]}
    assert {"app.py", "README.md", "requirements.txt", "machado_gpt/demo.py", "machado_gpt/generation.py"} <= names
    assert space_model_reference(space) == "someone/machado-gpt"  # the front matter names the model
    assert "sdk: gradio" in (space / "README.md").read_text() and "app_file: app.py" in (space / "README.md").read_text()
    # Offline, the Space's model (a Hub id) cannot load; MODEL_DIR points the staged app at the local folder.
    proc, url = start_app(space, model_dir, free_port())
    try:
        out, *_ = Client(url, verbose=False).predict("Capitu", 20, 0.7, 50, 0.95, 1, False, api_name="/escrever")
        assert out.startswith("Capitu") and len(out) > len("Capitu")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
