"""Command line: ``winnow run``, ``stages``, ``contains``, ``evaluate``, ``mixsearch``,
``report``, ``explain``, ``sample``, ``demo``."""

from __future__ import annotations

import argparse
import gc
import sys

from rich.console import Console
from rich.table import Table

from winnow.engine.id_check import IdCheck
from winnow.engine.local import RunFailed, RunResult, execute
from winnow.extras import MissingExtra
from winnow.io.inputs import InputError
from winnow.plugins import PluginError, load_entry_points
from winnow.recipe import RecipeError, load_recipe
from winnow.stages import REGISTRY

console = Console()
if not console.is_terminal:  # logs and pipes: wide enough that tables never truncate names
    console = Console(width=160)


def _error(message: str) -> None:
    print(message, file=sys.stderr)


def _summary(result: RunResult) -> None:
    table = Table(title="winnow run")
    for col in ("stage", "docs in", "docs out", "removed", "MB in", "seconds"):
        table.add_column(
            col,
            justify="left" if col in ("stage", "removed") else "right",
            no_wrap=col == "removed",
        )
    for st in result.stats["stages"]:
        removed = "\n".join(f"{r}: {n:,}" for r, n in st["removed"].items()) or "-"
        table.add_row(
            st["name"],
            f"{st['docs_in']:,}",
            f"{st['docs_out']:,}",
            removed,
            f"{st['bytes_in'] / 1e6:.1f}",
            f"{st['seconds']:.2f}",
        )
    console.print(table)
    s = result.stats
    print(
        f"{s['input_docs']:,} documents in, {s['output_docs']:,} kept, "
        f"{s['ledger_rows']:,} in the ledger (conservation checked)."
    )
    for path in s.get("unsplit_inputs", []):
        print(f"note: {path} is compressed (or remote) and larger than a shard: one task reads")
        print("  it whole; a plain .jsonl file is cut into shards at line ends")
    print(f"output: {result.output}")


def _dry_run(args) -> int:
    from winnow.api import estimate

    plan = estimate(args.recipe, output=args.output)
    print(f"{plan['input_docs']:,} input documents")
    if not plan["stages"]:
        print("no language-model stage: nothing would be asked")
        return 0
    table = Table(title="winnow run --dry-run: language-model requests")
    for col in ("stage", "model", "template", "requests", "prompt tokens", "completion ≤"):
        table.add_column(col, justify="left" if col in ("stage", "model", "template") else "right")
    for st in plan["stages"]:
        bound = " (at most)" if st["upper_bound"] else ""
        table.add_row(
            st["stage"], st["model"], st["template"], f"{st['requests']:,}{bound}",
            f"{st['prompt_tokens']:,}", f"{st['max_completion_tokens']:,}",
        )  # fmt: skip
    console.print(table)
    print("prompt tokens are estimated as characters / 4; cached answers are sent again by no run")
    return 0


def _run(args) -> int:
    if args.dry_run:
        return _dry_run(args)
    resolved = load_recipe(args.recipe, output=args.output, work_dir=args.work_dir)
    result = execute(
        resolved, args.workers, args.resume, args.overwrite, args.strict, True,
        args.executor, args.address,
    )  # fmt: skip
    _summary(result)
    return 0


def _stages(_args) -> int:
    load_entry_points()
    table = Table(title="winnow stages")
    for col in ("stage", "kind", "parameters (defaults)", "what", "method from"):
        table.add_column(col, overflow="fold")
    for name, cls in sorted(REGISTRY.items()):
        params = (
            ", ".join(f"{k}={f.default!r}" for k, f in cls.ParamsModel.model_fields.items()) or "-"
        )
        table.add_row(name, cls.kind, params, cls.summary, cls.origin)
    console.print(table)
    console.print(
        f"Every run first checks that ids are unique ({IdCheck.name}): a later record that "
        "reuses an id goes to the ledger as invalid_input:duplicate_id."
    )
    return 0


def _demo(args) -> int:
    from winnow.demo.build import demo_recipe

    recipe = demo_recipe(args.output)
    print(f"demo corpus written under {args.output}/input")
    resolved = load_recipe(recipe)
    result = execute(resolved, args.workers, overwrite=True, progress=True)
    _summary(result)
    return 0


def _contains(args) -> int:
    """Exit 0 when the text was (probably) in the sketched data, 1 when not."""
    from pathlib import Path

    from winnow.models.portrait import Portrait, find

    try:
        portrait = Portrait.load(find(args.sketch))
    except ValueError as err:
        _error(f"error: {err}")
        return 2
    queries = []
    for item in args.text:
        try:
            is_file = len(item) < 4096 and Path(item).is_file()
        except OSError:  # not a usable path: the text itself
            is_file = False
        queries.append((item, Path(item).read_text(errors="replace") if is_file else item))
    found_all = True
    for label, text in queries:
        score, chunks = portrait.score(text)
        verdict = "yes" if chunks and score >= args.threshold else "no"
        found_all &= verdict == "yes"
        shown = label if len(label) <= 60 else label[:57] + "..."
        print(f"{verdict}\t{score:.3f} of {chunks} {portrait.ngram}-character chunks\t{shown}")
    return 0 if found_all else 1


def _evaluate(args) -> int:
    from pydantic import ValidationError

    from winnow.evaluate import evaluate, load_spec

    try:
        spec = load_spec(args.spec)
    except (OSError, ValidationError, ValueError) as err:
        _error(f"error: {args.spec}: {err}")
        return 2
    report = evaluate(spec, progress=lambda m: print(m, flush=True))
    table = Table(title=f"winnow evaluate: target loss after {spec.tokens:,} tokens")
    names = list(next(iter(report["candidates"].values()))["loss"]) if report["candidates"] else []
    for col in ("rank", "candidate", *names, "tokens", "seconds"):
        table.add_column(col, justify="left" if col == "candidate" else "right")
    for rank, name in enumerate(report["ranking"], 1):
        r = report["candidates"][name]
        losses = [f"{r['loss'][n]['loss']:.4f} ± {r['loss'][n]['loss_std']:.4f}" for n in names]
        table.add_row(str(rank), name, *losses, f"{r['tokens']:,}", f"{r['seconds']:.1f}")
    console.print(table)
    print(f"results: {spec.output}/results.json, plot: {spec.output}/loss.svg")
    return 0


def _mixsearch(args) -> int:
    from pydantic import ValidationError

    from winnow.mixsearch import load_mixsearch_spec, mixsearch

    try:
        spec = load_mixsearch_spec(args.spec)
    except (OSError, ValidationError, ValueError) as err:
        _error(f"error: {args.spec}: {err}")
        return 2
    from rich.progress import Progress

    total = (spec.runs + 3) * len(spec.seeds)  # the search, then the three verified mixtures
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("proxy runs", total=total)

        def progress(message: str) -> None:
            if message.startswith("proxy run"):
                bar.update(task, advance=1, description=message.split(": ", 1)[-1])
            else:
                bar.console.print(message)

        try:
            report = mixsearch(spec, progress, args.executor, args.address)
        except ValueError as err:
            _error(f"error: {args.spec}: {err}")
            return 2
    table = Table(title=f"winnow mixsearch ({spec.method}): target loss, {spec.tokens:,} tokens")
    for col in ("mixture", "target loss", *report["groups"]):
        table.add_column(col, justify="left" if col == "mixture" else "right")
    for name, result in report["verification"].items():
        loss = f"{result['loss']['target']:.4f} ± {result['loss_std']['target']:.4f}"
        table.add_row(name, loss, *(f"{w:.3f}" for w in result["weights"].values()))
    console.print(table)
    rho = report["surrogate"]["held_out_spearman"]
    print(f"held-out rank correlation {rho:.3f}; {spec.output}/recipe.yaml, results.json, "
          "surface.svg, report.html")  # fmt: skip
    return 0


def _report(args) -> int:
    from pathlib import Path

    from winnow.report.html import write_report

    if not (Path(args.out) / "stats.json").exists():
        _error(f"error: {args.out}: not a finished winnow run (no stats.json)")
        return 2
    print(f"report: {write_report(args.out)}")
    return 0


def _explain(args) -> int:
    """Where a document went: the stage and reason that removed it (and what it
    duplicates), or its scores in the output."""
    from pathlib import Path

    from winnow.report.lookup import kept_documents, ledger, original_texts

    out = Path(args.out)
    rows = ledger(out, id=args.doc_id).to_pylist()
    if rows:
        for row in rows:
            print(f"{row['id']}: removed by {row['stage']} ({row['reason']})")
            print(f"  source: {row['source']}")
            if row.get("reference_source"):
                print(f"  duplicate of {row['duplicate_of']} in the reference "
                      f"{row['reference_source']} (cluster of {row['cluster_size']})")  # fmt: skip
            elif row.get("duplicate_of"):
                print(f"  duplicate of {row['duplicate_of']} (cluster of {row['cluster_size']})")
        texts = original_texts(out, [r["source"] for r in rows])
        for row in rows:
            print(f"  text: {texts.get(row['source'], '(input not readable now)')[:500]!r}")
        local = rows[0].get("duplicate_of") and not rows[0].get("reference_source")
        for doc in kept_documents(out) if local else []:
            if doc["id"] == rows[0]["duplicate_of"]:
                print(f"  kept {doc['id']}: {doc['text'][:500]!r}")
                break
        return 0
    for doc in kept_documents(out):
        if doc["id"] == args.doc_id:
            print(f"{doc['id']}: kept (source {doc.get('source')})")
            for key, value in doc.items():
                if key not in ("id", "text", "source", "meta", "messages", "tokens"):
                    print(f"  {key}: {value}")
            print(f"  text: {doc['text'][:500]!r}")
            return 0
    _error(f"error: no document {args.doc_id!r} in {args.out} (neither kept nor in the ledger)")
    return 1


def _sample(args) -> int:
    """Removed documents of a stage (and reason), a seeded sample, with their text."""
    import random
    from pathlib import Path

    from winnow.report.lookup import ledger, original_texts

    out = Path(args.out)
    rows = ledger(out, stage=args.stage, reason=args.reason).to_pylist()
    if not rows:
        _error(f"error: no removed documents for stage {args.stage!r} reason {args.reason!r}")
        return 1
    chosen = sorted(random.Random(args.seed).sample(range(len(rows)), min(args.n, len(rows))))
    picked = [rows[i] for i in chosen]
    texts = original_texts(out, [r["source"] for r in picked])
    print(f"{len(picked)} of {len(rows):,} documents removed by {args.stage} "
          f"({args.reason or 'any reason'}):")  # fmt: skip
    for row in picked:
        print(f"\n--- {row['id']} ({row['reason']}) {row['source']}")
        if row.get("detail"):  # what is wrong (a record that is no document has no text)
            print(f"({row['detail']})")
        text = texts.get(row["source"], "" if row.get("detail") else "(input not readable now)")
        print(text[: args.chars])
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="winnow", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run a recipe")
    r.add_argument("recipe", help="recipe YAML file")
    r.add_argument(
        "-o", "--output", help="output folder or URL, e.g. s3://… (overrides the recipe's 'output')"
    )
    r.add_argument(
        "--workers", type=int, default=None, help="worker processes (default: all cores)"
    )
    r.add_argument("--resume", action="store_true", help="continue an interrupted run")
    r.add_argument(
        "--work-dir", help="scratch folder on another disk (overrides the recipe's 'work_dir')"
    )
    r.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")
    r.add_argument(
        "--strict", action="store_true", help="fail (exit 2) on any invalid input record"
    )
    r.add_argument("--executor", choices=["local", "ray"], default="local")
    r.add_argument(
        "--dry-run", action="store_true",
        help="estimate the language-model requests and tokens; run nothing",
    )  # fmt: skip
    r.add_argument("--address", default=None, help="Ray cluster address (default: start one)")
    r.set_defaults(fn=_run)
    s = sub.add_parser("stages", help="list the registered stages")
    s.set_defaults(fn=_stages)
    c = sub.add_parser("contains", help="was this text in the data? (ask a run's portrait sketch)")
    c.add_argument("sketch", help="portrait.npz, or a run's output folder")
    c.add_argument("text", nargs="+", help="text, or a file whose text to look up")
    c.add_argument(
        "--threshold", type=float, default=0.5, help="fraction of chunks found to say yes"
    )
    c.set_defaults(fn=_contains)
    e = sub.add_parser("evaluate", help="train proxy models on candidate datasets, compare")
    e.add_argument("spec", help="evaluation spec YAML")
    e.set_defaults(fn=_evaluate)
    ms = sub.add_parser("mixsearch", help="search mixture weights with proxy models")
    ms.add_argument("spec", help="mixture search spec YAML")
    ms.add_argument("--executor", choices=["local", "ray"], default="local")
    ms.add_argument("--address", default=None, help="a Ray cluster's address (--executor ray)")
    ms.set_defaults(fn=_mixsearch)
    rp = sub.add_parser("report", help="(re)write OUT/report.html, the run's data card")
    rp.add_argument("out", help="a run's output folder")
    rp.set_defaults(fn=_report)
    x = sub.add_parser("explain", help="where a document went and why")
    x.add_argument("out", help="a run's output folder")
    x.add_argument("doc_id")
    x.set_defaults(fn=_explain)
    sm = sub.add_parser("sample", help="print removed documents of a stage (and reason)")
    sm.add_argument("out", help="a run's output folder")
    sm.add_argument("--stage", required=True)
    sm.add_argument("--reason", default=None)
    sm.add_argument("-n", type=int, default=10)
    sm.add_argument("--seed", type=int, default=0)
    sm.add_argument("--chars", type=int, default=600, help="characters of text to print")
    sm.set_defaults(fn=_sample)
    d = sub.add_parser("demo", help="build the demo corpus and run the default recipe on it")
    d.add_argument("-o", "--output", default="winnow-demo", help="folder for corpus and output")
    d.add_argument("--workers", type=int, default=None)
    d.set_defaults(fn=_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if getattr(args, "workers", None) is not None and args.workers < 1:
        _error("error: --workers must be at least 1")
        return 2
    try:
        return args.fn(args)
    except RecipeError as exc:
        _error(str(exc))
        return 2
    except (InputError, PluginError) as exc:
        _error(f"error: {exc}")
        return 2
    except RunFailed as exc:
        _error(f"error: {exc}")
        return exc.exit_code
    except MissingExtra as exc:
        _error(f"error: {exc}")
        return 2
    except KeyboardInterrupt:
        _error("interrupted; rerun with --resume to continue")
        return 130


def entry() -> None:
    """The ``winnow`` command. Before the interpreter exits, the objects left (a run's
    caches: millions of words and chunks) are frozen, so its last garbage collection does
    not walk them (about 1.7 s after the web recipe of ``bench/run.py``); they are freed all
    the same."""
    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    entry()
