"""Portuguese first: numbers written the way each reader's language writes them (Babel's CLDR data, which does not
depend on the machine's installed locales), and the reader's language from a browser's Accept-Language.

Example: number(1.7234, "pt", 3) -> '1,723'; number(1328512, "pt") -> '1.328.512'; number(1328512, "en") -> '1,328,512'.
"""

from __future__ import annotations

import os

from babel.numbers import format_decimal

LANGUAGES = {"pt": "pt_BR", "en": "en_US"}


def number(value: float, lang: str = "pt", decimals: int = 0) -> str:
    """`value` with the grouping and decimal marks of `lang` (pt or en), rounded to `decimals` places."""
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
    return format_decimal(value, format=pattern, locale=LANGUAGES[lang])


def language(accept_language: str | None) -> str:
    """'pt' when the browser's first language is Portuguese (pt, pt-BR, pt-PT), else 'en'.
    Example: 'pt-BR,pt;q=0.9,en;q=0.8' -> 'pt'; 'en-US,en' -> 'en'; None -> 'pt' (Portuguese first)."""
    if not accept_language:
        return "pt"
    first = accept_language.split(",")[0].strip().lower()
    return "pt" if first.startswith("pt") else "en"


# The messages a reader of the demo or the command line can meet, in both languages (MachadoError.of; the English
# one is the exception's text). Parameters are numbers or short texts; numbers are written as each language writes them.
MESSAGES = {
    "empty_prompt": {"en": "the prompt is empty: write a few words, e.g. Capitu",
                     "pt": "o texto está vazio: escreva algumas palavras, por exemplo Capitu"},
    "prompt_chars": {"en": "the prompt has {n} characters; this demo takes up to {limit}",
                     "pt": "o texto tem {n} caracteres; esta demonstração aceita até {limit}"},
    "prompt_tokens": {"en": "the prompt has {n} tokens; the model sees at most {limit}: shorten it",
                      "pt": "o texto tem {n} tokens; o modelo enxerga no máximo {limit}: encurte-o"},
    "one_token": {"en": "the prompt has one token: the logit lens needs a next token, write at least two",
                  "pt": "o texto tem um só token: a lente de logits precisa do próximo, escreva pelo menos dois"},
    "layer_head": {"en": "layer {layer} / head {head} out of range: the model has {n_layer} layers of {n_head} heads",
                   "pt": "camada {layer} / cabeça {head} fora do alcance: o modelo tem {n_layer} camadas de {n_head} "
                         "cabeças"},
    "position": {"en": "position {position} has no next token in the prompt: pick 0 to {last}",
                 "pt": "a posição {position} não tem próximo token no texto: escolha de 0 a {last}"},
    "length_cap": {"en": "length {n} is over this demo's cap of {limit} tokens",
                   "pt": "o comprimento {n} passa do limite desta demonstração, {limit} tokens"},
    "seed_demo": {"en": "seed {seed} must be -1 (random) or between 0 and 4,294,967,295",
                  "pt": "a semente {seed} deve ser -1 (aleatória) ou ficar entre 0 e 4.294.967.295"},
    "not_number": {"en": "{name} must be a number (got {value})", "pt": "{name} deve ser um número (veio {value})"},
    "not_whole": {"en": "{name} must be a whole number (got {value})",
                  "pt": "{name} deve ser um número inteiro (veio {value})"},
    "out_of_range": {"en": "{name} {value} is out of range", "pt": "{name} {value} está fora do alcance"},
    # The command line's first-hour messages (run_cli prints them in the terminal's language, cli_language()).
    "missing_corpus": {
        "en": "corpus folder {path} not found: download the Kaggle dataset {dataset} (`python build_dataset.py "
              "download`, or by hand from {url}) and unzip it to data/machado-de-assis, or point --corpus_dir / "
              "MACHADO_CORPUS_DIR at it",
        "pt": "a pasta do corpus {path} não existe: baixe o conjunto de dados {dataset} do Kaggle (`python "
              "build_dataset.py download`, ou à mão em {url}), descompacte-o em data/machado-de-assis, ou aponte "
              "--corpus_dir / MACHADO_CORPUS_DIR para ele"},
    "empty_corpus": {
        "en": "corpus folder {path} is empty: download the Kaggle dataset {dataset} (`python build_dataset.py "
              "download`, or by hand from {url}) and unzip it there",
        "pt": "a pasta do corpus {path} está vazia: baixe o conjunto de dados {dataset} do Kaggle (`python "
              "build_dataset.py download`, ou à mão em {url}) e descompacte-o nela"},
    "corpus_layout": {
        "en": "no <genre>/<work>.txt files under {path}: the layout must be e.g. {path}/romance/domCasmurro.txt "
              "(see {url})",
        "pt": "não há arquivos <gênero>/<obra>.txt em {path}: o formato deve ser, por exemplo, "
              "{path}/romance/domCasmurro.txt (veja {url})"},
    "no_dataset": {"en": "no dataset at {path}: build it first with `python build_dataset.py --dataset_dir {path}`",
                   "pt": "não há conjunto de dados em {path}: construa-o antes com `python build_dataset.py "
                         "--dataset_dir {path}`"},
    "output_dir_foreign": {"en": "output_dir {path} holds files of something else: pass another --output_dir or "
                                 "remove it",
                           "pt": "a output_dir {path} guarda arquivos de outra coisa: passe outra --output_dir ou "
                                 "apague-a"},
    "output_dir_unrelated": {"en": "output_dir {path} holds an unrelated run (different {diff}): pass another "
                                   "--output_dir or remove it",
                             "pt": "a output_dir {path} guarda outro treino (difere em {diff}): passe outra "
                                   "--output_dir ou apague-a"},
    "model_dir_not_model": {"en": "model_dir {path} holds files that are not a model: pass another --model_dir",
                            "pt": "a model_dir {path} guarda arquivos que não são um modelo: passe outra --model_dir"},
    "model_dir_foreign": {"en": "model_dir {path} holds a model this run did not train: pass --model_dir NEW to keep "
                                "it, or --overwrite_model_dir to replace it",
                          "pt": "a model_dir {path} guarda um modelo que este treino não treinou: passe --model_dir "
                                "NOVA para mantê-lo, ou --overwrite_model_dir para substituí-lo"},
    "model_dir_other_run": {"en": "model_dir {path} holds the model of another run (different {diff}): pass "
                                  "--model_dir NEW to keep it, or --overwrite_model_dir to replace it",
                            "pt": "a model_dir {path} guarda o modelo de outro treino (difere em {diff}): passe "
                                  "--model_dir NOVA para mantê-lo, ou --overwrite_model_dir para substituí-lo"},
    "already_finished": {"en": "the run in {path} already finished ({steps} steps, model in {model_dir}): nothing to "
                               "do. To train it further pass --max_steps above {steps}; to train afresh, another "
                               "--output_dir",
                         "pt": "o treino em {path} já terminou ({steps} passos, modelo em {model_dir}): nada a fazer. "
                               "Para treinar mais, passe --max_steps acima de {steps}; para treinar do zero, outra "
                               "--output_dir"},
    "no_model": {"en": "{path} holds no model (no config.json): train one with `make all` or give a model folder",
                 "pt": "{path} não guarda um modelo (falta config.json): treine um com `make all` ou indique a pasta "
                       "de um modelo"},
    "no_local_model": {"en": "{path}: no such local folder, and {why}: train one with `make all`, give a model "
                             "folder, or a Hub id such as user/machado-gpt while online",
                       "pt": "{path}: essa pasta não existe, e {why}: treine um modelo com `make all`, indique a pasta "
                             "de um modelo, ou um id do Hub como usuario/machado-gpt, com internet"},
    "offline": {"en": "offline (HF_HUB_OFFLINE is set)", "pt": "sem internet (HF_HUB_OFFLINE está definido)"},
    "not_hub_id": {"en": "not a Hub id (user/name)", "pt": "não é um id do Hub (usuario/nome)"},
    "config_not_found": {"en": "config file {path} not found: pick one of configs/*.yaml",
                         "pt": "a receita {path} não existe: escolha uma de configs/*.yaml"},
    "unknown_keys": {"en": "unknown key(s) {keys} in {path}: check the spelling against `--help`",
                     "pt": "chave(s) desconhecida(s) {keys} em {path}: confira a grafia em `--help`"},
    "time_budget": {"en": "time_budget {text} is not a duration: use seconds (600) or 90s, 10m, 1h, 1h30m",
                    "pt": "time_budget {text} não é uma duração: use segundos (600) ou 90s, 10m, 1h, 1h30m"},
    # Shared shapes of the command line's value checks: a number out of its range, a name not among the choices.
    "between": {"en": "{flag} {value} must be between {low} and {high}", "pt": "{flag} {value} deve ficar entre {low} e {high}"},
    "between_note": {"en": "{flag} {value} must be between {low} and {high} ({note})",
                     "pt": "{flag} {value} deve ficar entre {low} e {high} ({note})"},
    "unknown_choice": {"en": "unknown {name} {value}: use one of {choices}",
                       "pt": "{name} desconhecido, {value}: use um destes, {choices}"},
    "greedy_note": {"en": "0 is greedy, 0.7 the default", "pt": "0 é guloso, 0,7 o padrão"},
    "disables": {"en": "{off} disables it", "pt": "{off} o desliga"},
    "top_p_range": {"en": "top_p {value} must be in (0, 1] (1.0 disables it)",
                    "pt": "top_p {value} deve ficar em (0, 1] (1,0 o desliga)"},
    "repetition_penalty_range": {"en": "repetition_penalty {value} must be > 0 (1.0 disables it)",
                                 "pt": "repetition_penalty {value} deve ser > 0 (1,0 o desliga)"},
    "keep_fraction_range": {"en": "keep_fraction {value} must be in (0, 1)",
                            "pt": "keep_fraction {value} deve ficar em (0, 1)"},
    "top_k_range": {"en": "top_k {value} must be >= 0 (0 disables it)", "pt": "top_k {value} deve ser >= 0 (0 o desliga)"},
    "config_needs_path": {"en": "--config needs a path: --config configs/cpu.yaml",
                          "pt": "--config precisa de um caminho: --config configs/cpu.yaml"},
    "bad_arguments": {"en": "bad arguments {argv}: see the message above and `--help`",
                      "pt": "argumentos inválidos {argv}: veja a mensagem acima e `--help`"},
    "bad_arguments_detail": {"en": "bad arguments: {detail} (see `--help`)",
                             "pt": "argumentos inválidos: {detail} (veja `--help`)"},
    "no_tokenizer": {"en": "no tokenizer at {path}: train one with `python train_tokenizer.py --tokenizer_dir {path}`",
                     "pt": "não há tokenizador em {path}: treine um com `python train_tokenizer.py --tokenizer_dir "
                           "{path}`"},
    "tokenizer_dir_foreign": {"en": "{path} holds something other than a machado-gpt tokenizer: remove it or pass "
                                    "another --tokenizer_dir",
                              "pt": "{path} guarda outra coisa, não um tokenizador do machado-gpt: apague-a ou passe "
                                    "outra --tokenizer_dir"},
    "dataset_dir_foreign": {"en": "{path} exists and is not a machado-gpt dataset: remove it or pass another "
                                  "--dataset_dir",
                            "pt": "{path} existe e não é um conjunto de dados do machado-gpt: apague-a ou passe outra "
                                  "--dataset_dir"},
    "no_txt": {"en": "no .txt files under {path}: give a folder of UTF-8 .txt files",
               "pt": "não há arquivos .txt em {path}: indique uma pasta de arquivos .txt em UTF-8"},
    "not_utf8": {"en": "{path} is not UTF-8: convert it with `iconv -f latin1 -t utf-8`",
                 "pt": "{path} não está em UTF-8: converta-o com `iconv -f latin1 -t utf-8`"},
    "no_onnx": {"en": "no {path}: run `python export_onnx.py {model_dir}` first, or pass --backend torch",
                "pt": "não há {path}: rode antes `python export_onnx.py {model_dir}`, ou passe --backend torch"},
    "compile_onnx": {"en": "--compile is for the PyTorch backend: pass --backend torch with it",
                     "pt": "--compile é para o PyTorch: passe --backend torch junto"},
    "hub_token": {"en": "no Hugging Face token: run `hf auth login` or set HF_TOKEN (a write token), then try again",
                  "pt": "não há token do Hugging Face: rode `hf auth login` ou defina HF_TOKEN (um token de escrita) "
                        "e tente de novo"},
    "hub_offline": {"en": "HF_HUB_OFFLINE is set: unset it to upload, or use --dry_run to stage and check offline",
                    "pt": "HF_HUB_OFFLINE está definido: tire-o para enviar, ou use --dry_run para preparar e conferir "
                          "sem internet"},
    "size_bounds": {"en": "{flag} {value} must be between {low} and {high}: a model needs at least one of each",
                    "pt": "{flag} {value} deve ficar entre {low} e {high}: um modelo precisa de pelo menos um de "
                          "cada"},
}
# The demo's controls, named as its Portuguese interface names them.
NAMES_PT = {"length": "comprimento", "seed": "semente", "temperature": "temperatura", "layer": "camada",
            "head": "cabeça", "position": "posição"}
ERROR_TITLE = {"en": "Error", "pt": "Erro"}


def cli_language(environ: dict | None = None) -> str:
    """The terminal's language: MACHADO_LANG (pt or en) if set, else the locale variables in POSIX order (LC_ALL,
    LC_MESSAGES, LANG, then LANGUAGE's first entry): 'pt' for pt_BR.UTF-8 and the like, else 'en'."""
    env = os.environ if environ is None else environ
    for name in ("MACHADO_LANG", "LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        value = env.get(name)
        if value and value not in ("C", "POSIX", "C.UTF-8"):
            return "pt" if value.split(":")[0].lower().startswith("pt") else "en"
    return "en"


def message(key: str, lang: str = "en", **params) -> str:
    """MESSAGES[key] in `lang`; numbers in the parameters are written as that language writes them, and a parameter
    given as {language: text} is taken in `lang`."""
    shown = {k: number(v, lang) if isinstance(v, int) and not isinstance(v, bool) else v[lang] if isinstance(v, dict)
             else v for k, v in params.items()}
    if lang == "pt" and "name" in shown:
        shown["name"] = NAMES_PT.get(shown["name"], shown["name"])
    return MESSAGES[key][lang].format(**shown)
