"""Export a model folder to ONNX for transformers.js, onnxruntime and optimum: onnx/model.onnx (fp32, with past
key/values) and onnx/model_quantized.onnx (int8), checked against PyTorch with onnxruntime.

    python export_onnx.py machado-gpt                  # then: node web/generate.mjs, or open web/index.html
    python export_onnx.py --model_dir machado-gpt --quantize False
"""

from __future__ import annotations

from collections.abc import Sequence

from machado_gpt.onnx_export import ExportArguments, run_export
from machado_gpt.utils import model_dir_first, parse_config, run_cli


def main(argv: Sequence[str] | None = None):
    (args,) = parse_config([ExportArguments], model_dir_first(argv))
    return run_export(args)


if __name__ == "__main__":
    run_cli(main)
