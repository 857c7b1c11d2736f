"""Sonhos machadianos: the Gradio demo (Escrever: streaming text past the context window; Anatomia: next-token
probabilities, attention, logit lens). Runs locally or as a Hugging Face Space (`push_to_hub.py --space`).

    python app.py                                  # the folder `make all` writes (machado-gpt), on port 7860
    MODEL_DIR=machado-gpt-1h python app.py         # another folder, or a Hub id such as user/machado-gpt
"""

import argparse
from pathlib import Path

from machado_gpt.demo import launch
from machado_gpt.utils import run_cli

if __name__ == "__main__":
    # No flags: the model comes from MODEL_DIR (above); --help prints this docstring instead of starting the server.
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    run_cli(lambda _: launch(Path(__file__).resolve().parent))
