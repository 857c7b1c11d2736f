# The README's commands. `make all` runs the main job end to end, `make test` runs the tests;
# both create the virtual environment first if it is missing.
PY      ?= .venv/bin/python
TORCH   ?= torch==2.13.0
RECIPE  ?= configs/cpu.yaml
export MACHADO_CORPUS_DIR ?= data/machado-de-assis

.PHONY: all install data tokenizer train test test-slow lint clean

all: install data tokenizer train

.venv/installed: requirements.txt
	python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)   # first: a bare `torch` would pull a multi-GB CUDA build on CPU machines
	$(PY) -m pip install -q -r requirements.txt
	touch $@

install: .venv/installed

data: install
	$(PY) build_dataset.py

tokenizer: install
	$(PY) train_tokenizer.py --config $(RECIPE)

train: install
	$(PY) -m accelerate.commands.launch train_hf.py --config $(RECIPE)

test: install
	$(PY) -m pytest -q

test-slow: install
	$(PY) -m pytest -q -m slow

lint: install
	$(PY) -m ruff check .

clean:
	rm -rf out data/machado-dataset data/tokenizer-* machado-gpt
