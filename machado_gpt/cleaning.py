"""Cleaning of the PDF-extracted Machado texts: one small named function per step, each tested.

The raw files are hard-wrapped at about 80 columns with no blank line between paragraphs,
so ~61% of all newlines in prose fall mid-sentence. `rejoin_hard_wraps` turns them back into
one line per paragraph; poetry keeps its verse lines.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

INDEX_HEADING = "ÍNDICE"

# A line that ends a sentence: terminal punctuation, optionally followed by closing quotes/brackets.
_TERMINAL = re.compile(r"[.!?…:][”\"»’')\]]*$")
_ROMAN = re.compile(r"[IVXLCDM]+\.?")
_STOPWORDS = {"de", "da", "do", "das", "dos", "e", "a", "o", "as", "os", "em"}


def normalize_unicode(text: str) -> str:
    """NFC, so that 'ç' is one code point whatever the PDF extractor produced ('c' + U+0327 -> 'ç')."""
    return unicodedata.normalize("NFC", text)


def normalize_newlines(text: str) -> str:
    """'a\\r\\nb\\rc' -> 'a\\nb\\nc'."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def strip_trailing_spaces(text: str) -> str:
    """Strip spaces and tabs at the end of every line: 'a  \\nb\\t' -> 'a\\nb'."""
    return re.sub(r"[ \t\u00a0]+(?=\n|$)", "", text)


def collapse_blank_lines(text: str) -> str:
    """Runs of blank lines become one blank line, and the text is stripped: 'a\\n\\n\\n\\nb\\n' -> 'a\\n\\nb'."""
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


def split_title(text: str) -> tuple[str, str]:
    """The first non-empty line is the work's title: 'Dom Casmurro\\n\\nCAPÍTULO...' -> ('Dom Casmurro', 'CAPÍTULO...')."""
    lines = text.lstrip("\n").split("\n", 1)
    title = lines[0].strip()
    body = lines[1] if len(lines) > 1 else ""
    return title, body.lstrip("\n")


def _index_key(line: str) -> str:
    """Loose key to match an index entry with its heading: 'ADVERTÊNCIA DA 1ª EDIÇÃO' == 'Advertência da 1a edição'."""
    words = re.findall(r"\w+", unicodedata.normalize("NFKC", line).casefold())
    return " ".join(w for w in words if w not in _STOPWORDS)


def _same_entry(a: str, b: str) -> bool:
    ka, kb = _index_key(a), _index_key(b)
    if not ka or not kb:
        return False
    # Long entries wrap over two lines in the index or in the heading, so a prefix counts.
    short = min(len(ka), len(kb))
    return ka == kb or (short >= 12 and (ka.startswith(kb) or kb.startswith(ka)))


def drop_index_blocks(text: str, max_entries: int = 300) -> str:
    """Drop every table of contents: a line 'ÍNDICE' and the entries after it, up to the line where
    the first entry comes back as the heading that starts the body.

    Example: 'ÍNDICE\\nCAPÍTULO I\\nCAPÍTULO II\\nCAPÍTULO I\\nEra uma vez' -> 'CAPÍTULO I\\nEra uma vez'.
    If the first entry never comes back, only the 'ÍNDICE' line itself is dropped.
    """
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        if lines[i].strip() != INDEX_HEADING:
            out.append(lines[i])
            i += 1
            continue
        first = next((j for j in range(i + 1, len(lines)) if lines[j].strip()), None)
        end = None
        if first is not None:
            for j in range(first + 1, min(len(lines), first + max_entries)):
                if _same_entry(lines[j], lines[first]):
                    end = j
                    break
        i = end if end is not None else i + 1
    return "\n".join(out)


def is_heading(line: str) -> bool:
    """Chapter headings, section numbers and theatre speaker lines: all letters uppercase, or a roman numeral.

    'CAPÍTULO II' -> True, 'DURVAL' -> True, 'XIV' -> True, 'Cena I' -> False, '— Sim.' -> False.
    """
    s = line.strip()
    if not s or len(s) > 100:
        return False
    if _ROMAN.fullmatch(s):
        return True
    letters = [c for c in s if c.isalpha()]
    return len(letters) >= 2 and all(c.isupper() for c in letters)


def typical_width(lines: Iterable[str]) -> int:
    """The wrap width of a work: the 90th percentile of its non-empty line lengths (about 68-82 here)."""
    lengths = sorted(len(s) for s in lines if s.strip())
    return lengths[int(0.9 * (len(lengths) - 1))] if lengths else 80


def _continues(prev: str, nxt: str, width: int) -> bool:
    """Whether line `nxt` continues the paragraph that line `prev` belongs to."""
    p, n = prev.rstrip(), nxt.lstrip()
    if is_heading(p) or is_heading(n):
        # A long heading wrapped over two lines ('DO LUGAR EM QUE ... QUE' / 'OCORRERAM ...').
        return is_heading(p) and is_heading(n) and len(p) >= 0.6 * width and not _TERMINAL.search(p)
    if n[:1].islower():
        return True
    if _TERMINAL.search(p):
        # Measured on the corpus: a sentence that ends on a full-width line usually goes on in the
        # same paragraph; a paragraph's last line is usually short. Dialogue always starts a paragraph.
        return not n.startswith("—") and len(p) >= 0.85 * width
    if n.startswith(("—", "(")) and len(p) < 0.6 * width:
        return False
    # A short line with no final punctuation followed by a capital: a signature, a date, a title.
    return len(p) >= 0.6 * width


def _join(cur: str, nxt: str, vocab: set[str]) -> str:
    """Join a wrapped line to its paragraph; a word hyphenated across the break is rejoined only if the
    joined word occurs elsewhere in the work ('compa-' + 'ração' -> 'comparação'), since most
    line-final hyphens in Portuguese are real ('sentar-' + 'se' -> 'sentar-se')."""
    m = re.search(r"(\w+)-$", cur)
    if m and nxt[:1].islower():
        head = re.match(r"\w+", nxt)
        if head and (m.group(1) + head.group(0)).lower() in vocab:
            return cur[:-1] + nxt
        return cur + nxt
    return cur + " " + nxt


def rejoin_hard_wraps(text: str) -> str:
    """Rejoin the lines of each prose paragraph: one paragraph per line, blank lines kept.

    Keeps paragraph breaks, dialogue lines (starting with '—'), headings and theatre speaker lines.
    Example: 'Era uma\\nvez um rei.\\n— Disse ele.' -> 'Era uma vez um rei.\\n— Disse ele.'
    """
    lines = text.split("\n")
    width = typical_width(lines)
    vocab = set(re.findall(r"\w+", text.lower()))
    out: list[str] = []
    cur: str | None = None
    prev = ""
    for line in lines:
        if not line.strip():
            if cur is not None:
                out.append(cur)
                cur = None
            out.append("")
        elif cur is not None and _continues(prev, line, width):
            cur = _join(cur, line.lstrip(), vocab)
        else:
            if cur is not None:
                out.append(cur)
            cur = line
        prev = line if line.strip() else ""
    if cur is not None:
        out.append(cur)
    return "\n".join(out)


def mid_sentence_newline_share(text: str) -> float:
    """Share of newlines that fall mid-sentence: a lowercase letter or comma before, a lowercase letter after.

    Example: 'uma\\nvez. Era\\nUm' -> 0.5 (the first newline is mid-sentence, the second is not).
    """
    total = text.count("\n")
    if total == 0:
        return 0.0
    mid = 0
    for m in re.finditer(r"(?<=.)\n(?=.)", text):
        before, after = text[m.start() - 1], text[m.start() + 1]
        mid += (before.islower() or before == ",") and after.islower()
    return mid / total
