"""The groups a mixture search weighs, and the training documents of one mixture."""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import xxhash

from winnow.fields import MISSING, field_values
from winnow.io.inputs import data_name, expand
from winnow.io.read import read_shard


@dataclass
class Pool:
    names: list[str]
    texts: list[list[str]]
    """Each group's documents, in input order."""
    sizes: list[np.ndarray]
    """UTF-8 bytes of each document (the proxies' tokens, without the end-of-document one)."""
    files: list[dict[str, int]]
    """Per group, the bytes of each input file's documents (by mix's source name)."""

    @property
    def available(self) -> np.ndarray:
        return np.array([s.sum() for s in self.sizes], dtype=np.float64)

    def fingerprint(self) -> str:
        digest = xxhash.xxh3_128()
        for name, texts in zip(self.names, self.texts):
            digest.update(name.encode() + b"\x00")
            for text in texts:
                digest.update(text.encode("utf-8", "surrogatepass") + b"\x01")
        return digest.hexdigest()


def entry_name(entry: str) -> str:
    """A group's name for one ``inputs`` entry: the file's name without extensions, or the
    folder's (for a folder or a glob)."""
    path = Path(entry)
    if glob.has_magic(entry):
        return path.parent.name or entry
    return path.name if path.is_dir() else data_name(entry)


def load_pool(inputs: list[str], by: str) -> Pool:
    groups: dict[str, tuple[list[str], list[int], dict[str, int]]] = {}
    for entry in inputs:
        for batch, _ in read_shard(expand(entry)):
            if batch is None:
                continue
            text = pc.fill_null(batch.column("text"), "")
            sizes = pc.binary_length(text).to_pylist()
            if by == "source":
                keys = [entry_name(entry)] * batch.num_rows
            else:
                keys = [None if v is MISSING else str(v) for v in field_values(batch, by)]
            files = pc.replace_substring_regex(batch.column("source"), r":[0-9]+$", "")
            sources = [data_name(f) for f in files.to_pylist()]
            for key, doc, size, source in zip(keys, text.to_pylist(), sizes, sources):
                if key is None:
                    continue  # without the field: in no group
                docs, lengths, per_file = groups.setdefault(key, ([], [], {}))
                docs.append(doc)
                lengths.append(size)
                per_file[source] = per_file.get(source, 0) + size
    if len(groups) < 2:
        raise ValueError(f"mixsearch: {len(groups)} group(s) by {by!r}; a mixture needs two")
    names = sorted(groups)
    return Pool(names, [groups[n][0] for n in names],
                [np.array(groups[n][1], dtype=np.int64) for n in names],
                [groups[n][2] for n in names])  # fmt: skip


def mixture_texts(pool: Pool, weights: np.ndarray, tokens: int, seed: int) -> list[str]:
    """Documents giving each group about ``weights[g] * tokens`` bytes (whole documents in
    seeded passes, repeated when a group holds fewer), in a seeded shuffled order."""
    rng = np.random.Generator(np.random.PCG64(seed))
    chosen: list[str] = []
    for g, weight in enumerate(weights):
        need = weight * tokens
        if need <= 0 or not len(pool.sizes[g]) or pool.sizes[g].sum() == 0:
            continue
        got = 0
        while got < need:
            order = rng.permutation(len(pool.texts[g]))
            cum = np.cumsum(pool.sizes[g][order] + 1)
            take = min(len(order), int(np.searchsorted(cum, need - got)) + 1)
            chosen += [pool.texts[g][i] for i in order[:take]]
            got += int(cum[take - 1])
    return [chosen[i] for i in rng.permutation(len(chosen))]
