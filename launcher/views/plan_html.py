"""`tunecost plan --html FILE`: the plan as one printable page with its pictures, from templates/plan.html.j2.

The geometry is worked out here (plain numbers), so the template only places marks: a scatter of cost against
hours for every quote (log scales: a plan spans cents to tens of dollars and minutes to days), coloured and
shaped per provider, the Pareto front as a staircase, managed services as their own marks at their cost
(they publish no hours), and the chosen GPU's memory as a stacked bar. All text goes through jinja's autoescape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tunecost.launcher.views.plan_view import hours_parts, hours_text
from tunecost.planner.money import money
from tunecost.planner.plan import Plan
from tunecost.planner.quote import Quote

# One colour per provider, Tableau 10 (designed so that no two of its colours are taken for one another); past ten
# providers the shapes change. The old palette gave Azure and Lambda two blues 38 RGB units apart.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
           "#bab0ac")
SHAPES = ("circle", "square", "triangle")
MEMORY_COLOURS = ("#2f6fdb", "#74a7f2", "#0b7285", "#66d9e8", "#2b8a3e", "#8ce99a", "#e67700", "#ffd43b",
                  "#862e9c", "#d0bfff", "#868e96", "#ced4da")
TABLE_ROWS = 12  # the page stays printable; --json has them all


@dataclass
class Axis:
    """A log axis from lo to hi mapped onto pixels [start, end]."""

    lo: float
    hi: float
    start: float
    end: float
    ticks: list[tuple[float, str]] = field(default_factory=list)

    def at(self, value: float) -> float:
        share = (math.log10(max(value, self.lo)) - math.log10(self.lo)) / (math.log10(self.hi) - math.log10(self.lo))
        return self.start + share * (self.end - self.start)


def _log_axis(values: list[float], start: float, end: float, label) -> Axis:
    """Bounds padded to the decade steps 1-2-5 around the data, with ticks on those steps."""
    lo, hi = min(values), max(values)
    lo, hi = lo / 1.3, hi * 1.3
    if hi / lo < 3:
        lo, hi = lo / 1.7, hi * 1.7
    axis = Axis(lo, hi, start, end)
    for power in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1):
        for step in (1, 2, 5):
            value = step * 10 ** power
            if lo <= value <= hi:
                axis.ticks.append((axis.at(value), label(value)))
    return axis


def _hours_label(h: float) -> str:
    return f"{h * 60:g} min" if h < 1 else f"{h:g} h"


def _usd_label(x: float) -> str:
    return f"${x:g}" if x >= 0.01 else f"${x:.1g}"


@dataclass
class Mark:
    x: float
    y: float
    colour: str
    shape: str
    label: str
    chosen: bool = False
    pareto: bool = False


@dataclass
class Scatter:
    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    x_ticks: list[tuple[float, str]]
    y_ticks: list[tuple[float, str]]
    marks: list[Mark]
    front: str  # SVG path of the Pareto staircase
    managed: list["Lane"]
    legend: list[tuple[str, str, str]]  # (provider, colour, shape)


@dataclass
class Lane:
    """A managed service: a dashed line at its cost, its label moved apart from its neighbours' if need be."""

    y: float
    label_y: float
    colour: str
    label: str


def _spread_labels(lanes: list[Lane], gap: float, top: float) -> None:
    """Labels at their line's height, pushed down just enough that none overlaps the one above it."""
    last = top - gap
    for lane in sorted(lanes, key=lambda lane: lane.y):
        lane.label_y = max(lane.y + 3.5, last + gap)
        last = lane.label_y


def _quote_label(q: Quote) -> str:
    return f"{q.offer.describe()}: {hours_text(q.hours)}, {money(q.cost)}"


def scatter(plan: Plan, width: int = 920, height: int = 360) -> Scatter:
    """Every quote at (hours, cost); managed services as marks on the right edge at their cost."""
    quotes = plan.quotes
    managed = plan.managed
    left, right, top, bottom = 64.0, width - 190.0, 14.0, height - 36.0
    x = _log_axis([q.hours for q in quotes], left, right, _hours_label)
    y = _log_axis([q.cost for q in quotes] + [m.cost for m in managed if m.cost > 0], bottom, top, _usd_label)
    providers = list(dict.fromkeys(q.offer.provider for q in quotes))
    style = {p: (PALETTE[i % len(PALETTE)], SHAPES[i // len(PALETTE) % len(SHAPES)]) for i, p in enumerate(providers)}
    marks = [Mark(x.at(q.hours), y.at(q.cost), *style[q.offer.provider], _quote_label(q), chosen=q == plan.chosen,
                  pareto=q.pareto) for q in quotes]
    front_points = sorted((m for m in marks if m.pareto), key=lambda m: m.x)
    path = ""
    for i, m in enumerate(front_points):  # staircase: cheaper-but-slower to faster-but-dearer
        path += f"M{m.x:.1f},{m.y:.1f}" if i == 0 else f" H{m.x:.1f} V{m.y:.1f}"
    lanes = [Lane(y.at(max(m.cost, y.lo)), 0.0, "#000" if m.open_weights else "#868e96",
                  f"{m.provider} {money(m.cost)}" + ("" if m.open_weights else " (closed model)")) for m in managed]
    _spread_labels(lanes, gap=12.0, top=top + 4)
    return Scatter(width, height, left, right, top, bottom, x.ticks, y.ticks, marks, path, lanes,
                   [(p, *style[p]) for p in providers])


@dataclass
class Segment:
    name: str
    gib: float
    x: float
    width: float
    colour: str


@dataclass
class MemoryBar:
    width: int
    left: float
    scale_end: float
    gpu: str
    gpu_gib: float
    peak_gib: float
    segments: list[Segment]


def memory_bar(plan: Plan, width: int = 920) -> MemoryBar | None:
    """The chosen topology's memory per GPU, component by component, against the chosen GPU's memory."""
    components = {k: v for k, v in (plan.memory.components_gib if plan.memory else {}).items() if v > 0}
    if not components or plan.chosen is None or plan.memory is None:
        return None
    has = plan.chosen.offer.gpu_memory_gib
    peak = plan.memory.peak_gib
    left, end = 10.0, width - 10.0
    per_gib = (end - left) / max(has, peak)
    segments, at = [], left
    for i, (name, gib) in enumerate(components.items()):
        segments.append(Segment(name.replace("_", " "), gib, at, gib * per_gib, MEMORY_COLOURS[i % len(MEMORY_COLOURS)]))
        at += gib * per_gib
    return MemoryBar(width, left, left + has * per_gib, plan.chosen.offer.gpu, has, peak, segments)


def render_plan_html(plan: Plan) -> str:
    """The whole page; user text (model paths, instance names, tags in price files) is escaped by jinja."""
    from tunecost.launcher.views.templates import template_env

    return template_env().get_template("plan.html.j2").render(
        plan=plan, scatter=scatter(plan) if plan.quotes else None, memory=memory_bar(plan),
        rows=plan.quotes[:TABLE_ROWS], money=money, hours=hours_text, hours_parts=hours_parts)
