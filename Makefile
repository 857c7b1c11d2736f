# The README's commands. `make all` runs the main job end to end, `make test` runs the tests;
# both create the virtual environment first if it is missing.
PY      ?= .venv/bin/python
TORCH   ?= torch==2.13.0
RECIPE  ?= configs/cpu.yaml
export MACHADO_CORPUS_DIR ?= data/machado-de-assis

MODEL   ?= machado-gpt
DURATIONS ?= 40   # the slowest tests, printed by `make test` and `make test-slow`, so the next slowdown shows in CI

.PHONY: all install venv-tf4 web-install data tokenizer train evaluate sample search export demo web test test-slow lint clean gpu-bundle gpu-check notebook headline curve

all: install data tokenizer train evaluate sample

.venv/installed: requirements.txt pyproject.toml
	python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)   # first: a bare `torch` would pull a multi-GB CUDA build on CPU machines
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

install: .venv/installed

# A second environment with transformers 4.x, for the client checks of `make test-slow`.
.venv-tf4/installed:
	python3 -m venv .venv-tf4
	.venv-tf4/bin/python -m pip install -q --upgrade pip
	.venv-tf4/bin/python -m pip install -q $(TORCH)
	.venv-tf4/bin/python -m pip install -q "transformers==4.57.*"
	touch $@

venv-tf4: .venv-tf4/installed

# transformers.js and onnxruntime-web for web/ (pinned by web/package-lock.json). ONNXRUNTIME_NODE_INSTALL=skip:
# otherwise onnxruntime-node's post-install step tries to download CUDA binaries.
web/node_modules/.installed: web/package.json web/package-lock.json
	cd web && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
	touch $@

web-install: web/node_modules/.installed

data: install
	$(PY) build_dataset.py

tokenizer: install
	$(PY) train_tokenizer.py --config $(RECIPE)

train: install
	$(PY) train_hf.py --config $(RECIPE)   # same as: accelerate launch train_hf.py --config $(RECIPE)

evaluate: install
	$(PY) evaluate_model.py --model_dir $(MODEL)

sample: install
	$(PY) generate.py --model_dir $(MODEL) --prompt "Capitu olhou para mim" --max_new_tokens 300 --seed 7

headline: install   # after `make all`: docs/results/headline.json, the figures both READMEs quote
	$(PY) benchmarks/headline.py --model_dir $(MODEL)

curve: install data tokenizer   # about 100 min, alone on the machine: docs/compute_curve.png, out/compute_curve/
	$(PY) benchmarks/compute_curve.py
	$(PY) benchmarks/recipe_ablation.py --budget 5m --arms "many epochs*" --output_dir out/augmentation

export: install   # ONNX for transformers.js, onnxruntime and optimum: $(MODEL)/onnx/
	$(PY) export_onnx.py $(MODEL)

demo: install     # the Gradio demo on http://127.0.0.1:7860
	MODEL_DIR=$(MODEL) $(PY) app.py

web: install web-install   # the model in the browser, no server-side generation (after `make export`)
	$(PY) -m machado_gpt.web $(MODEL)

notebook: install   # the Anatomia notebooks in JupyterLab (installed on first use: the tests need only nbclient)
	$(PY) -m pip install -q "jupyterlab>=4"
	$(PY) -m jupyter lab notebooks/anatomia_do_gpt.ipynb

search: install
	$(PY) train_hf.py --config configs/search-cpu.yaml --hp_search optuna --n_trials 8

test: install
	$(PY) -m pytest -q --durations=$(DURATIONS)

test-slow: install venv-tf4 web-install   # other clients: transformers 4.57, onnxruntime, Node, Chromium, lm-eval
	$(PY) -m pytest -q -m slow --durations=$(DURATIONS)

# The GPU check (benchmarks/gpu_check.py): the bundle is built where pip reaches PyPI, then copied to the GPU machine,
# which needs no network: `pip install --no-index` from it, then the three stages in at most 8 minutes.
gpu-bundle: install
	$(PY) benchmarks/gpu_check.py bundle --bundle gpu-bundle

gpu-check:
	python3 -m pip install -q --no-index --no-deps --find-links gpu-bundle/wheels datasets evaluate dill multiprocess
	PYTHONPATH=. python3 benchmarks/gpu_check.py --bundle gpu-bundle --output_dir out/gpu-check

lint: install
	$(PY) -m ruff check .

clean:
	rm -rf out data/machado-dataset data/tokenizer-* $(MODEL)
