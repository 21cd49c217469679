"""Mixture search with proxy models: ``winnow mixsearch``."""

from winnow.mixsearch.search import mixsearch
from winnow.mixsearch.spec import MixSearchSpec, load_mixsearch_spec

__all__ = ["MixSearchSpec", "load_mixsearch_spec", "mixsearch"]
