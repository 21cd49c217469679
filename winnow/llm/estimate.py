"""``winnow run --dry-run``: what a recipe's language-model stages will ask for, before any
request: requests, prompt tokens (characters / 4) and at most how many completion tokens,
from the input documents. Upper bounds where earlier stages remove documents first; cached
answers are not counted out (a rerun sends none of them)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow.compute as pc

from winnow.engine.plan import build_stages
from winnow.io.inputs import group_shards
from winnow.io.read import read_shard
from winnow.recipe import ResolvedRecipe
from winnow.stages.llm.requests import RequestStage, request_costs, within_budget


def input_lengths(recipe: ResolvedRecipe) -> np.ndarray:
    """The character length of every input document's text, in corpus order."""
    parts = []
    target = int(recipe.read.shard_mb * (1 << 20))
    for files in group_shards(list(recipe.files), target):
        for batch, _ in read_shard(list(files), recipe.read.batch_docs, skipped=Counter()):
            if batch is not None:
                parts.append(pc.utf8_length(batch.column("text")).to_numpy(zero_copy_only=False))
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def estimate(recipe: ResolvedRecipe) -> dict:
    """Per language-model stage: documents asked about, requests, prompt tokens and the
    completion tokens ``llm.max_tokens`` allows."""
    lengths = input_lengths(recipe)
    stages = build_stages([s.to_dict() for s in recipe.stages])
    out = []
    for index, stage in enumerate(stages, start=1):
        if not isinstance(stage, RequestStage):
            continue
        p = stage.params
        template = stage.template()
        sizes = np.minimum(lengths, template.max_doc_chars)
        sample = getattr(p, "sample", None)
        if sample is not None and len(sizes) > sample:
            sizes = np.full(sample, sizes.mean())
        cost = request_costs(template, sizes, p.llm.max_tokens, len(sizes))
        asked = within_budget(cost, p.max_requests, p.max_tokens)
        prompt = cost[:asked] - p.llm.max_tokens
        out.append(
            {
                "stage": f"{index:02d}-{stage.name}",
                "model": p.llm.model,
                "backend": "local" if p.llm.local else p.llm.base_url,
                "template": template.tag,
                "requests": asked,
                "prompt_tokens": int(round(prompt.sum())),
                "max_completion_tokens": asked * p.llm.max_tokens,
                "upper_bound": index > 1 or bool(getattr(p, "only_removed_by", None)),
            }
        )
    return {"input_docs": int(len(lengths)), "stages": out}
