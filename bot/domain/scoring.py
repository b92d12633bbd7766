"""Triage score (SPEC §6): the catalogue's formula over a request's answers, its GitLab weight and band label."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.catalog import TriageSpec

Compile = Callable[[str], Callable[..., Any]]


@dataclass(frozen=True)
class TriageResult:
    score: int
    weight: int | None
    label: str | None


class TriageFormulaError(Exception):
    """The catalogue's formula failed on these answers (e.g. an option it has no points for)."""


def score_request(spec: TriageSpec, answers: Mapping[str, Any], compile_expression: Compile, *,
                  field_ids: Iterable[str] = ()) -> TriageResult:
    """Evaluate the score (clamped to 0-100), the GitLab weight and the band label.

    `field_ids` are the model's fields: one the requester skipped (optional, or hidden) reads as None,
    so a formula like `20 if answers.okr_url else 0` works without it.
    """
    answers = {**dict.fromkeys(field_ids), **answers}
    try:
        raw = compile_expression(spec.score)(answers=dict(answers))
        score = max(0, min(100, round(float(raw))))
        weight = None
        if spec.weight:
            weight = max(0, int(compile_expression(spec.weight)(score=score, answers=dict(answers))))
    except Exception as exc:  # a formula is data written by an admin: report it, whatever it did
        raise TriageFormulaError(f"triage formula failed: {exc}") from exc
    label = next((b.label for b in sorted(spec.bands, key=lambda b: -b.min) if score >= b.min), None)
    return TriageResult(score=score, weight=weight, label=label)
