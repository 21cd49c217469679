"""The engine on a real-sized corpus (run by hand, not a test):
python bench/scale.py [--mb 1536] [--skip-web] [--rss-scale 4] [--ray] [--one-core]

Builds ``--mb`` of real paragraphs from ``../shared/corpora`` (man pages, abstracts, the UDHR,
Debian copyright files) plus word-perturbed near copies, written as 8 JSONL files and as the
same documents in one file. Runs, each as a fresh ``winnow run`` process:

- the model recipe ``normalize → exact_dedup → quality_classifier(0.8) → perplexity(0.8) →
  tokenize(tokenizer.json) → pack(2048)`` at 1 and 2 workers (8 files);
- the web recipe (langid, three heuristic filters, exact + MinHash dedup, classifier,
  tokenize, pack) at 2 workers on the 8 files and on the one file.

With ``--one-core``, also runs the model recipe at 1 worker pinned to one core (``taskset``):
at ``--workers 1`` the tokenizers' Rust threads and the gzip writer's threads already use
every core, so that run is the single-core baseline of the speed-up. With ``--ray``, also
runs the model recipe (and the web recipe on 8 files) on a local Ray
cluster with 2 workers, where the scoring and shuffles run as Ray tasks (phase seconds show
where the time goes). With ``--rss-scale N``, also builds N times ``--mb`` (8 files) and
runs the model recipe on it at 2 workers, printing its peak RSS over the peak RSS at 1x.

Prints wall time, speed-up, peak RSS of the whole process tree, peak scratch disk
(``OUT/_work``) over the input size, sampled every 0.2 s, and each run's phase seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _paragraphs() -> list[str]:
    from tests.conftest import corpus_records

    out = []
    for name in ("manpages", "abstracts", "udhr", "copyright"):
        for record in corpus_records(name):
            out += [p for p in record["text"].split("\n\n") if len(p.split()) >= 8]
    return out


def _perturb(text: str, rng: random.Random) -> str:
    words = text.split()
    for _ in range(max(1, len(words) // 20)):
        i = rng.randrange(len(words))
        words[i] = rng.choice(words)
    return " ".join(words)


def build(work: Path, mb: int) -> tuple[Path, Path, int, Path]:
    """8 files, the same documents in one file, their bytes, and positives for the classifier."""
    rng = random.Random(0)
    paragraphs = _paragraphs()
    work.mkdir(parents=True, exist_ok=True)
    eight, one = work / "eight", work / "one.jsonl"
    eight.mkdir()
    size, n = 0, 0
    with contextlib.ExitStack() as stack, open(one, "w") as whole:
        files = [stack.enter_context(open(eight / f"part-{k}.jsonl", "w")) for k in range(8)]
        while size < mb * 1_000_000:
            text = rng.choice(paragraphs)
            if rng.random() < 0.3:
                text = _perturb(text, rng)
            line = json.dumps({"id": f"d{n}", "text": text}) + "\n"
            files[n % 8].write(line)
            whole.write(line)
            size += len(line)
            n += 1
    positives = work / "positives.jsonl"
    from tests.conftest import corpus_records

    with open(positives, "w") as fh:
        for r in corpus_records("abstracts", 3000):
            fh.write(json.dumps({"text": r["text"]}) + "\n")
    return eight, one, size, positives


def _tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry))
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss[int(entry)] = int(line.split()[1]) * 1024
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo += children.get(p, [])
    return total


def _disk(folder: Path) -> int:
    total = 0
    for root, _, names in os.walk(folder):
        for name in names:
            with contextlib.suppress(OSError):  # a file deleted while we look
                total += os.path.getsize(os.path.join(root, name))
    return total


def run(
    recipe: dict, work: Path, name: str, workers: int, executor: str = "local", pin: bool = False
) -> dict:
    path = work / f"{name}.yaml"
    out = work / f"out-{name}"
    shutil.rmtree(out, ignore_errors=True)
    path.write_text(yaml.safe_dump(recipe))
    cmd = [sys.executable, "-m", "winnow.cli", "run", str(path), "-o", str(out),
           "--workers", str(workers), "--executor", executor]  # fmt: skip
    if pin:  # the whole process tree on one core
        cmd = ["taskset", "-c", "0", *cmd]
    peak = {"rss": 0, "scratch": 0}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)

    def sample() -> None:
        while proc.poll() is None:
            peak["rss"] = max(peak["rss"], _tree_rss(proc.pid))
            peak["scratch"] = max(peak["scratch"], _disk(out / "_work"))
            time.sleep(0.2)

    watcher = threading.Thread(target=sample)
    watcher.start()
    err = proc.communicate()[1]
    watcher.join()
    if proc.returncode:
        raise SystemExit(f"{name} failed: {err.decode()[-2000:]}")
    stats = json.loads((out / "stats.json").read_text())
    return {"seconds": time.perf_counter() - t0, **peak, "phases": stats["phase_seconds"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=1536)
    ap.add_argument("--skip-web", action="store_true")
    ap.add_argument("--rss-scale", type=int, default=0)
    ap.add_argument("--ray", action="store_true")
    ap.add_argument("--one-core", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="winnow-scale-bench-"))
    eight, one, size, positives = build(work, args.mb)
    print(f"corpus: {size / 1e6:,.0f} MB in 8 files and in one file")
    tokenizer = work / "tokenizer"
    sample = {"inputs": [str(eight / "part-0.jsonl")], "output": str(tokenizer),
              "stages": [{"sample": {"keep_top_k": 20000}},
                         {"tokenize": {"train_vocab": 32000, "train_docs": 20000}}]}  # fmt: skip
    subprocess.run([sys.executable, "-c", f"import winnow; winnow.run({sample!r}, workers=2)"],
                   check=True, capture_output=True, cwd=ROOT)  # fmt: skip
    tok = str(next((tokenizer / "artifacts").glob("*-tokenize/tokenizer.json")))
    tail = [{"tokenize": {"tokenizer": tok}}, {"pack": {"seq_len": 2048}}]
    model = [{"normalize": {}}, {"exact_dedup": {}},
             {"quality_classifier": {"positives": str(positives), "keep_fraction": 0.8}},
             {"perplexity": {"target": str(positives), "keep_fraction": 0.8}}, *tail]  # fmt: skip
    web = [{"normalize": {}}, {"langid": {"languages": ["en"]}}, {"gopher_quality": {}},
           {"gopher_repetition": {}}, {"fineweb_quality": {}}, {"exact_dedup": {}},
           {"minhash_dedup": {}},
           {"quality_classifier": {"positives": str(positives), "keep_fraction": 0.8}},
           *tail]  # fmt: skip
    rows = []
    for workers in (1, 2):
        recipe = {"inputs": [str(eight)], "stages": model}
        rows.append(("model, 8 files", workers, run(recipe, work, f"model-{workers}", workers)))
    if not args.skip_web:
        for label, source in (("web, 8 files", eight), ("web, one file", one)):
            recipe = {"inputs": [str(source)], "stages": web}
            rows.append(
                (label, 2, run(recipe, work, label.replace(", ", "-").replace(" ", "-"), 2))
            )
    if args.one_core:
        r = run({"inputs": [str(eight)], "stages": model}, work, "model-one-core", 1, pin=True)
        rows.append(("model, one core", 1, r))
    if args.ray:
        rows.append(("model, Ray", 2, run({"inputs": [str(eight)], "stages": model}, work,
                                          "model-ray", 2, "ray")))  # fmt: skip
        if not args.skip_web:
            rows.append(("web, Ray", 2, run({"inputs": [str(eight)], "stages": web}, work,
                                            "web-ray", 2, "ray")))  # fmt: skip
    print(f"{'recipe':<16} {'workers':>7} {'seconds':>8} {'peak RSS':>9} {'scratch/input':>13}")
    for label, workers, r in rows:
        print(f"{label:<16} {workers:>7} {r['seconds']:>8.1f} {r['rss'] / 1e9:>8.2f}G "
              f"{r['scratch'] / size:>13.2f}")  # fmt: skip
        print("    phases: " + ", ".join(f"{k} {v:.1f}s" for k, v in r["phases"].items()))
    print(
        f"model recipe speed-up at 2 workers: {rows[0][2]['seconds'] / rows[1][2]['seconds']:.2f}x"
    )
    if not args.skip_web:
        print(f"one file / 8 files: {rows[3][2]['seconds'] / rows[2][2]['seconds']:.2f}x the time")
    if args.one_core:
        one = next(r for label, _, r in rows if label == "model, one core")
        print(f"model recipe speed-up at 2 workers over one core: "
              f"{one['seconds'] / rows[1][2]['seconds']:.2f}x")  # fmt: skip
    if args.rss_scale:
        big, _, big_size, _ = build(work / "scaled", args.mb * args.rss_scale)
        r = run({"inputs": [str(big)], "stages": model}, work, "model-scaled", 2)
        print(f"model, {big_size / 1e6:,.0f} MB, 2 workers: {r['seconds']:.1f} s, peak RSS "
              f"{r['rss'] / 1e9:.2f}G = {r['rss'] / rows[1][2]['rss']:.2f}x the "
              f"{size / 1e6:,.0f} MB run's, scratch/input "
              f"{r['scratch'] / big_size:.2f}")  # fmt: skip
        print("    phases: " + ", ".join(f"{k} {v:.1f}s" for k, v in r["phases"].items()))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
