"""``OUT/report.html``: a self-contained data card of a run (inline SVG, no network, no
external files), built from ``stats.json``, the resolved recipe and the ledger's duplicate
columns, never from the documents themselves, so it stays small and fast for millions of
documents. Every piece of document text is HTML-escaped.

Sections: data card, recipe, attrition funnel, removed by reason, histograms (kept vs
removed per score column, with the stage's numeric parameters marked), languages,
duplicates, sources, examples.
"""

from __future__ import annotations

import math
from collections import Counter
from html import escape
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import yaml

SECTIONS = (
    "datacard",
    "recipe",
    "funnel",
    "removed",
    "histograms",
    "languages",
    "duplicates",
    "sources",
    "examples",
)
STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{margin-bottom:0}h2{border-bottom:1px solid #ccc;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:3px 8px;
text-align:right}td:first-child,th:first-child{text-align:left}#datacard td{text-align:left}
pre{white-space:pre-wrap;background:#f6f6f6;padding:.5em;max-height:12em;overflow:auto}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:1em}.muted{color:#777}
nav a{margin-right:1em}svg{display:block;margin:.3em 0 1em}
"""


def write_report(out: str | Path) -> Path:
    out = Path(out)
    html = render(out)
    path = out / "report.html"
    tmp = path.with_name(".report.html.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(path)
    return path


def render(out: Path) -> str:
    stats = orjson.loads((out / "stats.json").read_bytes())
    recipe_text = (out / "recipe.yaml").read_text() if (out / "recipe.yaml").exists() else ""
    recipe = yaml.safe_load(recipe_text) if recipe_text else {}
    stages = stats["stages"]
    params = _stage_params(recipe)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>winnow data card</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>winnow data card</h1>",
        f"<p class='muted'>{escape(str(out))}</p><nav>",
        *(f"<a href='#{s}'>{s}</a>" for s in SECTIONS),
        "</nav>",
        _datacard(stats, stages, recipe),
        _section("recipe", "Recipe", f"<pre>{escape(recipe_text)}</pre>"),
        _funnel(stages),
        _removed(stages),
        _histograms(stages, params),
        _languages(stages),
        _duplicates(out, stages),
        _language_models(stats),
        _sources(stages),
        _examples(stages),
        "<script>document.body.dataset.ready='1'</script></body></html>",
    ]
    return "\n".join(parts)


def _section(key: str, title: str, body: str) -> str:
    return f"<section id='{key}'><h2>{escape(title)}</h2>{body}</section>"


def _stage_params(recipe: dict) -> list[dict]:
    """Each recipe stage's parameters, by position (after read and unique_ids)."""
    out = []
    for entry in recipe.get("stages", []) or []:
        if isinstance(entry, dict) and len(entry) == 1:
            ((name, values),) = entry.items()
            out.append({"name": name, **(values or {})})
    return out


def _datacard(stats: dict, stages: list[dict], recipe: dict) -> str:
    first = next((s for s in stages if s["name"] not in ("read",)), stages[0] if stages else {})
    last = stages[-1] if stages else {}
    langs = Counter()
    for s in stages:
        langs.update((s.get("categories") or {}).get("lang") or {})
    steps = ", ".join(escape(s["name"]) for s in stages)
    removed = stats.get("ledger_rows", 0)
    body = f"""
<table>
<tr><th>what</th><td>{stats.get("output_docs", 0):,} documents,
about {last.get("bytes_out", 0) // 4:,} tokens (UTF-8 bytes / 4)</td></tr>
<tr><th>from where</th><td>{len(first.get("sources", {}))} input file(s),
{stats.get("input_docs", 0):,} documents, {first.get("bytes_in", 0) / 1e6:,.1f} MB</td></tr>
<tr><th>how processed</th><td>{steps}</td></tr>
<tr><th>removed</th><td>{removed:,} documents, each in the ledger with its stage and reason
</td></tr>{_generated_row(stats)}
<tr><th>languages</th><td>{
        escape(", ".join(f"{k}: {v:,}" for k, v in langs.most_common(8)))
        or "not identified (no langid stage)"
    }</td></tr>
<tr><th>known limits</th><td>heuristic filters and classifiers make errors both ways (see the
examples); token counts are estimates unless a tokenize stage ran; near-duplicate detection
is probabilistic; seed {escape(str(recipe.get("seed", 0)))}</td></tr>
</table>"""
    return _section("datacard", "Data card", body)


def _generated_row(stats: dict) -> str:
    made = stats.get("generated_docs", 0)
    if not made:
        return ""
    return (f"<tr><th>generated</th><td>{made:,} documents made by language-model stages "
            "(source <code>generated:STAGE:ID</code>, <code>meta.synthetic_of</code>); "
            "input + generated = output + ledger</td></tr>")  # fmt: skip


def _language_models(stats: dict) -> str:
    """What each language-model stage asked for and what it cost."""
    usage = stats.get("llm") or {}
    if not usage:
        return ""
    head = ("stage", "sent", "cached", "failed", "retried", "over budget", "prompt tokens",
            "completion tokens", "seconds")  # fmt: skip
    keys = ("requests_sent", "requests_cached", "requests_failed", "requests_retried",
            "over_budget", "prompt_tokens", "completion_tokens")  # fmt: skip
    rows = "".join(
        f"<tr><td>{escape(stage)}</td>"
        + "".join(f"<td class='num'>{u.get(k, 0):,}</td>" for k in keys)
        + f"<td class='num'>{u.get('seconds', 0):.1f}</td></tr>"
        for stage, u in sorted(usage.items())
    )
    table = "<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + f"</tr>{rows}</table>"
    note = ("<p class='muted'>Requests answered from the cache cost nothing; tokens are the "
            "server's <code>usage</code> (or the local model's counts).</p>")  # fmt: skip
    return _section("llm", "Language models", table + note)


def _funnel(stages: list[dict]) -> str:
    top = max((s["docs_in"] for s in stages), default=1) or 1
    rows, bars = [], []
    for i, s in enumerate(stages):
        rows.append(
            f"<tr><td>{escape(s['name'])}</td><td>{s['docs_in']:,}</td><td>{s['docs_out']:,}</td>"
            f"<td>{s['bytes_in'] // 4:,}</td><td>{s['bytes_out'] // 4:,}</td>"
            f"<td>{s['seconds']:.2f}</td></tr>"
        )
        width = 600 * s["docs_out"] / top
        bars.append(
            f"<rect x='160' y='{i * 22}' width='{width:.1f}' height='18' fill='#4c78a8'/>"
            f"<text x='155' y='{i * 22 + 13}' text-anchor='end'>{escape(s['name'])}</text>"
            f"<text x='{165 + width:.1f}' y='{i * 22 + 13}'>{s['docs_out']:,}</text>"
        )
    svg = (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='860' height='{22 * len(stages)}' "
        f"font-size='12'>{''.join(bars)}</svg>"
    )
    table = (
        "<table><tr><th>stage</th><th>docs in</th><th>docs out</th><th>tokens in</th>"
        f"<th>tokens out</th><th>seconds</th></tr>{''.join(rows)}</table>"
    )
    return _section("funnel", "Attrition funnel (documents and tokens)", svg + table)


def _removed(stages: list[dict]) -> str:
    rows = [
        f"<tr><td>{escape(s['name'])}</td><td>{escape(reason)}</td><td>{n:,}</td></tr>"
        for s in stages
        for reason, n in sorted(s["removed"].items(), key=lambda x: -x[1])
    ]
    body = (
        (f"<table><tr><th>stage</th><th>reason</th><th>documents</th></tr>{''.join(rows)}</table>")
        if rows
        else "<p>Nothing was removed.</p>"
    )
    return _section("removed", "Removed, by stage and reason", body)


def _histograms(stages: list[dict], params: list[dict]) -> str:
    blocks = []
    by_name = {}
    for p in params:
        by_name.setdefault(p["name"], []).append(p)
    for s in stages:
        numeric = {
            k: v
            for p in by_name.get(s["name"], [])[:1]
            for k, v in p.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        }
        for column, parts in sorted((s.get("histograms") or {}).items()):
            if column == "length" and s["name"] != stages[-1]["name"] and s is not stages[0]:
                continue  # length before (first stage) and after (last stage) only
            series = {part: dict((float(v), n) for v, n in pairs) for part, pairs in parts.items()}
            title = f"{s['name']}: {column}"
            marks = {k: v for k, v in numeric.items() if _measures(k, column)}
            blocks.append(f"<h3>{escape(title)}</h3>" + _histogram_svg(series, marks))
    return _section(
        "histograms",
        "Histograms (kept vs removed; length in vs out)",
        "".join(blocks) or "<p>No score columns.</p>",
    )


def _measures(param: str, column: str) -> bool:
    """Whether a parameter is a threshold on this column: ``min_words`` on
    ``length_words``, ``min_score`` on ``lang_score``, ``max_ratio`` on ``flagged_ratio``."""
    unit = param.removeprefix("min_").removeprefix("max_")
    return param != unit and column.rsplit("_", 1)[-1] == unit.rsplit("_", 1)[-1]


def _histogram_svg(series: dict[str, dict[float, int]], marks: dict[str, float]) -> str:
    values = [v for counts in series.values() for v in counts]
    if not values:
        return ""
    lo, hi = min(values), max(values)
    log = lo > 0 and hi / lo > 100
    f = (lambda v: math.log10(v)) if log else (lambda v: v)
    a, b = f(lo), f(hi)
    bins = 30
    width = (b - a) / bins or 1.0
    colours = {"kept": "#4c78a8", "removed": "#e45756", "in": "#bbbbbb", "out": "#4c78a8"}
    counts = {}
    for part, data in series.items():
        row = [0] * bins
        for v, n in data.items():
            row[min(bins - 1, max(0, int((f(v) - a) / width)))] += n
        counts[part] = row
    top = max(max(r) for r in counts.values()) or 1
    w, h, left = 600, 120, 40
    bar = w / bins
    shapes = []
    for k, (part, row) in enumerate(counts.items()):
        for i, n in enumerate(row):
            if n:
                height = h * n / top
                x = left + i * bar + k * bar / len(counts)
                shapes.append(
                    f"<rect x='{x:.1f}' y='{h - height:.1f}' width='{bar / len(counts):.1f}' "
                    f"height='{height:.1f}' fill='{colours.get(part, '#999')}'/>"
                )
    for name, value in marks.items():
        if (value > 0 or not log) and a <= f(value) <= b:
            x = left + (f(value) - a) / (b - a or 1) * w
            shapes.append(
                f"<line x1='{x:.1f}' x2='{x:.1f}' y1='0' y2='{h}' stroke='black' "
                f"stroke-dasharray='4 3'/><text x='{x + 3:.1f}' y='12'>"
                f"{escape(name)}={value}</text>"
            )
    legend = " ".join(
        f"<tspan fill='{colours.get(p, '#999')}'>■ {escape(p)}</tspan>" for p in counts
    )
    axis = (
        f"<text x='{left}' y='{h + 14}'>{lo:g}</text>"
        f"<text x='{left + w}' y='{h + 14}' text-anchor='end'>{hi:g}{' (log)' if log else ''}"
        f"</text><text x='{left + w / 2}' y='{h + 14}' text-anchor='middle'>{legend}</text>"
    )
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{w + left + 10}' height='{h + 20}' "
        f"font-size='11'>{''.join(shapes)}{axis}</svg>"
    )


def _languages(stages: list[dict]) -> str:
    for s in stages:
        langs = (s.get("categories") or {}).get("lang")
        if langs:
            total = sum(langs.values())
            rows = "".join(
                f"<tr><td>{escape(k)}</td><td>{v:,}</td><td>{v / total:.1%}</td></tr>"
                for k, v in sorted(langs.items(), key=lambda x: -x[1])
            )
            body = (
                f"<p>As identified by {escape(s['name'])} (documents it saw).</p><table>"
                f"<tr><th>language</th><th>documents</th><th>share</th></tr>{rows}</table>"
            )
            return _section("languages", "Languages", body)
    return _section("languages", "Languages", "<p>No language identification in this run.</p>")


def _duplicates(out: Path, stages: list[dict]) -> str:
    sizes: Counter = Counter()
    references: Counter = Counter()
    for part in sorted((out / "ledger").glob("*.parquet")):
        table = pq.read_table(part, columns=["cluster_size", "reference_source"])
        for row in table.column("cluster_size").value_counts().to_pylist():
            if row["values"] is not None:
                sizes[row["values"]] += row["counts"]
        for row in table.column("reference_source").value_counts().to_pylist():
            if row["values"] is not None:
                references[row["values"]] += row["counts"]
    body = ""
    if sizes:
        rows = "".join(f"<tr><td>{k:,}</td><td>{v:,}</td></tr>" for k, v in sorted(sizes.items()))
        body += f"<table><tr><th>cluster size</th><th>removed documents</th></tr>{rows}</table>"
    if references:
        rows = "".join(
            f"<tr><td>{escape(k)}</td><td>{v:,}</td></tr>" for k, v in sorted(references.items())
        )
        body += (
            "<p>Documents removed as duplicates of a reference corpus's documents:</p><table>"
            f"<tr><th>reference</th><th>removed documents</th></tr>{rows}</table>"
        )
    examples = [
        (s["name"], e)
        for s in stages
        if "dedup" in s["name"]
        for e in s.get("examples", {}).get("removed", [])[:2]
    ]
    originals = _originals(out, [e["id"] for _, e in examples])
    pairs = []
    for stage, example in examples:
        kept_id, kept_text = originals.get(example["id"], (None, None))
        if kept_text is not None:
            right = f"<b>kept: {escape(kept_id)}</b><pre>{escape(kept_text[:400])}</pre>"
        elif kept_id is not None:  # (id, None): the kept document is a reference's
            right = f"<b>in the reference: {escape(kept_id)}</b>"
        else:
            right = f"<pre class='muted'>kept: see winnow explain OUT {escape(example['id'])}</pre>"
        pairs.append(
            f"<h3>{escape(stage)}: {escape(example.get('reason', ''))}</h3><div class='pair'>"
            f"<div><b>removed: {escape(example['id'])}</b><pre>{escape(example['text'])}</pre>"
            f"</div><div>{right}</div></div>"
        )
    body += "".join(pairs)
    return _section("duplicates", "Duplicates", body or "<p>No duplicates removed.</p>")


def _originals(out: Path, removed_ids: list[str], limit: int = 200_000) -> dict:
    """For each removed duplicate, (id, text) of the document it duplicates, looked up in
    the output when the run is small enough to scan (``limit`` documents); (id and
    reference, None) when that document is a reference corpus's."""
    from winnow.report.lookup import kept_documents, ledger

    if not removed_ids:
        return {}
    stats = orjson.loads((out / "stats.json").read_bytes())
    if stats.get("output_docs", 0) > limit:
        return {}
    wanted, found = {}, {}
    for rid in removed_ids:
        rows = ledger(out, id=rid).to_pylist()
        if rows and rows[0].get("reference_source"):
            found[rid] = (f"{rows[0]['duplicate_of']} ({rows[0]['reference_source']})", None)
        elif rows and rows[0].get("duplicate_of"):
            wanted[rows[0]["duplicate_of"]] = rid
    for doc in kept_documents(out):
        if doc["id"] in wanted:
            found[wanted.pop(doc["id"])] = (doc["id"], doc["text"] or "")
            if not wanted:
                break
    return found


def _sources(stages: list[dict]) -> str:
    if not stages:
        return _section("sources", "Sources", "")
    first = next((s for s in stages if s.get("sources")), stages[0])
    last = stages[-1]
    names = sorted(set(first.get("sources", {})) | set(last.get("sources", {})))
    rows = "".join(
        f"<tr><td>{escape(n)}</td><td>{first.get('sources', {}).get(n, 0):,}</td>"
        f"<td>{last.get('sources', {}).get(n, 0):,}</td></tr>"
        for n in names
    )
    body = (
        "<table><tr><th>input file</th><th>documents after the first stage</th>"
        f"<th>documents kept</th></tr>{rows}</table>"
        "<p class='muted'>Licences are shown when the input records carry a licence "
        "field in their metadata.</p>"
    )
    return _section("sources", "Sources", body)


def _examples(stages: list[dict]) -> str:
    blocks = []
    for s in stages:
        ex = s.get("examples") or {}
        if not ex.get("kept") and not ex.get("removed"):
            continue
        kept = "".join(f"<pre>{escape(e['text'])}</pre>" for e in ex.get("kept", [])[:2])
        removed = "".join(
            f"<p>{escape(e['id'])}: {escape(e.get('reason', ''))}</p><pre>{escape(e['text'])}</pre>"
            for e in ex.get("removed", [])[:2]
        )
        blocks.append(
            f"<h3>{escape(s['name'])}</h3><div class='pair'><div><b>kept</b>{kept}"
            f"</div><div><b>removed</b>{removed}</div></div>"
        )
    return _section("examples", "Examples (first in input order, truncated)", "".join(blocks))
