"""machado-gpt: train, evaluate, share and use a small GPT on the complete works of Machado de Assis."""

__version__ = "0.1.0"
