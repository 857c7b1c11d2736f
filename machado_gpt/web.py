"""Serve web/ beside a model folder, so that web/index.html runs the exported model in a browser (no server-side
generation: the server only hands out files), and drive the page in headless Chromium for tests and benchmarks.

    python -m machado_gpt.web machado-gpt          # then open http://127.0.0.1:8000/web/index.html
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import sys
import tempfile
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

from .utils import MachadoError

WEB_DIR = Path(__file__).resolve().parents[1] / "web"
CHROMIUM = "/usr/bin/chromium"


def check_web(model_dir: Path, dtype: str | None = None) -> None:
    """dtype None: the page's own choice (onnx/export.json), which needs at least the fp32 file."""
    onnx = model_dir / "onnx" / ("model_quantized.onnx" if dtype == "q8" else "model.onnx")
    if not onnx.is_file():
        raise MachadoError.of("web_no_onnx", path=str(onnx), model_dir=str(model_dir))
    if not (WEB_DIR / "node_modules" / "@huggingface" / "transformers").is_dir():
        raise MachadoError.of("web_install")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".mjs": "text/javascript",
                      ".wasm": "application/wasm"}

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(model_dir: str | Path, port: int = 0) -> Iterator[str]:
    """A static server over a folder with two links, web/ and the model folder under its own name (which the page
    shows); yields the page's URL for this model."""
    model_dir = Path(model_dir).resolve()
    with tempfile.TemporaryDirectory() as root:
        (Path(root) / "web").symlink_to(WEB_DIR)
        (Path(root) / model_dir.name).symlink_to(model_dir)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(_Quiet, directory=root))
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_port}/web/index.html?model=../{urllib.parse.quote(model_dir.name)}"
        finally:
            server.shutdown()
            server.server_close()


def browser_generate(model_dir: str | Path, prompt: str, max_new_tokens: int, temperature: float = 0.0,
                     dtype: str | None = None, top_k: int = 50, top_p: float = 0.95, seed: int | None = None,
                     screenshot: str | Path | None = None, timeout_s: float = 180) -> dict:
    """Type a prompt into web/index.html in headless Chromium, press Escrever, wait for the streamed text.
    dtype None lets the page choose its file (onnx/export.json). Returns the text, the page's model and file lines,
    the seconds, tokens and seed the page reports, and how many times the text grew while streaming."""
    from playwright.sync_api import sync_playwright

    check_web(Path(model_dir), dtype)
    with serve(model_dir) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        try:
            page = browser.new_context(locale="pt-BR").new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url + (f"&dtype={dtype}" if dtype else ""))
            page.wait_for_function("!document.getElementById('write').disabled || document.getElementById('model')"
                                   ".dataset.error", timeout=timeout_s * 1000)
            if page.get_attribute("#model", "data-error"):
                raise MachadoError.of("page_load", status=page.inner_text("#model"))
            for field_id, value in (("prompt", prompt), ("length", max_new_tokens), ("temperature", temperature),
                                    ("top_k", top_k), ("top_p", top_p), ("seed", "" if seed is None else seed)):
                page.fill(f"#{field_id}", str(value))
            # Count the updates of #output as they happen: streaming means many, not one at the end.
            page.evaluate("""() => { window.updates = 0; new MutationObserver(() => window.updates++)
                .observe(document.getElementById('output'), {childList: true, characterData: true, subtree: true}); }""")
            page.click("#write")
            page.wait_for_function("document.getElementById('status').dataset.done || "
                                   "document.getElementById('status').textContent.startsWith('Erro')",
                                   timeout=timeout_s * 1000)
            status = page.inner_text("#status")
            if screenshot:
                Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(screenshot), full_page=True)
            if errors or status.startswith("Erro"):
                raise MachadoError.of("page_failed", status=status, errors=str(errors))
            return {"text": page.text_content("#output"), "status": status, "updates": page.evaluate("window.updates"),
                    "model": page.inner_text("#model"), "file": page.inner_text("#file"),
                    "dtype": page.get_attribute("#file", "data-dtype"),
                    "seconds": float(page.get_attribute("#status", "data-seconds")),
                    "tokens": int(page.get_attribute("#status", "data-tokens")),
                    "seed": int(page.get_attribute("#status", "data-seed"))}
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    model_dir = Path(argv[0] if argv else "machado-gpt")
    port = int(argv[1]) if len(argv) > 1 else 8000
    check_web(model_dir)
    with serve(model_dir, port) as url:
        print(f"open {url} (Ctrl-C stops)")
        threading.Event().wait()


if __name__ == "__main__":
    from .utils import run_cli

    run_cli(lambda _: main())
