"""The same need from several teams (§16): how alike two requests read, and which requests form a cluster.

Pure: the texts come in, scores (0–100) and clusters go out. The threshold is calibrated on labelled
pairs (tests/data/similar_pairs.json; docs/similar-requests.md says how and what it gives).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz import fuzz

# Calibrated on tests/data/similar_pairs.json (docs/similar-requests.md): change both together.
THRESHOLD = 62.0
TITLE_WEIGHT = 0.6  # the title names the need; the free text says it again, with more noise
MOST = 5  # the deciders' card names at most this many

# Words every request uses whatever its need: they make unrelated requests look alike.
STOP_WORDS = frozenset(re.findall(r"\S+", """
a an and are as at be but by can do for from has have how i in into is it its me my need needs of on or our
should so that the their them they this to us we what when who why will with would you your all also any
about after get more new want wants help learn learning course courses training trainings workshop workshops
session sessions class classes pathway pathways content request requests team teams people person member
members everyone basics basic intro introduction beginner beginners beginning skill skills practice
practices tips good better best way ways short quick some use using
"""))
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Text:
    """What a request says: its title and its free text (the long answers)."""

    title: str
    body: str = ""


def _stem(word: str) -> str:
    """Plurals and -ing folded, so "negotiating" meets "negotiation" halfway and "demos" meets "demo"."""
    for suffix, keep in (("ies", "y"), ("ing", ""), ("ion", ""), ("s", "")):
        if len(word) > len(suffix) + 3 and word.endswith(suffix) and not word.endswith("ss"):
            return word[: -len(suffix)] + keep
    return word


def normalise(text: str) -> str:
    """Lower case, no accents or punctuation, no stop words, crude stems: the words that carry the need."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    words = [_stem(w) for w in _WORD.findall(folded) if w not in STOP_WORDS]
    return " ".join(w for w in words if w not in STOP_WORDS)


def _pair_score(a_title: str, a_all: str, b_title: str, b_all: str) -> float:
    if not a_all or not b_all:  # each holds its title
        return 0.0
    title = fuzz.token_set_ratio(a_title, b_title) if a_title and b_title else 0.0
    # token_set_ratio calls a subset a match; on the longer text a sorted ratio punishes "Python" ⊂ "Python for…"
    body = fuzz.token_set_ratio(a_all, b_all) * 0.5 + fuzz.token_sort_ratio(a_all, b_all) * 0.5
    return round(TITLE_WEIGHT * title + (1 - TITLE_WEIGHT) * body, 1)


def score(a: Text, b: Text) -> float:
    """How alike two requests read, 0–100 (symmetric)."""
    at, bt = normalise(a.title), normalise(b.title)
    return _pair_score(at, normalise(f"{a.title} {a.body}"), bt, normalise(f"{b.title} {b.body}"))


def similar(new: Text, candidates: dict[int, Text], *, threshold: float = THRESHOLD,
            most: int = MOST) -> list[tuple[int, float]]:
    """The candidates that read like `new`, best first (ties: the older, smaller id first), at most `most`."""
    if not candidates:
        return []
    new_title, new_whole = normalise(new.title), normalise(f"{new.title} {new.body}")
    if not new_whole:
        return []
    found = []
    for rid, text in candidates.items():  # a bounded set (the caller's one query): three C calls each
        s = _pair_score(new_title, new_whole, normalise(text.title), normalise(f"{text.title} {text.body}"))
        if s >= threshold:
            found.append((rid, s))
    found.sort(key=lambda p: (-p[1], p[0]))
    return found[:most]


def clusters(pairs: Iterable[tuple[int, int]]) -> list[list[int]]:
    """The connected groups of requests that resemble each other: each sorted, the groups by their first id."""
    parent: dict[int, int] = {}

    def root(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = {}
    for x in parent:
        groups.setdefault(root(x), []).append(x)
    return sorted((sorted(g) for g in groups.values() if len(g) > 1), key=lambda g: g[0])
