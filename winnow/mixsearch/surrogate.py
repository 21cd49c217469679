"""Mixtures and what predicts their loss: seeded Dirichlet samples under the epoch cap, the
RegMix regression (Liu et al. 2024), a Gaussian process with expected improvement
(ADMIRE-BayesOpt, 2025) and a linear datamodel of each group's effect (Ilyas et al. 2022)."""

from __future__ import annotations

import warnings

import numpy as np
from scipy.stats import norm, spearmanr


def within_cap(weights: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """Each row moved onto the simplex under ``cap`` (a group's largest share): the excess of
    capped groups goes to the others in proportion, until none exceeds its cap."""
    w = np.array(weights, dtype=np.float64, ndmin=2)
    for _ in range(len(cap) + 1):
        over = w > cap
        if not over.any():
            break
        excess = np.where(over, w - cap, 0).sum(axis=1, keepdims=True)
        w = np.minimum(w, cap)
        room = np.where(w < cap, w + 1e-12, 0)
        w = w + excess * room / np.maximum(room.sum(axis=1, keepdims=True), 1e-12)
    return w / w.sum(axis=1, keepdims=True)


def sample_mixtures(n: int, cap: np.ndarray, alpha: float, rng) -> np.ndarray:
    """``n`` mixtures from a Dirichlet(``alpha``), each within the cap."""
    return within_cap(rng.dirichlet(np.full(len(cap), alpha), size=n), cap)


class RegMix:
    """Target loss as a linear function of the mixture weights (RegMix's linear regression;
    with few runs a linear model is the one that does not overfit)."""

    def fit(self, weights: np.ndarray, loss: np.ndarray) -> RegMix:
        from sklearn.linear_model import Ridge

        self.model = Ridge(alpha=1e-4, fit_intercept=False).fit(weights, loss)
        return self

    def predict(self, weights: np.ndarray) -> np.ndarray:
        return self.model.predict(np.atleast_2d(weights))


class GaussianProcess:
    """A Gaussian process over the weights (Matérn 5/2 plus noise, standardised losses)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def fit(self, weights: np.ndarray, loss: np.ndarray) -> GaussianProcess:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

        kernel = ConstantKernel(1.0) * Matern(length_scale=0.5, nu=2.5) + WhiteKernel(1e-3)
        self.model = GaussianProcessRegressor(kernel, normalize_y=True, random_state=self.seed,
                                              n_restarts_optimizer=2)  # fmt: skip
        with warnings.catch_warnings():  # a noise level at its bound: the runs are exact
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.model.fit(weights, loss)
        return self

    def predict(self, weights: np.ndarray, std: bool = False):
        return self.model.predict(np.atleast_2d(weights), return_std=std)

    def expected_improvement(self, weights: np.ndarray, best: float) -> np.ndarray:
        mean, sd = self.predict(weights, std=True)
        sd = np.maximum(sd, 1e-9)
        z = (best - mean) / sd
        return (best - mean) * norm.cdf(z) + sd * norm.pdf(z)


def propose(surrogate, candidates: np.ndarray, top: int = 100) -> np.ndarray:
    """The mean of the ``top`` candidates with the lowest predicted loss (RegMix averages the
    best predicted mixtures rather than trusting one point); within the cap when they are."""
    predicted = surrogate.predict(candidates)
    best = np.argsort(predicted, kind="stable")[:top]
    return candidates[best].mean(axis=0)


def rank_agreement(predicted: np.ndarray, measured: np.ndarray) -> float:
    """Spearman's rank correlation (NaN with fewer than three points)."""
    if len(measured) < 3:
        return float("nan")
    return float(spearmanr(predicted, measured).statistic)


def datamodel(weights: np.ndarray, loss: np.ndarray, names: list[str], held: np.ndarray,
              seed: int, boots: int = 1000) -> dict:  # fmt: skip
    """A linear datamodel of target loss on the weights: each group's effect is its
    coefficient minus the mean coefficient (the change in loss from moving weight to that
    group from all evenly; negative helps the target), with a bootstrap 95% interval over the
    fitting runs, and the fit's held-out R² and Spearman."""
    fit = ~held
    coef = _least_squares(weights[fit], loss[fit])
    rng = np.random.Generator(np.random.PCG64(seed))
    rows = np.nonzero(fit)[0]
    draws = []
    for _ in range(boots):
        pick = rng.choice(rows, size=len(rows), replace=True)
        draws.append(_least_squares(weights[pick], loss[pick]))
    effects = np.array(draws) - np.array(draws).mean(axis=1, keepdims=True)
    low, high = np.percentile(effects, [2.5, 97.5], axis=0)
    predicted = weights[held] @ coef
    residual = ((loss[held] - predicted) ** 2).sum()
    total = ((loss[held] - loss[held].mean()) ** 2).sum()
    return {
        "effects": {n: {"effect": float(c - coef.mean()), "low": float(lo), "high": float(hi)}
                    for n, c, lo, hi in zip(names, coef, low, high)},  # fmt: skip
        "held_out_r2": float(1 - residual / total) if total > 0 else float("nan"),
        "held_out_spearman": rank_agreement(predicted, loss[held]),
    }


def _least_squares(weights: np.ndarray, loss: np.ndarray) -> np.ndarray:
    return np.linalg.lstsq(weights, loss, rcond=None)[0]
