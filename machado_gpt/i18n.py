"""Portuguese first: numbers written the way each reader's language writes them (Babel's CLDR data, which does not
depend on the machine's installed locales), and the reader's language from a browser's Accept-Language.

Example: number(1.7234, "pt", 3) -> '1,723'; number(1328512, "pt") -> '1.328.512'; number(1328512, "en") -> '1,328,512'.
"""

from __future__ import annotations

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


# The messages a reader of the demo can meet, in both languages: the English one is also what the command line prints
# (MachadoError.of). Parameters are numbers or short texts; numbers are written as each language writes them.
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
}
# The demo's controls, named as its Portuguese interface names them.
NAMES_PT = {"length": "comprimento", "seed": "semente", "temperature": "temperatura", "layer": "camada",
            "head": "cabeça", "position": "posição"}
ERROR_TITLE = {"en": "Error", "pt": "Erro"}


def message(key: str, lang: str = "en", **params) -> str:
    """MESSAGES[key] in `lang`; numbers in the parameters are written as that language writes them."""
    shown = {k: number(v, lang) if isinstance(v, int) and not isinstance(v, bool) else v for k, v in params.items()}
    if lang == "pt" and "name" in shown:
        shown["name"] = NAMES_PT.get(shown["name"], shown["name"])
    return MESSAGES[key][lang].format(**shown)
