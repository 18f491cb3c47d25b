"""Figures of the cohort views as PNG or SVG (matplotlib, no display), each with its data
table; used by ``alscare cohort plot`` and the web app's /cohort page."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pandas as pd

from alscare.analytics import survival as sv
from alscare.frames import Cohort

EVENT_TITLES = {"death": "death", "niv": "starting NIV", "gastrostomy": "gastrostomy",
                "tracheostomy": "tracheostomy"}
GROUP_TITLES = {"onset_site": "onset site", "genetics": "genetics",
                "progression_group": "progression group (baseline delta-FS, Kimura)",
                "all": "all patients"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def km_figure(table: pd.DataFrame, sizes: list[dict[str, Any]], event: str, by: str,
              fmt: str = "svg") -> bytes:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=100)
    try:
        for group, rows in table.groupby("group", sort=True):
            n = int(rows["n"].iloc[0])
            ax.step(rows["months"], rows["survival"], where="post", label=f"{group} (n={n})")
            ax.fill_between(rows["months"], rows["lower_95"], rows["upper_95"], step="post",
                            alpha=0.12)
        hidden = [s["group"] for s in sizes if not s["drawn"]]
        ax.set_xlabel("months from symptom onset")
        ax.set_ylabel(f"free of {EVENT_TITLES[event]}" if event != "death" else "alive")
        ax.set_ylim(0, 1.02)
        ax.set_title(f"Kaplan-Meier: onset to {EVENT_TITLES[event]}, by {GROUP_TITLES[by]}",
                     fontsize=10)
        if len(table):
            ax.legend(fontsize=8, loc="lower left")
        note = sv.NOTES[event] + (f" Not drawn (<{sv.MIN_CELL} patients): "
                                  f"{', '.join(hidden)}." if hidden else "")
        fig.text(0.01, 0.005, note, fontsize=6.5, wrap=True)
        fig.tight_layout(rect=(0, 0.05, 1, 1))
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, metadata=None if fmt == "png" else {"Date": None})
        return buf.getvalue()
    finally:
        plt.close(fig)


def bar_figure(frame: pd.DataFrame, label_col: str, title: str, fmt: str = "svg") -> bytes:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=100)
    try:
        values = frame["patients"].fillna(0).astype(int)
        ax.bar(frame[label_col].astype(str), values, color="#4a6fa5")
        for i, shown in enumerate(frame["shown"]):
            if shown.startswith("<"):
                ax.text(i, 0, shown, ha="center", va="bottom", fontsize=7)
        ax.set_ylabel("patients")
        ax.set_title(title, fontsize=10)
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, metadata=None if fmt == "png" else {"Date": None})
        return buf.getvalue()
    finally:
        plt.close(fig)


DIST_TITLES = {"delta_fs": ("bin", "Baseline delta-FS (points/month), living and deceased"),
               "kings_stage": ("stage", "King's stage, living patients"),
               "mitos_stage": ("stage", "MiToS stage, living patients")}


def figure_names() -> list[str]:
    names = [f"km_{e}_by_{g}" for e in sv.EVENTS for g in sv.GROUPINGS if g != "all"]
    return names + [f"dist_{d}" for d in DIST_TITLES]


class Views:
    """The cohort's figures and tables, computed once per cohort."""

    def __init__(self, cohort: Cohort, min_cell: int = sv.MIN_CELL):
        self.cohort = cohort
        self.min_cell = min_cell
        self.grouping = sv.groups(cohort)
        self._dist: dict[str, pd.DataFrame] | None = None

    def dists(self) -> dict[str, pd.DataFrame]:
        if self._dist is None:
            self._dist = sv.distributions(self.cohort, self.min_cell, self.grouping)
        return self._dist

    def table(self, name: str) -> pd.DataFrame:
        if name.startswith("km_"):
            event, by = name[3:].split("_by_")
            return sv.km_table(self.cohort, event, by, self.min_cell, self.grouping)
        if name.startswith("dist_") and name[5:] in DIST_TITLES:
            return self.dists()[name[5:]]
        raise ValueError(f"unknown figure {name!r}; allowed: {', '.join(figure_names())}")

    def figure(self, name: str, fmt: str = "svg") -> bytes:
        table = self.table(name)
        if name.startswith("km_"):
            event, by = name[3:].split("_by_")
            sizes = sv.group_sizes(self.cohort, event, by, self.min_cell, self.grouping)
            return km_figure(table, sizes, event, by, fmt)
        col, title = DIST_TITLES[name[5:]]
        return bar_figure(table, col, title, fmt)

    def write(self, folder: Path, fmt: str = "png", names: list[str] | None = None
              ) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for name in names or figure_names():
            table = self.table(name)
            (folder / f"{name}.{fmt}").write_bytes(self.figure(name, fmt))
            table.to_csv(folder / f"{name}.csv", index=False)
            (folder / f"{name}.json").write_text(
                json.dumps(json.loads(table.to_json(orient="records")), indent=1) + "\n",
                encoding="utf-8")
            written += [folder / f"{name}.{ext}" for ext in (fmt, "csv", "json")]
        return written
