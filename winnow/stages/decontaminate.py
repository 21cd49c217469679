"""``decontaminate``: remove benchmark test items that leaked into training documents, by
word n-gram overlap (13-grams, as GPT-3: Brown et al. 2020, appendix C).

Benchmarks are files (JSON Lines, Parquet, CSV, any input format) whose records hold the
item in named fields (``fields``; by default every one of question, answer, text, prompt,
completion, input, output, context, passage, choices that is present). Each file is one
benchmark, named by its file name. Words are the lower-cased ``\\w+`` runs (as MinHash
shingles, ``winnow.stages.dedup.shingles``); an item field shorter than ``ngram`` words but
at least ``min_words`` long counts as one n-gram of its own length (GPT-3's rule for short
items); shorter ones are ignored. The index (sorted 64-bit n-gram hashes with the benchmark
of each) is built once per set of files and parameters and kept as numpy arrays in the
cache folder (``WINNOW_CACHE``, else ``~/.cache/winnow``), so every worker and later run
loads it.

``mode: document`` drops a document with any overlap, reason ``contaminated:{benchmark}``;
``mode: span`` cuts each overlapping n-gram plus ``margin`` characters either side and
drops the document only if under ``min_chars`` characters are left.
"""

from __future__ import annotations

import hashlib
import os
import re
from functools import cache
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import xxhash
from pydantic import Field, model_validator

from winnow.io.inputs import InputFile, data_name
from winnow.io.read import READERS
from winnow.schema import InvalidRecord
from winnow.stages.base import ExampleFiles, Params, RowResult, RowStage, register, with_text
from winnow.stages.dedup.shingles import (
    NGRAM_PRIME,
    mix64,
    ngram_keys,
    shingles_of_words,
    word_hashes,
)
from winnow.stages.select.targets import require_files, target_files

FIELDS = ("question", "answer", "text", "prompt", "completion", "input", "output",
          "context", "passage", "choices")  # fmt: skip
_ASCII_WORD = re.compile(r"[0-9A-Za-z_]+")  # Arrow's \W+ split (RE2: ASCII classes)


class DecontaminateParams(Params):
    benchmarks: list[str]
    """Benchmark test sets: paths or globs, one benchmark per file."""
    ngram: int = Field(13, ge=1)
    mode: Literal["document", "span"] = "document"
    fields: list[str] | None = None
    min_words: int = Field(8, ge=1)
    margin: int = Field(200, ge=0)
    """span mode: characters removed either side of an overlap (GPT-3: 200)."""
    min_chars: int = Field(200, ge=0)
    """span mode: a document with fewer characters left is dropped."""

    @model_validator(mode="after")
    def _benchmarks_exist(self) -> DecontaminateParams:
        require_files("benchmarks", self.benchmarks)
        return self


@register
class Decontaminate(RowStage):
    """Drop (or cut) text that shares a word n-gram with a benchmark test item."""

    name = "decontaminate"
    ParamsModel = DecontaminateParams
    reads = ("benchmarks",)
    summary = "word 13-gram overlap with benchmark items: drop the document or cut the span"
    origin = "GPT-3 (Brown et al. 2020) 13-gram decontamination"

    @classmethod
    def examples(cls, files: ExampleFiles) -> list[dict]:
        return [
            {"benchmarks": [files.benchmark], "mode": "span"},
            {"benchmarks": [files.benchmark], "mode": "document"},
        ]

    def process(self, batch: pa.RecordBatch) -> RowResult:
        p = self.params
        index = benchmark_index(tuple(p.benchmarks), p.ngram, tuple(p.fields or ()), p.min_words)
        found = index.find(batch.column("text"))
        names = np.array(index.names + [None], dtype=object)
        benchmark = names[found]
        spans = np.zeros(batch.num_rows, dtype=np.int64)
        reason = np.array(
            [None if b is None else f"contaminated:{b}" for b in benchmark], dtype=object
        )
        if p.mode == "span" and (found < len(index.names)).any():
            texts = batch.column("text").to_pylist()
            for row in np.nonzero(found < len(index.names))[0].tolist():
                texts[row], spans[row] = index.cut(texts[row], p.margin)
                if len(texts[row].strip()) >= p.min_chars:
                    reason[row] = None
            batch = with_text(batch, texts)
        batch = batch.append_column(f"{self.name}_benchmark", pa.array(benchmark, pa.string()))
        if p.mode == "span":
            batch = batch.append_column(f"{self.name}_spans", pa.array(spans))
        return RowResult(batch=batch, reason=pa.array(reason, pa.string()))


class BenchmarkIndex:
    """Sorted n-gram hashes of the benchmark items, with the benchmark of each, and a
    bitmap of their low bits that rules out most misses before the binary search."""

    BITS = 1 << 24

    def __init__(self, names: list[str], keys: np.ndarray, owner: np.ndarray, lengths):
        self.names, self.keys, self.owner = names, keys, owner
        self.lengths = sorted(int(k) for k in lengths)  # n-gram lengths in the index
        self.bitmap = np.zeros(self.BITS, dtype=bool)
        self.bitmap[(keys & np.uint64(self.BITS - 1)).astype(np.int64)] = True

    def find(self, text: pa.Array) -> np.ndarray:
        """For each document, the index of a benchmark it overlaps (len(names): none)."""
        out = np.full(len(text), len(self.names), dtype=np.int64)
        if not len(self.keys):
            return out
        hashes, offsets = word_hashes(text)
        for keys, doc in _rolling_grams(hashes, offsets, self.lengths):
            hit = self._hits(keys)
            np.minimum.at(out, doc[hit >= 0], self.owner[hit[hit >= 0]])
        return out

    def _hits(self, hashes: np.ndarray) -> np.ndarray:
        """Position of each hash in ``keys``, -1 where absent."""
        out = np.full(len(hashes), -1, dtype=np.int64)
        maybe = np.nonzero(self.bitmap[(hashes & np.uint64(self.BITS - 1)).astype(np.int64)])[0]
        at = np.minimum(np.searchsorted(self.keys, hashes[maybe]), len(self.keys) - 1)
        found = self.keys[at] == hashes[maybe]
        out[maybe[found]] = at[found]
        return out

    def cut(self, text: str, margin: int) -> tuple[str, int]:
        """``text`` without its overlapping n-grams and ``margin`` characters around
        each; the number of spans cut."""
        words = [m.span() for m in _ASCII_WORD.finditer(text)]
        hashes = np.fromiter(
            (xxhash.xxh3_64_intdigest(text[a:b].lower().encode("utf-8")) for a, b in words),
            np.uint64, len(words),
        )  # fmt: skip
        marked = np.zeros(len(text) + 1, dtype=np.int64)
        for n in reversed(self.lengths):
            if len(words) < n:
                continue
            grams = ngram_keys(hashes, n)
            for i in np.nonzero(self._hits(grams) >= 0)[0].tolist():
                marked[max(0, words[i][0] - margin)] += 1
                marked[min(len(text), words[i + n - 1][1] + margin)] -= 1
        covered = np.cumsum(marked)[:-1] > 0
        edges = np.diff(np.concatenate([[0], covered.astype(np.int8), [0]]))
        starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
        pieces, last = [], 0
        for a, b in zip(starts.tolist(), ends.tolist()):
            pieces.append(text[last:a])
            last = b
        pieces.append(text[last:])
        return "\n".join(p.strip() for p in pieces if p.strip()), len(starts)


def _rolling_grams(hashes: np.ndarray, offsets: np.ndarray, lengths: list[int]):
    """For each wanted length n (ascending): the hash of every word n-gram of every document
    (as ``shingles_of_words`` computes full n-grams) and its document. One pass per word
    position up to the longest length, not one per length."""
    doc = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    end = offsets[1:][doc]
    active = np.arange(len(hashes), dtype=np.int64)
    keys = np.zeros(len(hashes), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(1, max(lengths) + 1):
            fits = active + k <= end[active]
            active, keys = active[fits], keys[fits]
            keys = keys * NGRAM_PRIME + hashes[active + k - 1]
            if k in lengths:
                yield mix64(keys), doc[active]


@cache
def benchmark_index(
    benchmarks: tuple[str, ...], n: int, fields: tuple[str, ...], min_words: int
) -> BenchmarkIndex:
    """The index of these benchmark files, from the cache folder when it is there."""
    files = target_files(list(benchmarks))
    names = [data_name(f.path) for f in files]
    digest = hashlib.sha256(repr((n, fields, min_words, names)).encode())
    for f in files:
        digest.update(Path(f.path).read_bytes() if os.path.isfile(f.path) else f.path.encode())
    path = _cache_dir() / f"decontaminate-{digest.hexdigest()[:32]}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as saved:
            return BenchmarkIndex(names, saved["keys"], saved["owner"], saved["lengths"])
    keys, owner, lengths = [], [], {n}
    for b, f in enumerate(files):
        items = _item_texts(f, fields)
        words = word_hashes(pa.array(items, pa.large_string()))
        grams = shingles_of_words(*words, n)
        size = np.diff(words[1])  # words per item
        per = np.diff(grams.offsets)
        item = np.repeat(np.arange(len(items)), per)
        usable = (size[item] >= n) | (size[item] >= min_words)
        lengths |= set(np.minimum(size[(size < n) & (size >= min_words)], n).tolist())
        keys.append(grams.hashes[usable])
        owner.append(np.full(int(usable.sum()), b, dtype=np.int64))
    keys_all = np.concatenate(keys) if keys else np.zeros(0, np.uint64)
    owner_all = np.concatenate(owner) if owner else np.zeros(0, np.int64)
    order = np.lexsort((owner_all, keys_all))
    keys_all, owner_all = keys_all[order], owner_all[order]
    first = np.concatenate([[True], keys_all[1:] != keys_all[:-1]]) if len(keys_all) else []
    index = BenchmarkIndex(names, keys_all[first], owner_all[first], lengths)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}.npz")
    np.savez(tmp, keys=index.keys, owner=index.owner, lengths=np.array(index.lengths))
    os.replace(tmp, path)
    return index


def _item_texts(f: InputFile, fields: tuple[str, ...]) -> list[str]:
    """Every field of every record that holds an item's text."""
    wanted = fields or FIELDS
    out: list[str] = []
    for record, _ in READERS[f.format](f):
        if isinstance(record, InvalidRecord) or not isinstance(record, dict):
            continue
        for field in wanted:
            value = record.get(field)
            if isinstance(value, str):
                out.append(value)
            elif isinstance(value, list):
                out += [v for v in value if isinstance(v, str)]
    return out


def _cache_dir() -> Path:
    return Path(os.environ.get("WINNOW_CACHE") or Path.home() / ".cache" / "winnow")
