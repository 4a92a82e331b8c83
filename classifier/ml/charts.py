"""The evaluation's pictures: confusion (few classes only), learning curves, reliability, few-shot.

matplotlib through its object API with the Agg canvas (no pyplot state, safe in a worker),
imported inside the functions. Idol names are often Japanese: every text is drawn in an
installed CJK font with a Latin fallback (:func:`font_families`). Captions are English, marked
for translation with :func:`gettext_noop` and translated by the ``translate`` the caller passes
(this package knows no Django).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from classifier.ml.evaluation import (
    CONFUSION_IMAGE,
    CONFUSION_IMAGE_MAX_CLASSES,
    CURVES_IMAGE,
    FEWSHOT_IMAGE,
    RELIABILITY_IMAGE,
    confusion_cells,
    fewshot_points,
)
from core.files import PRIVATE_FILE, make_private_dirs

log = logging.getLogger(__name__)

# Japanese fonts in order of preference, proportional ones first (IPAexGothic ships in the
# matplotlib-fontja package; Debian: fonts-ipaexfont, fonts-ipafont-gothic, fonts-noto-cjk,
# fonts-takao-gothic); the first one installed draws.
CJK_FAMILIES = (
    "IPAexGothic",
    "IPAPGothic",
    "Noto Sans CJK JP",
    "Noto Sans JP",
    "IPAGothic",
    "TakaoPGothic",
    "TakaoGothic",
)
# File names of those fonts, for a font installed after matplotlib's font cache was built.
_CJK_FILE_STEMS = ("ipaexg", "ipag", "ipagp", "notosanscjk", "notosansjp", "takaogothic", "takaopgothic")
LATIN_FALLBACK = "DejaVu Sans"

Translate = Callable[[str], str]


def gettext_noop(message: str) -> str:
    """Marks a caption for the translation catalogue; the caller's ``translate`` translates it."""
    return message


def _identity(message: str) -> str:
    return message


def _packaged_font() -> str | None:
    """IPAexGothic as the matplotlib-fontja package ships it (found without importing the
    package, which would change matplotlib's settings for the whole process)."""
    import importlib.util

    spec = importlib.util.find_spec("matplotlib_fontja")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "fonts" / "ipaexg.ttf"
    return str(path) if path.is_file() else None


@cache
def cjk_font() -> tuple[str, str] | None:
    """(family, file) of the preferred installed Japanese font, or None (logged once)."""
    from matplotlib import font_manager

    def installed() -> dict[str, str]:
        return {entry.name: entry.fname for entry in font_manager.fontManager.ttflist}

    found = installed()
    packaged = _packaged_font()
    if packaged is not None and packaged not in found.values():
        try:
            font_manager.fontManager.addfont(packaged)
        except (OSError, RuntimeError, ValueError):
            log.warning("the packaged font %s cannot be read", packaged, exc_info=True)
        found = installed()
    if not any(family in found for family in CJK_FAMILIES):
        for path in font_manager.findSystemFonts():
            if Path(path).stem.lower().replace("-", "").startswith(_CJK_FILE_STEMS):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):
                    continue
        found = installed()
    for family in CJK_FAMILIES:
        if family in found:
            return family, found[family]
    log.warning(
        "no Japanese font found (looked for %s): names in Japanese are drawn as boxes in the "
        "evaluation's pictures; install one, e.g. Debian's fonts-ipafont-gothic",
        ", ".join(CJK_FAMILIES),
    )
    return None


def font_families() -> list[str]:
    """The font family list every text is drawn with: the Japanese font first when there is
    one (matplotlib falls back glyph by glyph to the next family)."""
    found = cjk_font()
    return [found[0], LATIN_FALLBACK] if found else [LATIN_FALLBACK]


@contextmanager
def _quiet_missing_glyphs() -> Iterator[None]:
    """Without a Japanese font, every name would warn once a glyph: it was logged once instead."""
    if cjk_font() is not None:
        yield
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from")
        yield


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Any, path: Path) -> None:
    from matplotlib.text import Text

    families = font_families()
    for text in figure.findobj(Text):
        text.set_fontfamily(families)
    make_private_dirs(path.parent)
    tmp = path.with_name(f"{path.stem}.tmp{path.suffix}")
    with _quiet_missing_glyphs():
        figure.tight_layout()
        figure.savefig(tmp, format="png")
    tmp.chmod(PRIVATE_FILE)
    tmp.replace(path)


def _short(name: str, length: int = 18) -> str:
    return name if len(name) <= length else name[: length - 1] + "…"


def save_confusion_image(matrix: Any, names: list[str], path: Path, *, translate: Translate = _identity) -> None:
    """The confusion matrix as a picture, coloured by the share of the true class."""
    import numpy as np

    data = np.asarray(matrix, dtype="float64")
    n = len(names)
    if data.shape != (n, n):
        raise ValueError(f"a confusion matrix of shape {data.shape} for {n} names")
    size = max(5.0, 0.45 * n + 2.5)
    figure = _figure(size, size)
    axes = figure.add_subplot()
    rows = data.sum(axis=1, keepdims=True)
    share = np.divide(data, rows, out=np.zeros_like(data), where=rows > 0)
    axes.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    short = [_short(name) for name in names]
    axes.set_xticks(range(n), short, rotation=60, ha="right", fontsize=8)
    axes.set_yticks(range(n), short, fontsize=8)
    axes.set_xlabel(translate(gettext_noop("predicted")))
    axes.set_ylabel(translate(gettext_noop("true")))
    if n <= 30:
        for i in range(n):
            for j in range(n):
                if data[i, j]:
                    colour = "white" if share[i, j] > 0.5 else "black"
                    axes.text(j, i, int(data[i, j]), ha="center", va="center", fontsize=7, color=colour)
    axes.set_title(
        translate(gettext_noop("Confusion matrix (validation split; colour: share of the true class)")), fontsize=9
    )
    _save(figure, path)


def save_curves_image(history: dict[str, list[float | None]], path: Path, *, translate: Translate = _identity) -> None:
    figure = _figure(9, 3.6)
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    for axes, keys, title in (
        (loss_axes, ("loss", "val_loss"), gettext_noop("loss")),
        (accuracy_axes, ("accuracy", "val_accuracy"), gettext_noop("accuracy")),
    ):
        for key in keys:
            points = [(i + 1, v) for i, v in enumerate(history.get(key) or []) if v is not None]
            if points:
                xs, ys = zip(*points, strict=True)
                axes.plot(xs, ys, marker="o" if key.startswith("val") else None, markersize=3, label=key)
        axes.set_xlabel(translate(gettext_noop("epoch")))
        axes.set_title(translate(title))
        axes.grid(alpha=0.3)
        if axes.get_legend_handles_labels()[0]:
            axes.legend(fontsize=8)
    _save(figure, path)


def save_reliability_image(calibration: dict[str, Any], path: Path, *, translate: Translate = _identity) -> None:
    """Accuracy per bin of top-1 probability against the diagonal of perfect calibration, and
    below it how many faces fell in each bin."""
    bins = calibration["bins"]
    if not bins:
        raise ValueError("a calibration without bins")
    figure = _figure(6, 6.2)
    top, bottom = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    lefts = [row["lower"] for row in bins]
    widths = [row["upper"] - row["lower"] for row in bins]
    filled = [row for row in bins if row["count"]]
    top.bar(
        [row["lower"] for row in filled],
        [row["accuracy"] for row in filled],
        width=[row["upper"] - row["lower"] for row in filled],
        align="edge",
        color="#4c78a8",
        edgecolor="white",
        label=translate(gettext_noop("share right")),
    )
    top.plot(
        [row["confidence"] for row in filled],
        [row["accuracy"] for row in filled],
        "o",
        color="#f58518",
        markersize=4,
        label=translate(gettext_noop("mean probability in the bin")),
    )
    top.plot([0, 1], [0, 1], "--", color="grey", label=translate(gettext_noop("perfect calibration")))
    top.set_xlim(0, 1)
    top.set_ylim(0, 1.03)
    top.set_ylabel(translate(gettext_noop("share predicted right")))
    top.set_title(translate(gettext_noop("Reliability of the top-1 probability (ECE %(ece).3f)")) % calibration)
    top.grid(alpha=0.3)
    top.legend(fontsize=8, loc="upper left")
    bottom.bar(lefts, [row["count"] for row in bins], width=widths, align="edge", color="#9d9d9d", edgecolor="white")
    bottom.set_xlabel(translate(gettext_noop("top-1 probability")))
    bottom.set_ylabel(translate(gettext_noop("faces")))
    bottom.grid(alpha=0.3)
    _save(figure, path)


def save_fewshot_image(fewshot: Any, path: Path, *, translate: Translate = _identity) -> None:
    """Top-1 against the number of labeled faces per idol (with its spread when given)."""
    points = fewshot_points(fewshot)
    figure = _figure(6, 3.8)
    axes = figure.add_subplot()
    shots = [k for k, _, _ in points]
    top1 = [value for _, value, _ in points]
    if any(sd is not None for _, _, sd in points):
        axes.errorbar(shots, top1, yerr=[sd or 0.0 for _, _, sd in points], marker="o", capsize=3)
    else:
        axes.plot(shots, top1, marker="o")
    for k, value, _ in points:
        axes.annotate(f"{value:.3f}", (k, value), textcoords="offset points", xytext=(5, -12), ha="left", fontsize=8)
    if len(shots) > 1 and shots[-1] / shots[0] >= 8:
        axes.set_xscale("log")
    axes.set_xticks(shots, [str(k) for k in shots])
    axes.set_ylim(max(0.0, min(top1) - 0.1), 1.02)
    axes.set_xlabel(translate(gettext_noop("labeled faces per idol")))
    axes.set_ylabel(translate(gettext_noop("top-1")))
    axes.set_title(translate(gettext_noop("Few-shot: top-1 from the first labels")))
    axes.grid(alpha=0.3)
    _save(figure, path)


def save_evaluation_images(
    metrics: dict[str, Any],
    class_names: list[str],
    history: dict[str, list[float | None]] | None,
    folder: Path,
    *,
    translate: Translate = _identity,
) -> list[str]:
    """Every picture that applies to these metrics, into ``folder``; the names drawn. The
    confusion picture only up to CONFUSION_IMAGE_MAX_CLASSES classes; the few-shot curve only
    when the metrics hold one."""
    drawn = []
    cells = confusion_cells(metrics)
    if cells is not None and cells[1] <= CONFUSION_IMAGE_MAX_CLASSES:
        save_confusion_image(cells[0], class_names, folder / CONFUSION_IMAGE, translate=translate)
        drawn.append(CONFUSION_IMAGE)
    if history is not None:
        save_curves_image(history, folder / CURVES_IMAGE, translate=translate)
        drawn.append(CURVES_IMAGE)
    if metrics.get("calibration", {}).get("bins"):
        save_reliability_image(metrics["calibration"], folder / RELIABILITY_IMAGE, translate=translate)
        drawn.append(RELIABILITY_IMAGE)
    if metrics.get("fewshot"):
        try:
            save_fewshot_image(metrics["fewshot"], folder / FEWSHOT_IMAGE, translate=translate)
        except ValueError as exc:  # a malformed curve must not fail the training that made it
            log.warning("few-shot curve not drawn: %s", exc)
        else:
            drawn.append(FEWSHOT_IMAGE)
    return drawn
