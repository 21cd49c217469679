"""Stages with a language model in the loop: ``annotate``, ``distil``, ``rewrite``,
``prox``, ``generate`` (requests through the ``llm:`` block) and ``lm_score`` (a local causal
model's token probabilities)."""
