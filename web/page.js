// The page: loads the model named by ?model= (a folder path relative to this page; default ../machado-gpt) with
// ?dtype= (q8, the int8 file, by default; fp32), then streams text into #output.
import { env } from "@huggingface/transformers";
import { InterruptableStoppingCriteria, loadGenerator, write } from "./machado.js";

env.backends.onnx.wasm.wasmPaths = new URL("./node_modules/onnxruntime-web/dist/", import.meta.url).href;
env.backends.onnx.wasm.numThreads = 1; // threads need cross-origin isolation, which a plain static server lacks

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const modelUrl = new URL((params.get("model") || "../machado-gpt").replace(/\/?$/, "/"), location.href);
const name = modelUrl.pathname.split("/").filter(Boolean).pop();
// A path, not a full URL: transformers.js 4.3 checks that local files exist only for paths (with a URL it finds
// no tokenizer_config.json and loads no tokenizer).
const root = new URL("../", modelUrl).pathname;
const stopper = new InterruptableStoppingCriteria();

try {
  const model = await loadGenerator(root, name, params.get("dtype") || "q8");
  const c = model.config;
  $("status").textContent = `Pronto: ${name} (${c.model_type}, ${c.num_hidden_layers ?? c.n_layer} camadas).`;
  $("write").disabled = false;
  $("write").onclick = async () => {
    const prompt = $("prompt").value;
    if (!prompt.trim()) { $("status").textContent = "Escreva um texto inicial."; return; }
    $("write").disabled = true; $("stop").disabled = false;
    $("output").textContent = prompt;
    $("status").textContent = "Escrevendo…";
    stopper.reset();
    const start = performance.now();
    try {
      const { text, clipped } = await write(model, prompt, {
        maxNewTokens: Math.min(2000, Number($("length").value) || 200),
        temperature: Math.max(0, Number($("temperature").value) || 0),
        onText: (piece) => { $("output").textContent += piece; }, stopper,
      });
      const seconds = (performance.now() - start) / 1000;
      const tokens = model.generator.tokenizer.encode(text, { add_special_tokens: false }).length;
      $("status").textContent = `Concluído: ${text.length} caracteres em ${seconds.toFixed(1)} s` +
        (clipped ? ` (parou no limite de ${model.limit} tokens do GPT-2)` : "") + ".";
      $("status").dataset.done = "true";
      $("status").dataset.seconds = seconds.toFixed(3);
      $("status").dataset.tokens = String(tokens);
    } catch (e) {
      $("status").textContent = `Erro: ${e.message}`; console.log("STACK " + e.stack);
    }
    $("write").disabled = false; $("stop").disabled = true;
  };
  $("stop").onclick = () => stopper.interrupt();
} catch (e) {
  $("status").textContent = `Não foi possível carregar ${modelUrl.pathname}: ${e.message}. ` +
    "Exporte o modelo com python export_onnx.py e rode npm install em web/.";
  $("status").dataset.error = "true";
}
