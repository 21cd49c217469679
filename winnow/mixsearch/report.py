"""``mix/surface.svg`` (measured against predicted target loss of every proxy run; the
predicted loss over the weights of two groups) and ``mix/report.html`` (every text escaped)."""

from __future__ import annotations

from html import escape
from pathlib import Path

import numpy as np

from winnow.mixsearch.surrogate import within_cap

SIZE, MARGIN = 320, 50


def write_report(output: Path, report: dict, surrogate, names: list[str],
                 proposal: np.ndarray, cap: np.ndarray) -> None:  # fmt: skip
    svg = surface_svg(report, surrogate, names, proposal, cap)
    (output / "surface.svg").write_text(svg)
    (output / "report.html").write_text(_html(report, svg))


def surface_svg(report: dict, surrogate, names, proposal, cap) -> str:
    runs = report["runs"]
    measured = np.array([r["loss"]["target"] for r in runs])
    predicted = np.array([r["predicted"] for r in runs])
    both = np.concatenate([measured, predicted])
    lo, hi = float(both.min()), float(both.max())
    span = (hi - lo) or 1.0

    def sx(v):
        return MARGIN + (SIZE - 2 * MARGIN) * (v - lo) / span

    def sy(v):
        return SIZE - MARGIN - (SIZE - 2 * MARGIN) * (v - lo) / span

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * SIZE}" height="{SIZE}" '
           'font-family="sans-serif" font-size="11">',
           f'<text x="{SIZE / 2}" y="16" text-anchor="middle">target loss: measured vs '
           "predicted</text>",
           f'<line x1="{sx(lo):.1f}" y1="{sy(lo):.1f}" x2="{sx(hi):.1f}" y2="{sy(hi):.1f}" '
           'stroke="#bbb"/>']  # fmt: skip
    for r, m, p in zip(runs, measured, predicted):
        colour = "#d62728" if r["held_out"] else "#1f77b4"
        out.append(f'<circle cx="{sx(p):.1f}" cy="{sy(m):.1f}" r="3" fill="{colour}"/>')
    out.append(f'<text x="{SIZE / 2}" y="{SIZE - 12}" text-anchor="middle">predicted '
               "(red: held out)</text>")  # fmt: skip
    effects = report["datamodel"]["effects"]
    a, b = sorted(range(len(names)), key=lambda g: -abs(effects[names[g]]["effect"]))[:2]
    rest = np.array(proposal, dtype=float)
    rest[[a, b]] = 0
    if rest.sum() > 0:  # the other groups keep the proposal's proportions
        rest = rest / rest.sum()
    else:
        rest = np.where(np.isin(np.arange(len(names)), [a, b]), 0.0, 1.0) / max(len(names) - 2, 1)
    steps = 20
    cells, values = [], []
    for i in range(steps + 1):
        for j in range(steps + 1 - i):
            w = rest * (1 - (i + j) / steps)
            w[a], w[b] = i / steps, j / steps
            if w.sum() <= 0:  # two groups: no weight left for the others
                continue
            cells.append((i, j))
            values.append(w)
    grid = within_cap(np.array(values), cap)
    loss = surrogate.predict(grid)
    low, high = float(loss.min()), float(loss.max())
    cell = (SIZE - 2 * MARGIN) / (steps + 1)
    for (i, j), v in zip(cells, loss):
        t = 0.0 if high == low else (v - low) / (high - low)
        colour = f"rgb({int(40 + 215 * t)},{int(90 + 100 * (1 - t))},{int(200 * (1 - t))})"
        x, y = SIZE + MARGIN + i * cell, SIZE - MARGIN - (j + 1) * cell
        out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{cell:.1f}" height="{cell:.1f}" '
                   f'fill="{colour}"/>')  # fmt: skip
    out += [f'<text x="{1.5 * SIZE}" y="16" text-anchor="middle">predicted target loss '
            f"{low:.3f} (blue) to {high:.3f} (red)</text>",
            f'<text x="{1.5 * SIZE}" y="{SIZE - 12}" text-anchor="middle">share of '
            f"{escape(names[a])}</text>",
            f'<text x="{SIZE + 14}" y="{SIZE / 2}" transform="rotate(-90 {SIZE + 14} '
            f'{SIZE / 2})" text-anchor="middle">share of {escape(names[b])}</text>',
            "</svg>"]  # fmt: skip
    return "\n".join(out)


def _html(report: dict, svg: str) -> str:
    rows = "".join(
        f"<tr><td>{escape(k)}</td><td>{v['loss']['target']:.4f} ± {v['loss_std']['target']:.4f}"
        f"</td><td>{escape(_weights(v['weights']))}</td></tr>"
        for k, v in report["verification"].items()
    )
    effects = "".join(
        f"<tr><td>{escape(n)}</td><td>{e['effect']:+.4f}</td>"
        f"<td>[{e['low']:+.4f}, {e['high']:+.4f}]</td></tr>"
        for n, e in sorted(report["datamodel"]["effects"].items(), key=lambda x: x[1]["effect"])
    )
    dm, sg = report["datamodel"], report["surrogate"]
    return (
        "<!doctype html><meta charset='utf-8'><title>winnow mixsearch</title>"
        "<style>body{font-family:sans-serif;max-width:900px;margin:2em auto}"
        "td,th{padding:2px 10px;text-align:left}</style>"
        f"<h1>Mixture search ({escape(sg['method'])}, {len(report['runs'])} proxy runs)</h1>"
        f"<p>Held-out rank correlation of the surrogate: {sg['held_out_spearman']:.3f}.</p>"
        "<h2>Verification</h2><table><tr><th>mixture</th><th>target loss</th>"
        f"<th>weights</th></tr>{rows}</table>"
        "<h2>What each group does to the target loss</h2>"
        f"<p>A linear datamodel of the runs (held-out R² {dm['held_out_r2']:.3f}, Spearman "
        f"{dm['held_out_spearman']:.3f}); negative helps the target; 95% bootstrap "
        "interval.</p><table><tr><th>group</th><th>effect</th><th>interval</th></tr>"
        f"{effects}</table><h2>Surrogate</h2>{svg}"
    )


def _weights(weights: dict) -> str:
    return ", ".join(f"{k} {v:.3f}" for k, v in weights.items())
