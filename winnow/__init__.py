"""winnow: curated, deduplicated, accounted-for training data for language models."""

from winnow.api import apply_stage, estimate, make_stage, run
from winnow.engine.local import RunFailed, RunResult
from winnow.recipe import RecipeError, load_recipe

__all__ = [
    "RecipeError",
    "RunFailed",
    "RunResult",
    "apply_stage",
    "estimate",
    "load_recipe",
    "make_stage",
    "run",
]
__version__ = "0.1.0"
