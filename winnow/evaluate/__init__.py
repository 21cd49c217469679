"""Proxy-model evaluation of candidate datasets: ``winnow evaluate``."""

from winnow.evaluate.run import EvaluateSpec, evaluate, load_spec

__all__ = ["EvaluateSpec", "evaluate", "load_spec"]
