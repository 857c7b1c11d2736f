// machado-gpt with transformers.js, shared by the page (index.html) and Node (generate.mjs).
// Everything is local: the model folder (with onnx/ from `python export_onnx.py`) and the onnxruntime files.
import { env, pipeline, random, LogitsProcessor, LogitsProcessorList, TextStreamer,
  InterruptableStoppingCriteria } from "@huggingface/transformers";

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

// top-k then top-p, as Hugging Face's Python warpers do (transformers.js 4.3 applies top-k in its sampler and has no
// top-p): the logits outside the smallest set of the k most likely tokens holding top_p of the mass become -inf.
class TopKTopP extends LogitsProcessor {
  constructor(topK, topP) { super(); this.topK = topK; this.topP = topP; }

  _call(inputIds, logits) {
    const vocab = logits.dims.at(-1);
    for (let start = 0; start < logits.data.length; start += vocab) {
      const row = logits.data.subarray(start, start + vocab);
      const order = Array.from(row.keys()).sort((a, b) => row[b] - row[a]);
      let keep = this.topK > 0 ? Math.min(this.topK, vocab) : vocab;
      if (this.topP < 1) {
        const exps = order.slice(0, keep).map((i) => Math.exp(row[i] - row[order[0]]));
        const total = exps.reduce((a, b) => a + b, 0);
        let mass = 0, n = 0;
        while (n < keep && mass < this.topP) mass += exps[n++] / total;
        keep = n;
      }
      for (let r = keep; r < vocab; r++) row[order[r]] = -Infinity;
    }
    return logits;
  }
}

// Streams the continuation of `prompt` to onText(piece); temperature 0 is greedy. A seed makes a sample repeat
// (transformers.js's own generator, so the same seed gives another text than PyTorch's). Returns the new text.
export async function write({ generator, limit }, prompt, { maxNewTokens = 200, temperature = 0.7, topK = 50,
  topP = 0.95, seed = null, onText = () => {}, stopper = null } = {}) {
  const promptLength = generator.tokenizer.encode(prompt, { add_special_tokens: false }).length;
  const room = Math.max(0, Math.min(maxNewTokens, limit - promptLength));
  if (room === 0) throw new Error(`o texto inicial ocupa toda a janela do modelo (${limit} tokens): encurte-o`);
  let text = "";
  const streamer = new TextStreamer(generator.tokenizer, {
    skip_prompt: true, skip_special_tokens: true,
    callback_function: (piece) => { text += piece; onText(piece); },
  });
  let sampling = { do_sample: false };
  if (temperature > 0) {
    random.seed(seed ?? undefined); // undefined: fresh entropy
    const warpers = new LogitsProcessorList();
    warpers.push(new TopKTopP(topK, topP));
    sampling = { do_sample: true, temperature, top_k: 0, logits_processor: warpers };
  }
  await generator(prompt, { max_new_tokens: room, min_new_tokens: room, ...sampling, streamer,
    ...(stopper ? { stopping_criteria: stopper } : {}) });
  return { text, newTokens: room, clipped: room < maxNewTokens };
}

export { InterruptableStoppingCriteria };
