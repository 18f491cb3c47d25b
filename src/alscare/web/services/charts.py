"""Charts as view models for server-rendered SVG: every coordinate is computed here, the
template only draws what it is given (``templates/_chart.html``).

Why SVG from the server rather than a JavaScript chart library: the page works without
scripts (strict CSP, no inline code), prints and goes into the PDF exactly as shown, needs no
vendored library, and the numbers drawn are the numbers the service computed (no second
implementation of the forecast bands in JavaScript).

All charts of a patient share one time axis (:class:`TimeAxis`): from the first data to a
year after the as-of day, so the forecast bands, milestone dates, drug starts and
interventions line up vertically.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

WIDTH = 1000
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 18, 28


def _line(colour: str, width: float = 2.2, dash: str | None = None) -> dict[str, object]:
    out: dict[str, object] = {"fill": "none", "stroke": colour, "stroke-width": width}
    if dash:
        out["stroke-dasharray"] = dash
    return out


# Every drawn element's look as SVG presentation attributes (not CSS classes), so the chart
# looks the same on screen, in the browser's print and in the PDF renderer, and needs no
# inline style (the CSP forbids it).
STYLES: dict[str, dict[str, object]] = {
    "grid": _line("#e6e9ed", 1), "axis": _line("#9aa5b1", 1),
    "today": _line("#12355b", 1.2, "2 3"), "ref": _line("#b42318", 1, "5 4"),
    "text": {"font-size": 12, "fill": "#4a5561", "font-family": "DejaVu Sans, sans-serif"},
    "ref-label": {"font-size": 12, "fill": "#b42318", "font-weight": "bold",
                  "font-family": "DejaVu Sans, sans-serif"},
    "band-forecast": {"fill": "#1f5fa8", "fill-opacity": 0.16, "stroke": "none"},
    "s-total": _line("#12355b"), "s-forecast": _line("#1f5fa8", 2, "6 4"),
    "s-bulbar": _line("#b24c00"), "s-fine": _line("#6a3d9a"), "s-gross": _line("#1e7a3c"),
    "s-resp": _line("#1f5fa8"), "s-fvc": _line("#12355b"), "s-weight": _line("#12355b"),
    "m-drug": _line("#7a1f6b", 1.4), "m-milestone": _line("#b42318", 1.6, "1 3"),
    "m-drug-label": {"font-size": 12, "fill": "#7a1f6b", "font-weight": "bold",
                     "font-family": "DejaVu Sans, sans-serif"},
    "m-milestone-label": {"font-size": 12, "fill": "#b42318", "font-weight": "bold",
                          "font-family": "DejaVu Sans, sans-serif"},
    "b-med": {"fill": "#9aa5b1"}, "b-dmt": {"fill": "#7a1f6b"},
    "start-mark": {"fill": "#7a1f6b"},
    "b-in_use": {"fill": "#1f5fa8"}, "b-offered": {"fill": "#9a5b00"},
    "b-declined": {"fill": "#b42318"}, "b-not_tolerated": {"fill": "#b42318"},
    "b-stopped": {"fill": "#5b6570"},
}


def point_style(series_css: str) -> dict[str, object]:
    return {"fill": STYLES[series_css]["stroke"], "stroke": "#fff", "stroke-width": 1.2}


@dataclass(frozen=True)
class TimeAxis:
    start: dt.date
    end: dt.date
    today: dt.date

    def x(self, d: dt.date) -> float:
        span = max(1, (self.end - self.start).days)
        return round(LEFT + (WIDTH - LEFT - RIGHT) * (d - self.start).days / span, 1)

    def ticks(self) -> list[tuple[float, str]]:
        """Year ticks, or half-years when the axis is short."""
        months = 6 if (self.end - self.start).days < 3 * 365 else 12
        out = []
        d = dt.date(self.start.year, 1, 1)
        while d <= self.end:
            if d >= self.start:
                label = str(d.year) if d.month == 1 else d.strftime("%b %Y")
                out.append((self.x(d), label))
            m = d.month - 1 + months
            d = dt.date(d.year + m // 12, m % 12 + 1, 1)
        return out


@dataclass
class Series:
    name: str
    css: str  # a class of static/css/app.css (colour, dash): "s-..."
    path: str
    points: list[tuple[float, float, str]]  # x, y, tooltip

    @property
    def style(self) -> dict[str, object]:
        return STYLES[self.css]

    @property
    def point_style(self) -> dict[str, object]:
        return point_style(self.css)


@dataclass
class Marker:
    x: float
    label: str
    css: str
    label_y: float = 0.0  # set by the chart (staggered so labels do not overlap)
    anchor: str = "start"

    @property
    def style(self) -> dict[str, object]:
        return STYLES[self.css]

    @property
    def label_style(self) -> dict[str, object]:
        return STYLES[self.css + "-label"]


@dataclass
class Chart:
    title: str
    unit: str
    height: int
    y_ticks: list[tuple[float, str]]
    x_ticks: list[tuple[float, str]]
    series: list[Series] = field(default_factory=list)
    bands: list[tuple[str, str]] = field(default_factory=list)  # (polygon points, css)
    hlines: list[tuple[float, str, str]] = field(default_factory=list)  # y, label, css
    markers: list[Marker] = field(default_factory=list)
    today_x: float | None = None
    empty: str | None = None  # what to say when there is nothing to draw
    width: int = WIDTH
    plot_left: int = LEFT
    plot_right: int = WIDTH - RIGHT
    plot_top: int = TOP
    plot_bottom: int = 0
    description: str = ""  # for screen readers (aria-label)

    def __post_init__(self) -> None:
        self.plot_bottom = self.height - BOTTOM


class YScale:
    def __init__(self, lo: float, hi: float, height: int) -> None:
        self.lo, self.hi, self.height = lo, hi, height

    def y(self, v: float) -> float:
        top, bottom = TOP, self.height - BOTTOM
        return round(bottom - (bottom - top) * (v - self.lo) / (self.hi - self.lo or 1), 1)

    def ticks(self, step: float) -> list[tuple[float, str]]:
        first = math.ceil(self.lo / step) * step
        n = int((self.hi - first) // step) + 1
        return [(self.y(first + i * step), f"{first + i * step:g}") for i in range(n)]


def _path(points: Sequence[tuple[float, float]]) -> str:
    return " ".join(f"{'M' if i == 0 else 'L'}{x},{y}" for i, (x, y) in enumerate(points))


def line_chart(title: str, unit: str, axis: TimeAxis, lo: float, hi: float, step: float,
               observed: dict[str, tuple[str, list[tuple[dt.date, float]]]], *,
               height: int = 190, forecast: list[dict] | None = None,
               anchor: tuple[dt.date, float] | None = None,
               hlines: Sequence[tuple[float, str]] = (),
               markers: Sequence[Marker] = ()) -> Chart:
    """Observed series (name -> (css, [(date, value)])), an optional forecast (the contract's
    {date, mean, lower80, upper80} points, drawn from ``anchor``, the latest observation, as
    a dashed mean and an 80% band), reference lines and vertical markers."""
    ys = YScale(lo, hi, height)
    chart = Chart(title, unit, height, ys.ticks(step), axis.ticks(), today_x=axis.x(axis.today),
                  markers=list(markers))
    for name, (css, values) in observed.items():
        pts = [(axis.x(d), ys.y(v), f"{d.isoformat()}: {v:g}{unit}") for d, v in values
               if axis.start <= d <= axis.end]
        if pts:
            chart.series.append(Series(name, css, _path([(x, y) for x, y, _ in pts]), pts))
    if forecast and anchor is not None:
        when = [anchor[0]] + [dt.date.fromisoformat(f["date"]) for f in forecast]
        mean = [anchor[1]] + [f["mean"] for f in forecast]
        low = [anchor[1]] + [f["lower80"] for f in forecast]
        high = [anchor[1]] + [f["upper80"] for f in forecast]
        upper = [(axis.x(d), ys.y(_clip(v, lo, hi))) for d, v in zip(when, high, strict=True)]
        lower = [(axis.x(d), ys.y(_clip(v, lo, hi))) for d, v in zip(when, low, strict=True)]
        chart.bands.append((" ".join(f"{x},{y}" for x, y in upper + lower[::-1]),
                            "band-forecast"))
        pts = [(axis.x(d), ys.y(_clip(m, lo, hi)),
                f"{d.isoformat()}: forecast {m:.0f}{unit} (80%: {lo_:.0f}-{hi_:.0f})")
               for d, m, lo_, hi_ in zip(when, mean, low, high, strict=True)]
        chart.series.append(Series("forecast (80% band)", "s-forecast",
                                   _path([(x, y) for x, y, _ in pts]), pts[1:]))
    chart.hlines = [(ys.y(v), label, "ref") for v, label in hlines if lo <= v <= hi]
    chart.markers = _placed(chart.markers)
    if not chart.series:
        chart.empty = f"No {title} recorded."
    chart.description = f"{title} over time" + (", with forecast" if forecast else "")
    return chart


def _placed(markers: list[Marker]) -> list[Marker]:
    """Markers inside the plot, left to right, their labels on three staggered rows and
    right-aligned near the right edge."""
    inside = sorted((m for m in markers if LEFT <= m.x <= WIDTH - RIGHT), key=lambda m: m.x)
    for i, m in enumerate(inside):
        m.label_y = TOP + 10 + (i % 3) * 12
        m.anchor = "end" if m.x > WIDTH - RIGHT - 120 else "start"
    return inside


def _clip(v: float, lo: float, hi: float) -> float:
    return min(hi, max(lo, v))


@dataclass
class Bar:
    x1: float
    x2: float
    label: str
    css: str
    start_mark: bool = False  # a disease-modifying drug start: marked
    tooltip: str = ""

    @property
    def width(self) -> float:
        return max(4.0, round(self.x2 - self.x1, 1))

    @property
    def style(self) -> dict[str, object]:
        return STYLES[self.css]


@dataclass
class Lane:
    label: str
    y: float
    bars: list[Bar]

    @property
    def label_x(self) -> float:
        return max(LEFT, min(b.x1 for b in self.bars)) if self.bars else LEFT

    @property
    def bar_y(self) -> float:
        return self.y + 13


@dataclass
class Timeline:
    lanes: list[Lane]
    height: int
    x_ticks: list[tuple[float, str]]
    today_x: float
    width: int = WIDTH
    plot_left: int = LEFT
    plot_right: int = WIDTH - RIGHT
    empty: str | None = None

    @property
    def axis_y(self) -> float:
        return self.height - BOTTOM


LANE = 28


def timeline(axis: TimeAxis, lanes: list[tuple[str, list[Bar]]]) -> Timeline:
    rows = [Lane(label, TOP + i * LANE, bars) for i, (label, bars) in enumerate(lanes)]
    height = TOP + max(1, len(rows)) * LANE + BOTTOM
    return Timeline(rows, height, axis.ticks(), axis.x(axis.today),
                    empty=None if rows else "No medications or interventions recorded.")
