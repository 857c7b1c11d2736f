// The page: loads the model named by ?model= (a folder path relative to this page; default ../machado-gpt) with the
// file export_onnx.py chose for browsers (onnx/export.json: int8 only when its greedy text equals PyTorch's, else
// fp32; ?dtype=q8 or fp32 overrides it), then streams text into #output. Numbers are written the Brazilian way.
import { env } from "@huggingface/transformers";
import { InterruptableStoppingCriteria, loadGenerator, write } from "./machado.js";

env.backends.onnx.wasm.wasmPaths = new URL("./node_modules/onnxruntime-web/dist/", import.meta.url).href;
env.backends.onnx.wasm.numThreads = 1; // threads need cross-origin isolation, which a plain static server lacks

const $ = (id) => document.getElementById(id);
const fmt = (x, digits = 0) => x.toLocaleString("pt-BR", { minimumFractionDigits: digits, maximumFractionDigits: digits });
const params = new URLSearchParams(location.search);
const modelUrl = new URL((params.get("model") || "../machado-gpt").replace(/\/?$/, "/"), location.href);
const name = decodeURIComponent(modelUrl.pathname.split("/").filter(Boolean).pop());
// A path, not a full URL: transformers.js 4.3 checks that local files exist only for paths (with a URL it finds
// no tokenizer_config.json and loads no tokenizer).
const root = new URL("../", modelUrl).pathname;
const stopper = new InterruptableStoppingCriteria();

// What export_onnx.py measured: how many greedy tokens each file agrees with PyTorch on, and its choice for browsers.
async function exportReport() {
  try {
    const response = await fetch(new URL("onnx/export.json", modelUrl));
    return response.ok ? await response.json() : null;
  } catch { return null; }
}

function fileLine(report, dtype, forced) {
  const file = dtype === "q8" ? "onnx/model_quantized.onnx (int8)" : "onnx/model.onnx (fp32)";
  const choice = report?.browser;
  const agreement = choice?.int8_tokens_equal == null ? "int8: concordância não medida" :
    `int8: igual ao PyTorch por ${fmt(choice.int8_tokens_equal)} tokens (de ${fmt(choice.new_tokens)}, texto guloso)`;
  const why = forced ? "escolhido na URL" : dtype === "q8" ? "o int8 concorda em todos os tokens medidos" :
    "o int8 difere do PyTorch, por isso esta página usa o fp32";
  return `Arquivo: ${file}; ${why}. ${agreement}.`;
}

try {
  const report = await exportReport();
  const dtype = params.get("dtype") || report?.browser?.dtype || "fp32";
  $("file").textContent = fileLine(report, dtype, params.has("dtype"));
  $("file").dataset.dtype = dtype;
  const model = await loadGenerator(root, name, dtype);
  const c = model.config;
  const window = c.model_type === "gpt2" ? c.n_positions : (c.sliding_window ?? c.max_position_embeddings);
  $("model").innerHTML = `<code>${name}</code> · ${c.model_type} · ${c.num_hidden_layers ?? c.n_layer} camadas × ` +
    `${fmt(c.hidden_size ?? c.n_embd)} · janela de ${fmt(window)} tokens`;
  $("write").disabled = false;
  $("write").onclick = async () => {
    const prompt = $("prompt").value;
    if (!prompt.trim()) { $("status").textContent = "Escreva um texto inicial."; return; }
    const temperature = Math.max(0, Number($("temperature").value) || 0);
    // A seed is drawn when none is given, and shown, so that a text can be written again.
    const seed = $("seed").value === "" ? crypto.getRandomValues(new Uint32Array(1))[0] : Number($("seed").value);
    $("write").disabled = true; $("stop").disabled = false;
    $("output").textContent = prompt;
    $("status").textContent = "Escrevendo…";
    delete $("status").dataset.done;
    stopper.reset();
    const start = performance.now();
    try {
      const { text, clipped } = await write(model, prompt, {
        maxNewTokens: Math.min(2000, Number($("length").value) || 200), temperature,
        topK: Math.max(0, Math.round(Number($("top_k").value) || 0)),
        topP: Math.min(1, Math.max(0.05, Number($("top_p").value) || 1)), seed,
        onText: (piece) => { $("output").textContent += piece; }, stopper,
      });
      const seconds = (performance.now() - start) / 1000;
      const tokens = model.generator.tokenizer.encode(text, { add_special_tokens: false }).length;
      $("status").textContent = `Concluído: ${fmt(text.length)} caracteres em ${fmt(seconds, 1)} s` +
        (temperature > 0 ? ` · semente usada: ${seed}` : " · guloso (sem sorteio)") +
        (clipped ? ` (parou no limite de ${fmt(model.limit)} tokens do GPT-2)` : "") + ".";
      Object.assign($("status").dataset, { done: "true", seconds: seconds.toFixed(3), tokens: String(tokens),
        seed: String(seed) });
    } catch (e) {
      $("status").textContent = `Erro: ${e.message}`; console.log("STACK " + e.stack);
    }
    $("write").disabled = false; $("stop").disabled = true;
  };
  $("stop").onclick = () => stopper.interrupt();
} catch (e) {
  $("model").textContent = `Não foi possível carregar ${modelUrl.pathname}: ${e.message}. ` +
    "Exporte o modelo com python export_onnx.py e rode npm install em web/.";
  $("model").dataset.error = "true";
}
