"""The report's one chart: requests received and decisions made per week, stacked by support model (a PNG).

matplotlib with its Agg backend: headless (no display, no GUI toolkit in a worker or a container), a
well-kept library whose PNGs Slack shows inline; the figure is built with the object API (no pyplot
global state), so two reports rendered at once in two threads do not draw on each other.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Mapping
from datetime import date
from typing import Any

# Colour-blind-safe (Okabe–Ito), one per model in catalogue order.
COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#999999")
WIDTH, HEIGHT, DPI = 10.0, 4.2, 110  # 1100 × 462 px: readable inline in Slack, small to upload


def _figure_class() -> Any:
    """matplotlib's Figure on the Agg canvas, imported when a chart is first drawn (the web process never is).

    matplotlib caches fonts under ~/.config, which is read-only in the image: without MPLCONFIGDIR it would
    warn and make a temporary one anyway, so a private temporary one is named first."""
    if not os.environ.get("MPLCONFIGDIR"):
        os.environ["MPLCONFIGDIR"] = tempfile.mkdtemp(prefix="learnbot-matplotlib-")
    import matplotlib

    matplotlib.use("Agg")  # headless, before anything imports pyplot; the object API below never needs it
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    return Figure, FigureCanvasAgg


def render(weekly: Mapping[str, Any], *, names: Mapping[str, str], title: str) -> bytes:
    """The PNG of `weekly` (ReportService's "weekly" section); `names` are the models' names for the legend."""
    Figure, FigureCanvasAgg = _figure_class()
    weeks = [date.fromisoformat(w) for w in weekly["weeks"]]
    labels = [f"{w:%d %b}" for w in weeks]
    models = list(dict.fromkeys([*weekly["requests"], *weekly["decisions"]]))
    colour = {m: COLOURS[i % len(COLOURS)] for i, m in enumerate(models)}
    figure = Figure(figsize=(WIDTH, HEIGHT), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 2, sharey=True)
    top = 0
    for ax, (key, heading) in zip(axes, (("requests", "Requests received"), ("decisions", "Decisions made")),
                                  strict=True):
        bottom = [0] * len(weeks)
        for model in models:
            counts = weekly[key].get(model) or [0] * len(weeks)
            ax.bar(range(len(weeks)), counts, bottom=bottom, color=colour[model], width=0.7,
                   label=names.get(model, model))
            bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
        top = max(top, *bottom, 1)
        ax.set_title(heading, fontsize=11)
        ax.set_xticks(range(len(weeks)), labels, fontsize=8, rotation=0 if len(weeks) <= 8 else 45)
        ax.set_xlabel("week starting", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    axes[0].set_ylabel("per week", fontsize=9)
    axes[0].set_ylim(0, top * 1.15)
    axes[0].yaxis.get_major_locator().set_params(integer=True)
    handles, legend = axes[0].get_legend_handles_labels()
    if handles:
        # Top of the legend = top of the stack, so the colours read in the order the bars show them.
        figure.legend(handles[::-1], legend[::-1], loc="outside right center", fontsize=8, frameon=False)
    figure.suptitle(title, fontsize=12)
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


def alt_text(weekly: Mapping[str, Any], *, names: Mapping[str, str], title: str) -> str:
    """What the chart shows, in words, for a screen reader (Slack's alt_txt, at most 1000 characters)."""
    parts = [f"{title}. Bar charts of requests received and decisions made per week, stacked by support model."]
    for key, what in (("requests", "Requests"), ("decisions", "Decisions")):
        totals = {names.get(m, m): sum(c) for m, c in weekly[key].items() if sum(c)}
        said = ", ".join(f"{n} {t}" for n, t in totals.items()) or "none"
        parts.append(f"{what}: {sum(totals.values())} in {len(weekly['weeks'])} weeks ({said}).")
    return " ".join(parts)[:1000]
