"""`simkit infer --method smc` (the default): sequential Monte Carlo ABC in independent runs.

1. The prior reference table (fit.run_inference's store, `--reps` studies) is cut into `runs`
   disjoint parts (replicate k to part k mod runs; every study has its own registry, so the parts
   are independent).  The evidence numbers no world reaches and each summary's scale come from the
   whole table; each part fits its own semi-automatic projection (abc.fit_projection) and starts its
   own SMC run from its `particles` closest studies (rejection ABC, generation 0).
2. Each run is adaptive SMC-ABC (simkit.inference.smc: Del Moral et al. 2012, Drovandi & Pettitt
   2011) on the distance of its projection.  The runs advance in lockstep: one step's proposals of
   every run are simulated by one Monte Carlo job into OUT/smc/step-NNN.zarr (resumable: a rerun
   proposes the same particles, finds the steps already stored and computes only what is missing).
3. Each run's last population, with Epanechnikov weights of its distances, is regression-adjusted
   (abc.regression_adjust on the projections' gaps) as the rejection posterior is.  The posterior is
   the runs' pooled particles (each run's weights summing to 1 / runs); its Monte Carlo error is the
   spread of the runs' own answers: the SD over runs / sqrt(runs), which holds every source of Monte
   Carlo variation (the reference table's part, the projection fitted on it, the tolerances, the
   SMC's own draws).
4. Posterior predictive checks from `PREDICTIVE_DRAWS` fresh studies simulated at draws of the
   posterior (OUT/smc/predictive.zarr): per reported number p = 2 min(P(x <= high), P(x >= low)).
"""
from __future__ import annotations

import functools
import hashlib
import math
import sys
import time
from pathlib import Path

import numpy as np

from simkit.errors import InputError
from simkit.inference import abc, smc

DEFAULT_RUNS = 4
DEFAULT_PARTICLES = 1000         # per run
DEFAULT_BUDGET = 80_000          # SMC simulations after the reference table, all runs together
ALPHA = 0.5                      # each tolerance: the median distance of the last population
MIN_RATE = 0.03                  # stop after a generation whose moves accept fewer than this
PREDICTIVE_DRAWS = 500


def compute_particles(thetas, peeks, dvec, seed, condition, start, stop):
    """`montecarlo.Job.compute` of a step: the studies of given worlds (thetas (B, N_THETA)) and peeks."""
    from simkit.kernels import replicate as R
    out = np.empty((stop - start, R.N_OUT))
    R.run_chunk(np.ascontiguousarray(thetas[start:stop]), dvec, np.uint64(seed), np.uint64(0), np.int64(start),
                np.int64(stop), out, np.ascontiguousarray(peeks[start:stop]) if peeks.size else peeks)
    return out


class Simulator:
    """Studies at given parameter values: the study's world and design, each study its own registry."""

    def __init__(self, study, params, out: Path, jobs, progress):
        from simkit.design.replicate import seconds_per_replicate
        from simkit.kernels import replicate as R
        self.study, self.params, self.out, self.jobs, self.progress = study, params, out, jobs, progress
        sc = study.conditions[0].scenario
        design = study.design(0)
        if design.pool_policy != "replicate":
            raise InputError("--method smc", "every simulated study needs its own registry (pool_policy = "
                                             "'replicate'): a particle's registry-side parameters are its own")
        self.dvec = design.vector()
        self.theta = sc.theta().copy()
        self.fixed_peek = None
        for p in study.priors.items:
            if p.dist == "fixed":
                if p.section == "design":
                    self.fixed_peek = float(p.args[0])
                else:
                    self.theta[p.index] = p.args[0]
        self.items = {p.name: p for p in study.priors.items}
        self.spr = seconds_per_replicate(design)
        self.n_out = R.N_OUT
        self.seconds = 0.0
        self.n_simulated = 0
        self.chunks_computed = 0

    def values(self, Z: np.ndarray) -> np.ndarray:
        """Particles on the real line -> parameter values (B, p)."""
        return np.column_stack([abc.from_unbounded(Z[:, i], q.lo, q.hi, q.log) for i, q in enumerate(self.params)])

    def run(self, name: str, X: np.ndarray, seed: int, fields) -> dict:
        """Simulate the parameter values X (B, p) into OUT/smc/NAME.zarr; return {field: f8[B]}."""
        from simkit.design.replicate import OUT_FIELDS, preload
        from simkit.kernels import outputs as OUT
        from simkit.runner.montecarlo import Job, run as mc_run
        from simkit.runner.store import read_fields
        b = X.shape[0]
        thetas = np.repeat(self.theta[None, :], b, axis=0)
        peeks = np.empty(0)
        for i, q in enumerate(self.params):
            pr = self.items[q.name]
            if q.section == "design":
                peeks = np.floor(X[:, i]) if pr.dist.startswith("integer_") else X[:, i].copy()
            else:
                thetas[:, pr.index] = X[:, i]
        if peeks.size == 0 and self.fixed_peek is not None:
            peeks = np.full(b, self.fixed_peek)
        digest = hashlib.sha256(self.study.scenario_hash().encode() + np.ascontiguousarray(X).tobytes()
                                + str(seed).encode()).hexdigest()[:16]
        pfields = tuple(f"particle_{q.name}" for q in self.params)
        job = Job(scenario_hash=digest, n_conditions=1, n_replicates=b, chunk_size=min(250, b),
                  fields=tuple(OUT_FIELDS) + pfields, int_fields=OUT.INT_NAMES,
                  compute=functools.partial(_with_values, functools.partial(
                      compute_particles, thetas, peeks, self.dvec, int(seed)), X),
                  condition_coords={}, grid_dims=None,
                  attrs={"what": f"simkit infer SMC simulations ({name})", "seed": int(seed),
                         "scenario_text": self.study.text},
                  field_attrs={f: {"long_name": f"{q.name} of the simulated particle", "units": ""}
                               for f, q in zip(pfields, self.params)},
                  seconds_per_replicate=self.spr, worker_setup=preload)
        t0 = time.perf_counter()
        path = self.out / f"{name}.zarr"
        try:
            info = mc_run(job, path, jobs=self.jobs, progress=self.progress)
        except InputError as e:
            raise InputError(e.where, e.message + f" (remove {path} if the inference's settings changed)") from None
        self.seconds += time.perf_counter() - t0
        self.chunks_computed += info.n_chunks_computed
        self.n_simulated += b
        _, data = read_fields(path, list(fields))
        return {k: v[0] for k, v in data.items()}


def _with_values(compute, X, condition, start, stop):
    rows = compute(condition, start, stop)
    return np.column_stack([rows, X[start:stop]])


def _seed(*parts) -> int:
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1, np.uint64)[0] >> np.uint64(1))


def _final(pop: smc.Population, P: np.ndarray, pr: abc.Projection, params, adjust: bool = True):
    """A run's posterior: (values (N, p), weights) of its last population, regression-adjusted with
    Epanechnikov weights of the distances."""
    w = abc.epanechnikov(pop.d, pop.eps)
    if w.sum() <= 0:
        w = np.ones(pop.d.size)
    w = w / w.sum()
    z = pop.z
    if adjust:
        lo_t, hi_t = abc.reachable_target(P, pr.p_obs, pr.p_obs)
        g = abc.gaps(P, lo_t, hi_t) / pr.pscale
        z = abc.regression_adjust(z, g, w)
    X = np.column_stack([abc.from_unbounded(z[:, i], q.lo, q.hi, q.log) for i, q in enumerate(params)])
    return X, w


def infer(paper, study, fields, groups, out: Path, *, runs=DEFAULT_RUNS, particles=DEFAULT_PARTICLES,
          budget=DEFAULT_BUDGET, jobs=None, progress=None, seed=None, predictive=PREDICTIVE_DRAWS,
          log=None) -> dict:
    """The SMC posterior (see the module's doc) from the reference table's fields."""
    from simkit.inference import fit
    log = log or (lambda m: print(m, file=sys.stderr, flush=True))
    quiet = progress is False
    priors = study.priors
    tab = fit.table_of(paper, priors, fields)
    params, names, theta, S, numbers, scale, zall = (tab.params, tab.names, tab.theta, tab.S, tab.numbers,
                                                     tab.scale, tab.z)
    seed = study.seed if seed is None else seed
    n_table = theta.shape[0]
    if n_table < runs * particles * 2:
        raise InputError("--reps", f"the reference table ({n_table:,} studies) must hold at least twice "
                                   f"runs x particles = {2 * runs * particles:,}")
    log_prior = fit.log_prior_unbounded(params, priors)
    sim = Simulator(study, params, out / "smc", jobs, None if not quiet else False)
    (out / "smc").mkdir(parents=True, exist_ok=True)
    need = sorted({n.field for n in paper.numbers.values()})
    projections, gens = [], []
    for j in range(runs):
        part = np.arange(j, n_table, runs)
        pr = abc.fit_projection(S.s[part], S.low, S.high, scale, zall[part])
        P0 = pr(S.s[part])
        d = abc.distances(P0, pr.p_obs, pr.p_obs, pr.pscale)
        pop0 = smc.first_population(zall[part], d, particles, P0)
        projections.append(pr)
        gens.append(smc.run(pop0, log_prior, seed=_seed(seed, 1, j), alpha=ALPHA, min_rate=MIN_RATE,
                            budget=budget // runs))
    # lockstep: every active run's next proposals in one job
    pending = {}
    results = [None] * runs
    for j, g in enumerate(gens):
        try:
            pending[j] = next(g)
        except StopIteration as stop:
            results[j] = stop.value
    step = 0
    t0 = time.perf_counter()
    while pending:
        order = sorted(pending)
        Zs = [pending[j][2] for j in order]
        X = sim.values(np.concatenate(Zs))
        f = sim.run(f"step-{step:03d}", X, _seed(seed, 2, step), need)
        s_new = fit.summaries(numbers, f, S.caps).s
        at = 0
        for j, Z in zip(order, Zs):
            b = Z.shape[0]
            Pj = projections[j](s_new[at:at + b])
            dj = abc.distances(Pj, projections[j].p_obs, projections[j].p_obs, projections[j].pscale)
            at += b
            try:
                pending[j] = gens[j].send((dj, Pj))
            except StopIteration as stop:
                results[j] = stop.value
                del pending[j]
        step += 1
        if not quiet:
            el = time.perf_counter() - t0
            per = el / max(sim.n_simulated, 1)
            left = max(budget - sim.n_simulated, 0) * per
            log(f"simkit infer: SMC step {step}: {X.shape[0]:,} studies simulated ({sim.n_simulated:,} so far, "
                f"budget {budget:,}); generations {', '.join(str(pending[j][0]) for j in sorted(pending)) or '-'} "
                f"of the runs still going; {el:.0f} s, at most about {left:.0f} s left")
    # each run's last population with its proposals' projections
    finals, per_run = [], []
    ih = names.index("hr")
    for j in range(runs):
        pops = results[j]
        last = pops[-1]
        Xj, wj = _final(last, last.extra, projections[j], params)
        finals.append((Xj, wj))
        q = abc.weighted_quantile(np.log(Xj[:, ih]), wj, [0.5, 0.05, 0.95])
        per_run.append({"generations": len(pops) - 1, "eps": [p.eps for p in pops],
                        "acceptance": [p.acceptance for p in pops], "unique_particles": last.unique,
                        "ess": abc.ess(wj),
                        "simulations": int(sum(p.n_proposed for p in pops[1:])),
                        "true_hr": {"median": float(np.exp(q[0])), "low": float(np.exp(q[1])),
                                    "high": float(np.exp(q[2]))},
                        "p_true_hr_ge_0_9": float(np.sum(wj * (Xj[:, ih] >= fit.HR_NULL)))})
    X = np.concatenate([x for x, _ in finals])
    W = np.concatenate([w / w.sum() / runs for _, w in finals])
    res = {"paper": paper.citation, "method": fit.METHOD_TEXT["smc"],
           "n_simulations": n_table + sim.n_simulated, "n_reference": n_table,
           "n_valid": int(np.all(np.isfinite(S.s), axis=1).sum()), "n_accepted": int(X.shape[0]),
           "acceptance_rate": float(np.mean([r["acceptance"][-1] for r in per_run])),
           "eps": float(np.mean([r["eps"][-1] for r in per_run])), "ess": abc.ess(W),
           "true_hr": fit._three(X[:, ih], W),
           "p_true_hr_ge_0_9": float(np.sum(W * (X[:, ih] >= fit.HR_NULL))),
           "prior_p_true_hr_ge_0_9": float(np.mean(theta[:, ih] >= fit.HR_NULL)),
           "mechanisms": {}, "world": {}, "prior": {},
           "unreachable_evidence": tab.unreachable, "warnings": []}
    # the baseline on the whole table: rejection ABC (closest 5%, the semi-automatic distance, no adjustment)
    idx = fit.fill_parameters(res, params, theta, S, lambda j: (X[:, j], W))
    res["mcse"] = fit.spread_mcse(per_run, "runs")
    res["smc"] = {"runs": per_run, "particles_per_run": particles, "budget": budget, "alpha": ALPHA,
                  "min_acceptance": MIN_RATE, "steps": step, "simulations_after_table": sim.n_simulated,
                  "seconds_simulating": sim.seconds, "chunks_computed": sim.chunks_computed}
    if min(r["generations"] for r in per_run) < 2:
        res["warnings"].append("an SMC run stopped after fewer than 2 generations (its budget): raise --budget")
    res["summaries"] = [{"name": n.name, "field": n.field, "interval": [n.low, n.high], "transform": n.transform,
                         "scale_of_distance": float(s_)} for n, s_ in zip(numbers, scale)]
    if predictive:
        res["predictive_checks"], res["predictive_draws"] = predictive_checks(paper, sim, X, W, predictive,
                                                                              _seed(seed, 3), need)
    else:
        res["predictive_checks"], res["predictive_draws"] = {}, 0
    res["_samples"] = {"names": names, "adjusted": X, "weights": W,
                       "accepted_prior": theta[idx], "prior": theta}
    return res


def predictive_checks(paper, sim: Simulator, X, W, m: int, seed: int, need) -> tuple[dict, int]:
    """p-values of every reported number against m fresh studies at draws of the posterior."""
    from simkit.inference import fit
    rng = np.random.default_rng(seed)
    pick = rng.choice(X.shape[0], size=m, p=W / W.sum())
    f = sim.run("predictive", X[pick], _seed(seed, 4), need)
    out = {}
    ones = np.ones(m)
    for name, n in paper.numbers.items():
        if n.field not in f:
            continue
        x = n.scale * np.asarray(f[n.field], float)
        if n.field in fit.MEDIAN_FIELDS:
            x = np.where(np.isnan(x), math.inf, x)      # not reached: beyond any finite median
        out[name] = abc.predictive_p(x, ones, n.low, n.high)
    return out, m
