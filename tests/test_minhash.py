"""minhash_dedup on real text: labelled near-duplicates, natural duplicates, keep rules,
verification, and the same removals whatever the number of workers and shards."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
import pytest

import winnow
from tests.conftest import corpus_records, read_ledger, run_two_ways, write_jsonl
from tests.near_duplicates import jaccard, near_duplicate_set


def _removed(out: pa.Table) -> dict[str, str]:
    rows = zip(out.column("id").to_pylist(), out.column("duplicate_of").to_pylist())
    return {i: d for (i, d), k in zip(rows, out.column("keep").to_pylist()) if not k}


@pytest.fixture(scope="module")
def labelled():
    data = near_duplicate_set()
    out = winnow.apply_stage("minhash_dedup", pa.table({"id": data.ids, "text": data.texts}))
    return data, _removed(out)


def test_recall_precision_and_false_positives_on_labelled_pairs(labelled):
    data, removed = labelled
    similarity = np.array([j for _, _, j, _ in data.pairs])
    found = np.array([removed.get(copy) == original for original, copy, _, _ in data.pairs])
    assert (similarity >= 0.85).sum() > 300 and (similarity < 0.5).sum() > 100
    assert found[similarity >= 0.85].mean() >= 0.95  # measured 1.0
    assert found[similarity < 0.5].mean() <= 0.005  # measured 0.0
    pairs = {(copy, original) for original, copy, _, _ in data.pairs}
    wrong = sum((doc, dup) not in pairs for doc, dup in removed.items())
    true_dup = similarity >= 0.7  # the stage's verification threshold
    tp = int((found & true_dup).sum())
    precision = tp / (tp + int((found & ~true_dup).sum()) + wrong)
    recall = tp / int(true_dup.sum())
    f1 = 2 * precision * recall / (precision + recall)
    print(f"minhash_dedup: precision {precision:.3f} recall {recall:.3f} F1 {f1:.3f}")
    assert precision >= 0.98 and recall >= 0.9 and f1 >= 0.94  # measured 1.0, 0.957, 0.978


def test_natural_duplicates_across_listings_are_found():
    records = corpus_records("abstracts")
    table = pa.table({"id": [r["id"] for r in records], "text": [r["text"] for r in records]})
    out = winnow.apply_stage("minhash_dedup", table)
    removed = _removed(out)
    key = {r["id"]: r["meta"]["paper_key"] for r in records}
    repeats = len(key) - len(set(key.values()))
    assert repeats > 50
    assert len(removed) == repeats
    assert all(key[doc] == key[dup] for doc, dup in removed.items())
    copies = Counter(key.values())  # each removed document names its whole group's size
    sizes = dict(zip(out.column("id").to_pylist(), out.column("cluster_size").to_pylist()))
    assert all(sizes[doc] == copies[key[doc]] for doc in removed)


def _chain() -> list[str]:
    """A, then B = A with a tenth of its words replaced, then C = B with another tenth."""
    words = corpus_records("abstracts", limit=1)[0]["text"].split()
    b, c = list(words), None
    for i in range(0, len(b), 10):
        b[i] = f"x{i}"
    c = list(b)
    for i in range(5, len(c), 10):
        c[i] = f"y{i}"
    return [" ".join(words), " ".join(b), " ".join(c)]


def test_verification_stops_chains_of_merges():
    texts = _chain()
    assert jaccard(texts[0], texts[1]) < 0.7 or jaccard(texts[0], texts[2]) < 0.7
    table = pa.table({"id": ["a", "b", "c"], "text": texts})
    loose = winnow.apply_stage(
        "minhash_dedup", table, verify=False, bands=40, rows=2
    )  # many bands: A, B and C land in one component
    assert _removed(loose) == {"b": "a", "c": "a"}
    strict = _removed(winnow.apply_stage("minhash_dedup", table, bands=40, rows=2))
    for doc, dup in strict.items():
        assert jaccard(texts["abc".index(doc)], texts["abc".index(dup)]) >= 0.7


def test_keep_highest_score_column():
    text = corpus_records("abstracts", limit=1)[0]["text"]
    table = pa.table(
        {"id": ["a", "b", "c"], "text": [text, text + " Extra.", text], "q": [0.1, 0.9, None]}
    )
    out = winnow.apply_stage("minhash_dedup", table, keep_highest="q")
    assert _removed(out) == {"a": "b", "c": "b"}


def test_same_removals_whatever_workers_and_shards(tmp_path):
    data = near_duplicate_set(seed=1)
    records = [{"id": i, "text": t} for i, t in zip(data.ids, data.texts)]
    files = [write_jsonl(tmp_path / f"in{k}.jsonl", records[k::3]) for k in range(3)]
    outputs = run_two_ways(tmp_path, files, [{"minhash_dedup": {}}])
    results = [sorted((r["id"], r["duplicate_of"]) for r in read_ledger(o)) for o in outputs]
    assert results[0] == results[1] and len(results[0]) > 300


def test_same_removals_whatever_shuffle_partitions_and_verify_slices(labelled, monkeypatch):
    """The reduce's tasks (one per key partition, one per slice of components) may be cut
    any way: ~100 partitions and 5-document slices give the default's removals."""
    from winnow.stages.dedup import components, shuffle

    data, removed = labelled
    monkeypatch.setattr(shuffle, "PARTITION_KEYS", 200)
    monkeypatch.setattr(components, "VERIFY_DOCS", 5)
    table = pa.table({"id": data.ids, "text": data.texts})
    assert _removed(winnow.apply_stage("minhash_dedup", table)) == removed
    assert len(removed) > 300
    exact = winnow.apply_stage("exact_dedup", table)
    assert not all(exact.column("keep").to_pylist())  # 137 exact copies among them
    monkeypatch.setattr(shuffle, "PARTITION_KEYS", 4_000_000)
    assert exact.equals(winnow.apply_stage("exact_dedup", table))


def test_collisions_join_every_document_sharing_a_band_key_even_when_keys_repeat_across_bands():
    """Bucket edges come from one sort of the keys, or a sort by band and key when a key
    value appears in two bands: either way the documents sharing a (band, key) end up in
    one component, and none other are joined."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from winnow.stages.dedup.components import _adjacent_collisions

    rng = np.random.default_rng(0)
    for repeat_across_bands in (False, True):
        n = 2_000
        band = rng.integers(0, 4, n).astype(np.int16)
        key = rng.integers(0, 300, n).astype(np.uint64)
        if not repeat_across_bands:
            key = key * np.uint64(8) + band.astype(np.uint64)  # each key value in one band
        doc = rng.permutation(n).astype(np.int64)
        u, v = _adjacent_collisions(band, key, doc)
        graph = coo_matrix((np.ones(len(u)), (u, v)), (n, n))
        labels = connected_components(graph, directed=False)[1]
        groups: dict = {}
        for b, k, d in zip(band.tolist(), key.tolist(), doc.tolist()):
            groups.setdefault((b, k), []).append(d)
        edges = [(g[0], x) for g in groups.values() for x in g[1:]]
        a, c = (np.array([e[i] for e in edges]) for i in range(2))
        expected = connected_components(coo_matrix((np.ones(len(a)), (a, c)), (n, n)),
                                        directed=False)[1]  # fmt: skip
        same = labels[:, None] == labels[None, :]
        assert (same == (expected[:, None] == expected[None, :])).all()


def _verified_by_rule(chunk, bounds, sets, keys, fixed, threshold, max_compared):
    """The verification rule as stated (``components._verify``), one document at a time: in
    keep order, a document (not a fixed one) is compared with the kept documents that share
    a (band, key) with it, each listed by at most ``max_compared`` slots' first kept ones,
    first kept first, at most ``max_compared``; the first similar one is what it duplicates."""
    removed = {}
    for g in range(len(bounds) - 1):
        listed: dict[tuple[int, int], list[int]] = {}
        for i in range(bounds[g], bounds[g + 1]):
            slots = [(b, int(k)) for b, k in enumerate(keys[i])]
            match = None
            if chunk[i] >= fixed:
                kept = sorted({k for s in slots for k in listed.get(s, [])})[:max_compared]
                a = sets[i]
                similar = (k for k in kept if len(a & sets[k]) >= threshold * len(a | sets[k]))
                match = next(similar, None)
            if match is not None:
                removed[int(chunk[i])] = int(chunk[match])
                continue
            for s in slots:
                if len(listed.setdefault(s, [])) < max_compared:
                    listed[s].append(i)
    return removed


def test_verification_kernel_follows_its_rule_in_small_and_large_components(labelled):
    """Components of up to 100 documents compare band keys side by side, larger ones go
    through per-slot lists of kept documents, and a pair is rejected early when its sets,
    counted in value ranges, cannot share enough: each way, the removals are the rule's, on
    real abstracts and their edited copies (similarities around the threshold)."""
    from winnow.stages.dedup.components import MAX_KEPT_COMPARED, _band_slots, _verify
    from winnow.stages.dedup.minhash import MinHashDedup, set_members
    from winnow.stages.dedup.shingles import distinct_sorted, shingle_hashes

    data, _ = labelled
    n = 150  # originals 0..n-1 and their copies, side by side
    texts = [t for pair in zip(data.texts[:n], data.texts[-len(data.pairs) :][:n]) for t in pair]
    batch = pa.record_batch([pa.array(texts, pa.large_string())], names=["text"])
    mapped = MinHashDedup().map(batch)
    keys = np.stack([mapped[f"_mh_band{b}"].to_numpy() for b in range(14)], axis=1)
    shingles = shingle_hashes(batch.column("text"), 5)
    members, offsets = distinct_sorted(
        set_members(shingles.hashes), shingles.offsets, np.arange(len(texts))
    )
    sets = [set(members[offsets[d] : offsets[d + 1]].tolist()) for d in range(len(texts))]
    chunk = np.arange(len(texts), dtype=np.int64) + 1_000
    for bounds, fixed in (
        ([0, len(texts)], 0),  # one component of 300: per-slot lists
        ([0, len(texts)], 1_010),  # its first ten documents a reference's, kept whatever
        (list(range(0, len(texts) + 1, 2)), 0),  # pairs: band keys side by side
        ([0, 60, 160, 300], 1_000),  # 60 and 100 documents side by side, 140 through lists
    ):
        bounds = np.array(bounds, dtype=np.int64)
        sizes = np.diff(bounds)
        large = np.repeat(sizes > MAX_KEPT_COMPARED, sizes)
        slots, capacity = _band_slots(keys[large])
        removed, kept_for = _verify(
            chunk, bounds, members, offsets[:-1], offsets[1:], keys, slots,
            np.cumsum(large) - 1, capacity, fixed, 0.7, MAX_KEPT_COMPARED,
        )  # fmt: skip
        rule = _verified_by_rule(chunk, bounds, sets, keys, fixed, 0.7, MAX_KEPT_COMPARED)
        assert dict(zip(removed.tolist(), kept_for.tolist())) == rule
        assert 40 < len(rule) < n  # some copies are near enough, some are not
        assert all(doc >= fixed for doc in rule)
