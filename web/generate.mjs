// machado-gpt in Node with transformers.js and onnxruntime-node, no Python:
//   node web/generate.mjs [model folder] [prompt] [new tokens] [temperature] [dtype]
//   node web/generate.mjs machado-gpt "Capitu" 200 0.7        (temperature 0: greedy)
// dtype q8 (int8) or fp32; by default the file export_onnx.py chose (onnx/export.json), as the page does.
// Needs `python export_onnx.py <model folder>` first, and `npm install` in web/ (see README).
import fs from "node:fs";
import path from "node:path";
import { loadGenerator, write } from "./machado.js";

const [folder = "machado-gpt", prompt = "Capitu", tokens = "200", temperature = "0.7", asked] = process.argv.slice(2);
const resolved = path.resolve(folder);
try {
  const report = path.join(resolved, "onnx", "export.json");
  const dtype = asked || (fs.existsSync(report) ? JSON.parse(fs.readFileSync(report, "utf8")).browser?.dtype : null) || "fp32";
  const model = await loadGenerator(path.dirname(resolved) + path.sep, path.basename(resolved), dtype);
  process.stdout.write(prompt);
  const start = performance.now();
  const { newTokens, clipped } = await write(model, prompt, {
    maxNewTokens: Number(tokens), temperature: Number(temperature),
    onText: (piece) => process.stdout.write(piece),
  });
  const seconds = (performance.now() - start) / 1000;
  process.stderr.write(`\n${newTokens} tokens in ${seconds.toFixed(2)} s (${(newTokens / seconds).toFixed(1)} tokens/s)` +
    `${clipped ? `, stopped at the model's ${model.limit}-token window (GPT-2)` : ""}\n`);
} catch (e) {
  process.stderr.write(`error: ${e.message.split("\n")[0]} (is ${folder}/onnx/ there? run python export_onnx.py ${folder})\n`);
  process.exit(2);
}
