"""Measures of generated text: word validity, distinct-n, and copying from the training split.

The thesis judged its samples by eye; about 6% of the words in its three published samples exist nowhere in
Machado's works ("madrujo", "proviciosos"). These numbers make that judgement repeatable.
"""

from __future__ import annotations

import re

import numpy as np

_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")  # letters, with inner hyphens: 'disse-lhe' is one word
_BASE = np.uint64(0x9E3779B97F4A7C15)  # odd, so invertible modulo 2**64


def words(text: str) -> list[str]:
    """Lowercased words: 'Disse-lhe: — Capitu, 1889!' -> ['disse-lhe', 'capitu']."""
    return [w.lower() for w in _WORD.findall(text)]


def word_validity(samples: list[str], vocabulary: set[str]) -> float:
    """Share of the samples' words that occur in `vocabulary` (the training split's words).
    Example: ['o gato mia'] with vocabulary {'o', 'gato'} -> 2/3."""
    ws = [w for s in samples for w in words(s)]
    return sum(w in vocabulary for w in ws) / len(ws) if ws else 0.0


def distinct_n(samples: list[str], n: int) -> float:
    """Unique word n-grams over all n-grams in the samples (Li et al., 2016).
    Example: ['a b a b'], n=2 -> {('a','b'), ('b','a')} / 3 grams = 2/3."""
    grams = [tuple(ws[i : i + n]) for s in samples for ws in [words(s)] for i in range(len(ws) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


class CopyIndex:
    """Finds the longest span of a text copied verbatim from a reference text (the training split).

    Rolling 64-bit hashes of all windows of a given length, sorted once per length and searched with
    numpy: about a second per length over the 10 M characters of the corpus. The longest copied span is
    found by binary search on the length (a copied span of length L contains one of every shorter length).
    """

    def __init__(self, reference: str):
        codes = np.frombuffer(reference.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        self.n = len(codes)
        self.prefix, self.inv_powers = self._prefix_hashes(codes)
        self._sorted: dict[int, np.ndarray] = {}

    @staticmethod
    def _prefix_hashes(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # H[i] = sum_{j<i} (c_j + 1) * B^j, window hash(i, L) = (H[i+L] - H[i]) * B^-i, all modulo 2**64.
        with np.errstate(over="ignore"):
            powers = np.cumprod(np.full(len(codes), _BASE, dtype=np.uint64), dtype=np.uint64)
            powers = np.concatenate([[np.uint64(1)], powers[:-1]])
            prefix = np.concatenate([[np.uint64(0)], np.cumsum((codes + np.uint64(1)) * powers, dtype=np.uint64)])
            inv = np.uint64(pow(int(_BASE), -1, 2**64))
            inv_powers = np.cumprod(np.full(len(codes), inv, dtype=np.uint64), dtype=np.uint64)
            inv_powers = np.concatenate([[np.uint64(1)], inv_powers[:-1]])
        return prefix, inv_powers

    @staticmethod
    def _windows(prefix: np.ndarray, inv_powers: np.ndarray, length: int) -> np.ndarray:
        with np.errstate(over="ignore"):
            return (prefix[length:] - prefix[:-length]) * inv_powers[: len(prefix) - length]

    def _reference_hashes(self, length: int) -> np.ndarray:
        if length not in self._sorted:
            self._sorted[length] = np.sort(self._windows(self.prefix, self.inv_powers, length))
        return self._sorted[length]

    def copies(self, text: str, length: int) -> bool:
        """Whether some span of `text` of exactly `length` characters occurs in the reference."""
        if length == 0:
            return True
        if length > len(text) or length > self.n:
            return False
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        prefix, inv = self._prefix_hashes(codes)
        ref = self._reference_hashes(length)
        mine = self._windows(prefix, inv, length)
        pos = np.searchsorted(ref, mine).clip(max=len(ref) - 1)
        return bool((ref[pos] == mine).any())

    def longest_copied_span(self, text: str) -> int:
        """Length of the longest substring of `text` that occurs verbatim in the reference."""
        lo, hi = 0, len(text)  # invariant: copies(lo) and not copies(hi + 1)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.copies(text, mid):
                lo = mid
            else:
                hi = mid - 1
        return lo


def quality_report(samples: list[str], prompts: list[str], train_text: str, copy_threshold: int = 50,
                   index: CopyIndex | None = None) -> dict:
    """Word validity, distinct-1/2 and copying of generated continuations (prompts removed)."""
    continuations = [s[len(p):] if s.startswith(p) else s for s, p in zip(samples, prompts)]
    vocabulary = set(words(train_text))
    index = index or CopyIndex(train_text)
    spans = [index.longest_copied_span(c) for c in continuations]
    return {
        "samples": len(continuations),
        "word_validity": round(word_validity(continuations, vocabulary), 4),
        "distinct_1": round(distinct_n(continuations, 1), 4),
        "distinct_2": round(distinct_n(continuations, 2), 4),
        "longest_copied_span": max(spans, default=0),
        "mean_longest_copied_span": round(float(np.mean(spans)), 1) if spans else 0.0,
        f"share_copying_over_{copy_threshold}_chars": round(sum(s > copy_threshold for s in spans) / len(spans), 4)
        if spans else 0.0,
    }
