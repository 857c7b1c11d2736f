"""Each cleaning step on small made-up text."""

import unicodedata

from machado_gpt import cleaning


def test_normalize_unicode_composes_nfd():
    nfd = unicodedata.normalize("NFD", "ação")
    assert len(nfd) == 6
    assert cleaning.normalize_unicode(nfd) == "ação"


def test_normalize_newlines():
    assert cleaning.normalize_newlines("a\r\nb\rc\n") == "a\nb\nc\n"


def test_strip_trailing_spaces():
    assert cleaning.strip_trailing_spaces("a  \nb\t\nc\u00a0") == "a\nb\nc"


def test_collapse_blank_lines():
    assert cleaning.collapse_blank_lines("\na\n\n\n\nb\n\nc\n") == "a\n\nb\n\nc"


def test_split_title():
    title, body = cleaning.split_title("Dom Casmurro\n\nCAPÍTULO PRIMEIRO\nUma noite")
    assert (title, body) == ("Dom Casmurro", "CAPÍTULO PRIMEIRO\nUma noite")


def test_drop_index_block_up_to_the_repeated_first_entry():
    text = "ÍNDICE\nADVERTÊNCIA\nO ALIENISTA\nNOTAS\nADVERTÊNCIA\nEste título de Papéis Avulsos."
    assert cleaning.drop_index_blocks(text) == "ADVERTÊNCIA\nEste título de Papéis Avulsos."


def test_drop_index_matches_loosely_and_keeps_text_around():
    text = "Prefácio curto.\nÍNDICE\nADVERTÊNCIA DA 1ª EDIÇÃO\nA IGREJA DO DIABO\nADVERTÊNCIA DA 1a EDIÇÃO\nDe todos os contos"
    assert cleaning.drop_index_blocks(text) == "Prefácio curto.\nADVERTÊNCIA DA 1a EDIÇÃO\nDe todos os contos"
    wrapped = "ÍNDICE\nParecer sobre o drama em três atos CLERMONT OU A MULHER\nOutro\nPARECER SOBRE O DRAMA EM TRÊS ATOS\nTexto"
    assert cleaning.drop_index_blocks(wrapped) == "PARECER SOBRE O DRAMA EM TRÊS ATOS\nTexto"


def test_drop_index_without_repeat_drops_only_the_heading():
    assert cleaning.drop_index_blocks("ÍNDICE\nUm texto qualquer.") == "Um texto qualquer."


def test_is_heading():
    assert cleaning.is_heading("CAPÍTULO II")
    assert cleaning.is_heading("DURVAL")
    assert cleaning.is_heading("XIV")
    assert not cleaning.is_heading("— Sim, senhor.")
    assert not cleaning.is_heading("Cena I e mais")


WRAPPED = (
    "CAPÍTULO PRIMEIRO\n"
    "DO TÍTULO\n"
    "Uma noite destas, vindo da cidade para o Engenho Novo, encontrei no trem da\n"
    "Central um rapaz aqui do bairro, que eu conheço de vista e de chapéu.\n"
    "— Continue, disse eu acordando.\n"
    "— Já acabei, murmurou ele.\n"
    "Vi-lhe fazer um gesto para tirá-los outra vez do bolso, mas não passou do gesto;\n"
    "estava amuado. No dia seguinte entrou a dizer de mim nomes feios, e acabou sentar-\n"
    "se comigo, sem compa-\n"
    "ração possível; a comparação era boa. Ainda tinha isto a dizer ao fim de tudo.\n"
    "Vivo só, com um criado.\n"
    "\n"
    "DURVAL\n"
    "(acordando)\n"
    "Ah! Que é isto?\n"
)


def test_rejoin_hard_wraps_keeps_paragraphs_dialogue_and_headings():
    out = cleaning.rejoin_hard_wraps(WRAPPED).strip("\n").split("\n")
    assert out == [
        "CAPÍTULO PRIMEIRO",
        "DO TÍTULO",
        "Uma noite destas, vindo da cidade para o Engenho Novo, encontrei no trem da Central um rapaz aqui do "
        "bairro, que eu conheço de vista e de chapéu.",
        "— Continue, disse eu acordando.",
        "— Já acabei, murmurou ele.",
        "Vi-lhe fazer um gesto para tirá-los outra vez do bolso, mas não passou do gesto; estava amuado. No dia "
        "seguinte entrou a dizer de mim nomes feios, e acabou sentar-se comigo, sem comparação possível; a "
        "comparação era boa. Ainda tinha isto a dizer ao fim de tudo. Vivo só, com um criado.",
        "",
        "DURVAL",
        "(acordando)",
        "Ah! Que é isto?",
    ]


def test_mid_sentence_share():
    assert cleaning.mid_sentence_newline_share("uma\nvez. Era\nUm") == 0.5
    assert cleaning.mid_sentence_newline_share("sem quebra") == 0.0
    wrapped = "Uma noite destas, vindo da cidade para o Engenho Novo, encontrei no trem da\ncidade um rapaz,\nque eu\n"
    assert cleaning.mid_sentence_newline_share(wrapped) == 2 / 3
    assert cleaning.mid_sentence_newline_share(cleaning.rejoin_hard_wraps(wrapped)) == 0.0
