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
    # The command line's other messages.
    "unknown_activation": {"en": 'unknown activation_function {value}: use relu2, gelu_new, silu or '
                                 'another transformers ACT2FN name',
                           "pt": 'activation_function desconhecida, {value}: use relu2, gelu_new, '
                                 'silu ou outro nome do ACT2FN do transformers'},
    "heads_divide": {"en": 'n_embd {n_embd} is not divisible by n_head {n_head}: pick n_head among '
                           'its divisors',
                     "pt": 'n_embd {n_embd} não é divisível por n_head {n_head}: escolha n_head entre'
                           ' os seus divisores'},
    "block_size": {"en": 'block_size {block_size} is larger than n_positions {n_positions}: the model'
                         ' is trained and windowed at n_positions; lower block_size or raise '
                         'n_positions',
                   "pt": 'block_size {block_size} é maior que n_positions {n_positions}: o modelo '
                         'treina e olha uma janela de n_positions; diminua block_size ou aumente '
                         'n_positions'},
    "dropout_range": {"en": '{name} {value} must be in [0, 1)',
                      "pt": '{name} {value} deve ficar em [0, 1)'},
    "hp_search_backend": {"en": 'unknown hp_search backend {value}: use optuna (offline) or wandb '
                                '(W&B account)',
                          "pt": 'hp_search desconhecido, {value}: use optuna (sem internet) ou wandb '
                                '(conta no W&B)'},
    "mixed_precision": {"en": 'unknown mixed_precision {value}: use auto, bf16, fp16 or no',
                        "pt": 'mixed_precision desconhecida, {value}: use auto, bf16, fp16 ou no'},
    "fractions": {"en": 'validation_fraction and test_fraction must be in (0, 0.5): try 0.05',
                  "pt": 'validation_fraction e test_fraction devem ficar em (0, 0,5): tente 0,05'},
    "no_readable_works": {"en": 'no readable UTF-8 works under {path}: see the warnings above',
                          "pt": 'nenhuma obra legível em UTF-8 em {path}: veja os avisos acima'},
    "corpus_target_full": {"en": '{path} already holds files: remove it first or pass another '
                                 '--corpus_dir',
                           "pt": '{path} já guarda arquivos: apague-a antes ou passe outra '
                                 '--corpus_dir'},
    "download_failed": {"en": 'could not download {dataset} ({error}): check your connection, or '
                              'download it by hand from {url} and unzip it to {path}',
                        "pt": 'não foi possível baixar {dataset} ({error}): confira a conexão, ou '
                              'baixe-o à mão em {url} e descompacte-o em {path}'},
    "download_empty": {"en": 'the download at {path} holds no .txt files: download it by hand from '
                             '{url}',
                       "pt": 'o download em {path} não tem arquivos .txt: baixe-o à mão em {url}'},
    "repo_id": {"en": '--repo_id must be user/name (got {value}): e.g. --repo_id joao/machado-gpt',
                "pt": '--repo_id deve ser usuario/nome (veio {value}): por exemplo --repo_id '
                      'joao/machado-gpt'},
    "space_id": {"en": '--space must be user/name (got {value}): e.g. --space joao/sonhos-machadianos',
                 "pt": '--space deve ser usuario/nome (veio {value}): por exemplo --space '
                       'joao/sonhos-machadianos'},
    "not_trained_folder": {"en": '{path} is not a trained model folder (no '
                                 'config.json/model.safetensors): run train_hf.py',
                           "pt": '{path} não é a pasta de um modelo treinado (falta '
                                 'config.json/model.safetensors): rode train_hf.py'},
    "unsafe_file": {"en": '{path} holds {name} ({kind}): remove it; a shareable folder holds '
                          'safetensors and JSON only',
                    "pt": '{path} guarda {name} ({kind}): apague-o; uma pasta para compartilhar só '
                          'tem safetensors e JSON'},
    "export_not_local": {"en": '{path} is not a local folder: download it first (`hf download {path} '
                               '--local-dir machado-gpt`) and export that folder',
                         "pt": '{path} não é uma pasta local: baixe-a antes (`hf download {path} '
                               '--local-dir machado-gpt`) e exporte essa pasta'},
    "muon_lr": {"en": 'muon_learning_rate {value} must be positive',
                "pt": 'muon_learning_rate {value} deve ser positivo'},
    "decay_fraction": {"en": 'decay_fraction {value} must be in (0, 1]',
                       "pt": 'decay_fraction {value} deve ficar em (0, 1]'},
    "replan_schedule": {"en": 'lr_scheduler_type {value} cannot be re-planned by a time budget: use '
                              'cosine, linear, constant_with_warmup or warmup_stable_decay',
                        "pt": 'lr_scheduler_type {value} não pode ser replanejado por um orçamento de'
                              ' tempo: use cosine, linear, constant_with_warmup ou '
                              'warmup_stable_decay'},
    "sweep_missing": {"en": 'sweep file {path} not found: see configs/sweeps/',
                      "pt": 'o arquivo de busca {path} não existe: veja configs/sweeps/'},
    "sweep_method": {"en": 'sweep {path}: method must be one of {methods}',
                     "pt": 'busca {path}: method deve ser um de {methods}'},
    "sweep_parameters": {"en": 'sweep {path}: unknown or no parameters {unknown}: use {known} or '
                               'TrainingArguments fields',
                         "pt": 'busca {path}: parâmetros desconhecidos ou nenhum, {unknown}: use '
                               '{known} ou campos de TrainingArguments'},
    "sweep_values": {"en": 'sweep {path}: parameter {name} needs values, value, or min and max',
                     "pt": 'busca {path}: o parâmetro {name} precisa de values, value, ou min e max'},
    "wandb_offline": {"en": "W&B sweeps cannot run offline (the sweep controller is W&B's server): "
                            'unset WANDB_MODE and `wandb login`, or use --hp_search optuna with the '
                            'same sweep file',
                      "pt": 'buscas do W&B não rodam sem internet (quem controla a busca é o servidor'
                            ' do W&B): tire WANDB_MODE e faça `wandb login`, ou use --hp_search '
                            'optuna com o mesmo arquivo'},
    "wandb_account": {"en": 'no W&B account: `wandb login` (or set WANDB_API_KEY) to run W&B sweeps, '
                            'or use --hp_search optuna, which runs the same sweep file offline',
                      "pt": 'não há conta no W&B: `wandb login` (ou defina WANDB_API_KEY) para buscas'
                            ' no W&B, ou use --hp_search optuna, que roda o mesmo arquivo sem '
                            'internet'},
    "search_needs_eval": {"en": 'hyperparameter search needs evaluations during training '
                                '(eval_strategy: steps) to prune',
                          "pt": 'a busca de hiperparâmetros precisa de avaliações durante o treino '
                                '(eval_strategy: steps) para podar'},
    "no_trial": {"en": 'no trial of {name} completed: see the log above',
                 "pt": 'nenhuma tentativa de {name} terminou: veja o registro acima'},
    "bpe_dropout": {"en": 'bpe_dropout {value} must be in [0, 1) and needs tokenizer_kind bpe (a char tokenizer has no '
                          'merges to drop): try 0.1',
                    "pt": 'bpe_dropout {value} deve ficar em [0, 1) e pede tokenizer_kind bpe (o tokenizador de '
                          'caracteres não tem fusões a pular): tente 0,1'},
    "train_fraction": {"en": 'train_fraction {value} must be in (0, 1]: 0.25 trains on the first quarter of every '
                             'work\'s train text',
                       "pt": 'train_fraction {value} deve ficar em (0, 1]: 0,25 treina no primeiro quarto do texto de '
                             'treino de cada obra'},
    "ema_decay": {"en": 'ema_decay {value} must be in (0, 1): try 0.995 (an average over about the last 200 steps)',
                  "pt": 'ema_decay {value} deve ficar em (0, 1): tente 0,995 (uma média dos últimos 200 passos, '
                        'mais ou menos)'},
    "swa_start": {"en": 'swa_start {value} must be in [0, 1): the share of the run before averaging starts (0.6: '
                        'the last 40%)',
                  "pt": 'swa_start {value} deve ficar em [0, 1): a parte do treino antes de a média começar (0,6: '
                        'os últimos 40%)'},
    "bpe_vocab": {"en": 'tokenizer_vocab_size {value} is too small for byte-level BPE: it needs at '
                        'least 258 (256 bytes + 2 special tokens)',
                  "pt": 'tokenizer_vocab_size {value} é pequeno demais para o BPE de bytes: precisa '
                        'de pelo menos 258 (256 bytes + 2 tokens especiais)'},
    "eval_blocks": {"en": '{blocks} evaluation blocks per process is less than '
                          'per_device_eval_batch_size {batch} with dataloader_drop_last: raise '
                          'max_eval_blocks or lower per_device_eval_batch_size',
                    "pt": '{blocks} blocos de avaliação por processo é menos que '
                          'per_device_eval_batch_size {batch} com dataloader_drop_last: aumente '
                          'max_eval_blocks ou diminua per_device_eval_batch_size'},
    "no_checkpoint": {"en": 'no usable checkpoint in {path} ({damaged} damaged, named above): pass '
                            'another --output_dir to start afresh, or --resume_from_checkpoint PATH',
                      "pt": 'nenhum checkpoint utilizável em {path} ({damaged} danificados, nomeados '
                            'acima): passe outra --output_dir para começar do zero, ou '
                            '--resume_from_checkpoint CAMINHO'},
    "bad_checkpoint": {"en": '--resume_from_checkpoint {path} cannot be resumed ({problem}): give '
                             'another checkpoint, or leave the flag out to take the newest complete '
                             'one',
                       "pt": '--resume_from_checkpoint {path} não pode ser retomado ({problem}): '
                             'indique outro checkpoint, ou tire a opção para usar o mais novo '
                             'completo'},
    "oom": {"en": 'out of memory at per_device_train_batch_size {batch}: halve it and double '
                  'gradient_accumulation_steps (now {accumulation}) to keep the same batch',
            "pt": 'memória esgotada com per_device_train_batch_size {batch}: divida-o por 2 e dobre '
                  'gradient_accumulation_steps (agora {accumulation}) para manter o mesmo lote'},
    "web_no_onnx": {"en": 'no {path}: run `python export_onnx.py {model_dir}` first',
                    "pt": 'não há {path}: rode antes `python export_onnx.py {model_dir}`'},
    "web_install": {"en": 'web/node_modules is missing: run `make web-install` (npm install in web/)',
                    "pt": 'falta web/node_modules: rode `make web-install` (npm install em web/)'},
    "no_final_norm": {"en": 'no final norm found in {model}: the logit lens knows GPT-2 and Qwen3',
                      "pt": 'nenhuma norma final em {model}: a lente de logits conhece GPT-2 e Qwen3'},
    "card_field": {"en": 'model card: {key} is {value}, expected {want}',
                   "pt": 'cartão do modelo: {key} é {value}, esperado {want}'},
    "staged_pickles": {"en": 'staged files include pickles {names}: they must never be uploaded',
                       "pt": 'os arquivos preparados incluem pickles {names}: eles nunca devem ser '
                             'enviados'},
    "export_disagrees": {"en": '{path} disagrees with PyTorch (see {report}): report it with that '
                               'file',
                         "pt": '{path} discorda do PyTorch (veja {report}): relate o problema com '
                               'esse arquivo'},
    "export_builder_failed": {"en": "onnxruntime-genai's model builder failed on {path}: {error}. model.onnx is "
                                    "written; install requirements.txt's onnxruntime-genai and report it with this line",
                              "pt": "o construtor de modelos do onnxruntime-genai falhou em {path}: {error}. "
                                    "model.onnx foi escrito; instale o onnxruntime-genai do requirements.txt e relate "
                                    "o problema com esta linha"},
    "page_load": {"en": 'the page could not load the model: {status}',
                  "pt": 'a página não conseguiu carregar o modelo: {status}'},
    "page_failed": {"en": 'the page failed: {status} {errors}',
                    "pt": 'a página falhou: {status} {errors}'},
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
