// machado-gpt with transformers.js, shared by the page (index.html) and Node (generate.mjs).
// Everything is local: the model folder (with onnx/ from `python export_onnx.py`) and the onnxruntime files.
import { env, pipeline, TextStreamer, InterruptableStoppingCriteria } from "@huggingface/transformers";

env.allowRemoteModels = false; // no Hub, no CDN at run time
env.allowLocalModels = true;

// Loads `<root>/<name>` (a folder written by train_hf.py and export_onnx.py); dtype "q8" reads
// onnx/model_quantized.onnx, "fp32" onnx/model.onnx.
export async function loadGenerator(root, name, dtype = "q8") {
  env.localModelPath = root;
  const generator = await pipeline("text-generation", name, { dtype });
  const config = generator.model.config;
  // GPT-2's learned positions stop at its context; the Qwen3 family has a sliding window and no limit.
  const limit = config.model_type === "gpt2" ? config.n_positions : Infinity;
  return { generator, config, limit };
}

// Streams the continuation of `prompt` to onText(piece); temperature 0 is greedy. Returns the new text.
export async function write({ generator, limit }, prompt, { maxNewTokens = 200, temperature = 0.7, topK = 50,
  onText = () => {}, stopper = null } = {}) {
  const promptLength = generator.tokenizer.encode(prompt, { add_special_tokens: false }).length;
  const room = Math.max(0, Math.min(maxNewTokens, limit - promptLength));
  if (room === 0) throw new Error(`o texto inicial ocupa toda a janela do modelo (${limit} tokens): encurte-o`);
  let text = "";
  const streamer = new TextStreamer(generator.tokenizer, {
    skip_prompt: true, skip_special_tokens: true,
    callback_function: (piece) => { text += piece; onText(piece); },
  });
  const sampling = temperature > 0 ? { do_sample: true, temperature, top_k: topK } : { do_sample: false };
  await generator(prompt, { max_new_tokens: room, min_new_tokens: room, ...sampling, streamer,
    ...(stopper ? { stopping_criteria: stopper } : {}) });
  return { text, newTokens: room, clipped: room < maxNewTokens };
}

export { InterruptableStoppingCriteria };
