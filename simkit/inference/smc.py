"""Sequential Monte Carlo ABC on arrays: the adaptive SMC-ABC of Del Moral, Doucet & Jasra (2012) with
one simulation per particle, in the replenishment form of Drovandi & Pettitt (2011).

Parameters live on the real line (z: the logit of each prior's support, simkit.inference.abc's
transforms), with the prior's density there (`log_prior`).  A population is N particles z_i, equally
weighted, each with the distance d_i of its simulation, all below the tolerance.  A generation:

1. the next tolerance eps' is the alpha-quantile of the d_i (Del Moral et al.'s adaptive rule: the
   share of particles alive, their effective sample size, falls by alpha);
2. the particles with d_i >= eps' are dropped and replaced by copies of survivors drawn uniformly;
3. each copy makes R Metropolis-Hastings moves targeting the ABC posterior at eps': propose
   z* = z + e, e ~ N(0, (2.38^2 / p) Cov(survivors)), simulate, accept with probability
   min(1, prior(z*) / prior(z)) if d* < eps' (else reject); R = ceil(log(c) / log(1 - a)) with a the
   last generation's acceptance rate, so that a copy moves at least once with probability 1 - c
   (c = 0.1), at most R_MAX.

Weights stay equal: the random walk is symmetric and the ABC likelihood an indicator, so no kernel
density estimate enters (the importance weights of ABC-PMC, prior / mixture of kernels, degenerate with
16 parameters: an effective sample size of 4 of 1,000 even when the target is the prior itself).  It
stops when a generation's moves accept fewer than `min_rate` of their proposals or the next generation
could exceed the simulation budget.

`run` is a generator so that a caller can advance several independent runs in lockstep and hand
their proposals to one simulation job: it yields (generation, move, Z) and is sent back the
distances of Z's simulations (or (distances, extra): rows kept with the particles that accept them);
its return value (StopIteration.value) is the list of populations. Every random number comes from
numpy Generators seeded by (seed, generation, move), so a run is a pure function of its seed and the
distances it is sent: a run redone from stored simulations proposes the same particles.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Population:
    z: np.ndarray          # (N, p) particles on the real line (equally weighted)
    d: np.ndarray          # (N,) the distances of their simulations, all below eps (<= for generation 0)
    eps: float
    generation: int
    n_proposed: int        # simulations this generation cost
    acceptance: float      # share of its moves accepted (generation 0: the share of the table kept)
    extra: np.ndarray      # (N, k) what the caller sent with each particle's distance (e.g. its projections)

    @property
    def unique(self) -> int:
        return int(np.unique(self.z, axis=0).shape[0])


R_MAX = 8
C_MOVE = 0.1


def weighted_cov(z: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The weighted covariance sum_i w_i (z_i - m)(z_i - m)^T / (1 - sum w_i^2) (w summing to 1)."""
    w = w / w.sum()
    m = w @ z
    c = (z - m).T @ ((z - m) * w[:, None])
    den = 1.0 - float(np.sum(w * w))
    return c / den if den > 0 else c


def mh_accept(log_prior_new, log_prior_old, d_new, eps, u) -> np.ndarray:
    """The moves accepted: d* < eps and u < prior(z*) / prior(z) (u uniform on [0, 1))."""
    with np.errstate(over="ignore"):
        ratio = np.exp(np.minimum(log_prior_new - log_prior_old, 0.0))
    return np.isfinite(d_new) & (d_new < eps) & (u < ratio)


def first_population(z: np.ndarray, d: np.ndarray, n: int, extra: np.ndarray | None = None) -> Population:
    """Generation 0 from simulations of the prior: the n closest (rejection ABC); extra (len(z), k): kept
    with each particle."""
    ok = np.flatnonzero(np.isfinite(d))
    if ok.size < n:
        raise ValueError(f"only {ok.size} prior simulations have every summary; {n} particles are needed")
    order = ok[np.argsort(d[ok], kind="stable")[:n]]
    ex = np.zeros((z.shape[0], 0)) if extra is None else extra
    return Population(z[order], d[order], float(d[order[-1]]), 0, int(z.shape[0]), n / z.shape[0], ex[order])


def moves_for(acceptance: float) -> int:
    a = min(max(acceptance, 1e-6), 1 - 1e-9)
    return int(min(R_MAX, max(1, math.ceil(math.log(C_MOVE) / math.log(1.0 - a)))))


def run(pop0: Population, log_prior, seed: int, alpha: float = 0.5, min_rate: float = 0.03,
        max_generations: int = 30, budget: int = 100_000):
    """The SMC generations after pop0 (a generator; see the module's doc).  Yields (generation, move, Z)
    and receives the distances of Z's simulations.  Returns the list of populations, pop0 first."""
    pops = [pop0]
    used = 0
    n, p = pop0.z.shape
    acc = 0.3 if pop0.generation == 0 else pop0.acceptance
    for g in range(1, max_generations + 1):
        prev = pops[-1]
        if g > 1 and prev.acceptance < min_rate:
            break
        eps = float(np.quantile(prev.d, alpha))
        alive = np.flatnonzero(prev.d < eps)
        if alive.size < 2 or not eps < prev.eps:
            break
        R = moves_for(acc)
        n_new = n - alive.size
        if used + R * n_new > budget:
            break
        rng = np.random.default_rng([int(seed), g, 0])
        src = alive[rng.integers(0, alive.size, n_new)]
        z = np.concatenate([prev.z[alive], prev.z[src]])
        d = np.concatenate([prev.d[alive], prev.d[src]])
        extra = np.concatenate([prev.extra[alive], prev.extra[src]])
        cov = weighted_cov(prev.z[alive], np.full(alive.size, 1.0 / alive.size)) * (2.38 ** 2 / p)
        cov[np.diag_indices(p)] += 1e-12 * (1.0 + np.diag(cov))
        L = np.linalg.cholesky(cov)
        moving = np.arange(alive.size, n)
        lp = log_prior(z[moving])
        n_acc = 0
        for r in range(R):
            rng = np.random.default_rng([int(seed), g, r + 1])
            Z = z[moving] + rng.standard_normal((moving.size, p)) @ L.T
            u = rng.random(moving.size)
            back = yield g, r, Z
            dn, ex = (back if isinstance(back, tuple) else (back, np.zeros((moving.size, extra.shape[1]))))
            dn = np.asarray(dn, float)
            lpn = log_prior(Z)
            ok = mh_accept(lpn, lp, dn, eps, u)
            z[moving[ok]] = Z[ok]
            d[moving[ok]] = dn[ok]
            lp[ok] = lpn[ok]
            extra[moving[ok]] = ex[ok]
            n_acc += int(ok.sum())
            used += moving.size
        acc = n_acc / (R * moving.size)
        pops.append(Population(z, d, eps, g, R * moving.size, acc, extra))
    return pops


def drive(gen, simulate):
    """Run one SMC generator to its end with a direct simulator: simulate(generation, move, Z) -> d."""
    try:
        g, r, Z = next(gen)
        while True:
            g, r, Z = gen.send(simulate(g, r, Z))
    except StopIteration as stop:
        return stop.value
