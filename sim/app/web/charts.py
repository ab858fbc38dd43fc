"""The app's interactive figures (plotly). Every figure is drawn from a table the page also
shows (the text alternative), in the Okabe-Ito palette, which stays distinct for the common
forms of colour blindness, with a different marker per scenario so colour is never the only
cue."""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000")
"""Okabe & Ito (2008): blue, orange, bluish green, reddish purple, sky blue, vermilion, black."""
SYMBOLS = ("circle", "diamond", "square", "triangle-up", "cross", "x", "star")


def _style(i: int) -> dict[str, Any]:
    return {"color": PALETTE[i % len(PALETTE)], "symbol": SYMBOLS[i % len(SYMBOLS)], "size": 10}


def ci_dots(
    frame: pd.DataFrame,
    title: str,
    axis: str,
    *,
    thresholds: dict[str, float] | None = None,
    percent: bool = False,
) -> go.Figure:
    """One row per measure, one marker per scenario with its 95% CI (``frame`` from
    :func:`sim.app.web.results.kpi_frame`); ``thresholds`` (measure -> value) drawn as black
    bars."""
    fig = go.Figure()
    k = 100.0 if percent else 1.0
    measures = list(dict.fromkeys(frame["measure"]))
    row = {m: i for i, m in enumerate(measures)}
    groups = list(frame.groupby("scenario", sort=False))
    step = 0.5 / max(len(groups), 1)  # scenarios side by side within a measure's row
    for i, (scen, sub) in enumerate(groups):
        offset = (i - (len(groups) - 1) / 2) * step
        fig.add_trace(
            go.Scatter(
                x=sub["mean"] * k,
                y=[row[m] + offset for m in sub["measure"]],
                mode="markers",
                name=str(scen),
                marker=_style(i),
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": (sub["ci_high"] - sub["mean"]) * k,
                    "arrayminus": (sub["mean"] - sub["ci_low"]) * k,
                },
                customdata=sub[["value (95% CI)"]],
                text=sub["measure"],
                hovertemplate="%{text}<br>%{customdata[0]}<extra>" + str(scen) + "</extra>",
            )
        )
    for measure, value in (thresholds or {}).items():
        fig.add_trace(
            go.Scatter(
                x=[value * k],
                y=[row.get(measure, 0)],
                mode="markers",
                marker={"symbol": "line-ns", "size": 26, "line": {"width": 3, "color": "black"}},
                name="standard's threshold",
                showlegend=measure == next(iter(thresholds or {})),
                hovertemplate=f"threshold {value * k:g}<extra></extra>",
            )
        )
    fig.update_layout(
        title=title,
        xaxis_title=axis,
        height=140 + 70 * frame["measure"].nunique(),
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
        legend={"orientation": "h", "y": -0.25},
    )
    fig.update_yaxes(
        autorange="reversed", tickvals=list(range(len(measures))), ticktext=measures,
        showgrid=False,
    )  # fmt: skip
    if percent:
        fig.update_xaxes(range=[0, 105])
    elif len(frame):
        # A rough interval (few replications) can reach far past the values: the axis stops
        # at three times the largest mean, and the table gives every interval in full.
        top = min(float(frame["ci_high"].max()), 3 * float(frame["mean"].max()))
        fig.update_xaxes(range=[0, 1.05 * top * k])
    return fig


def regional_dots(frame: pd.DataFrame, title: str, axis: str, percent: bool = False) -> go.Figure:
    """A KPI by NHS region, one marker per scenario with its 95% CI (``frame`` from
    :func:`sim.app.web.results.regional_frame`)."""
    f = frame.rename(columns={"region": "measure"}).copy()
    f["measure"] = [r.replace("_", " ").title().replace(" And ", " and ") for r in f["measure"]]
    return ci_dots(f, title, axis, percent=percent)


def sizing_curve(
    table: pd.DataFrame,
    x: str,
    kpi: str,
    target: float,
    current: float | None,
    recommended: float | None,
) -> go.Figure:
    """The KPI against capacity with its 95% CI, the target (dashed), today's capacity and
    the answer (vertical lines)."""
    t = table.sort_values(x)
    fig = go.Figure(
        go.Scatter(
            x=t[x],
            y=t["mean"],
            mode="lines+markers",
            name=kpi,
            marker=_style(0),
            line={"color": PALETTE[0]},
            error_y={
                "type": "data",
                "symmetric": False,
                "array": t["ci_high"] - t["mean"],
                "arrayminus": t["mean"] - t["ci_low"],
            },
        )
    )
    fig.add_hline(y=target, line_dash="dash", line_color="black", annotation_text="target")
    if current is not None:
        fig.add_vline(x=current, line_dash="dot", line_color=PALETTE[1], annotation_text="today")
    if recommended is not None:
        fig.add_vline(
            x=recommended, line_color=PALETTE[2], annotation_text="least that meets it",
            annotation_position="bottom right",
        )  # fmt: skip
    fig.update_layout(
        title=f"{kpi} by capacity (95% CI)",
        xaxis_title=x.replace("_", " "),
        yaxis_title=kpi,
        height=420,
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
    )
    return fig


def economics_bars(econ: pd.DataFrame, labels: dict[str, str]) -> go.Figure:
    """QALYs gained and extra cost a year against the base, with 95% CIs, side by side."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("QALYs a year", "Extra cost a year (GBP)"))
    for col, (m, lo, hi) in enumerate(
        (("d_qalys", "d_qalys_low", "d_qalys_high"), ("d_cost", "d_cost_low", "d_cost_high")),
        start=1,
    ):
        fig.add_trace(
            go.Bar(
                x=[labels.get(s, s) for s in econ["scenario"]],
                y=econ[m],
                marker_color=[PALETTE[i % len(PALETTE)] for i in range(len(econ))],
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": econ[hi] - econ[m],
                    "arrayminus": econ[m] - econ[lo],
                },
                showlegend=False,
            ),
            row=1,
            col=col,
        )
    fig.update_layout(height=380, margin={"l": 10, "r": 10, "t": 50, "b": 40})
    return fig
