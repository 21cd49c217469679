"""Seeded k-means over document embeddings, fitted on an evenly spaced sample."""

from __future__ import annotations

import numpy as np

SAMPLE = 50_000
"""Documents k-means (and semantic dedup's SVD) are fitted on, evenly spaced over the corpus."""


def even_sample(total: int) -> np.ndarray:
    return np.unique(np.linspace(0, total - 1, min(total, SAMPLE)).astype(np.int64))


def kmeans(vectors: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.cluster import KMeans

    model = KMeans(n_clusters=k, n_init=1, max_iter=100, random_state=seed)
    model.fit(vectors[even_sample(len(vectors))])
    labels = np.concatenate(
        [model.predict(vectors[i : i + 100_000]) for i in range(0, len(vectors), 100_000)]
    )
    return labels.astype(np.int64), model.cluster_centers_.astype(np.float32)
