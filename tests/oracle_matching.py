"""The naive matching route, the slow twin of `simkit.kernels.matching.match_prepared*`.

Plain Python: greedy policies bucket the unsorted pool by stratum (a counting sort)
and scan the treated patient's bucket, pool index ascending, with none of the fast
path's sorted windows, bisection or stratum offsets; OPTIMAL sorts the pool and calls
the kernel (tested on its own against brute force and scipy).  It was the package's
`match` kernel, used only by tests; test_matching.py also checks it against the
straightforward loops of `twin_greedy`.
"""
import numpy as np

from simkit.kernels.matching import (CHOICE_STREAM, FIRST, HARDEST_FIRST, NEAREST, OPTIMAL, RANDOM,
                                     SLACK, _visit_order, match_prepared, prepare_pool)
from simkit.kernels.rng import derive, uniform


def _match_scan(t_stratum, t_slope, p_stratum, p_slope, tol, policy, order, key,
                p_badness):
    """Greedy policies on an unsorted pool: bucket the pool by stratum (a
    counting sort, O(n)) and scan the treated patient's bucket.  Cheaper than
    sorting the pool when it is used once; same result as match_prepared."""
    nt = t_stratum.shape[0]
    npool = p_stratum.shape[0]
    out = np.full(nt, -1, np.int64)
    # group id of each stratum that some treated patient has
    tmax = -1
    for i in range(nt):
        if t_stratum[i] > tmax:
            tmax = t_stratum[i]
    ustrata = np.unique(t_stratum[t_stratum >= 0])
    ng = ustrata.shape[0]
    dense = tmax < 4 * npool + 4096
    table = np.full(tmax + 1 if dense else 0, -1, np.int64)
    if dense:
        for g in range(ng):
            table[ustrata[g]] = g
    pgroup = np.full(npool, -1, np.int64)
    start = np.zeros(ng + 1, np.int64)
    for j in range(npool):
        s = p_stratum[j]
        if s < 0 or s > tmax or not np.isfinite(p_slope[j]):
            continue
        if dense:
            g = table[s]
        else:
            g = np.searchsorted(ustrata, s)
            if g >= ng or ustrata[g] != s:
                g = -1
        if g >= 0:
            pgroup[j] = g
            start[g + 1] += 1
    for g in range(ng):
        start[g + 1] += start[g]
    members = np.empty(start[ng], np.int64)
    fill = start[:ng].copy()
    for j in range(npool):
        g = pgroup[j]
        if g >= 0:
            members[fill[g]] = j
            fill[g] += 1
    tgroup = np.full(nt, -1, np.int64)
    for i in range(nt):
        if t_stratum[i] >= 0 and np.isfinite(t_slope[i]):
            tgroup[i] = np.searchsorted(ustrata, t_stratum[i])
    counts = np.zeros(nt, np.int64)
    if order == HARDEST_FIRST:
        for i in range(nt):
            g = tgroup[i]
            if g < 0:
                continue
            t = t_slope[i]
            c = 0
            for q in range(start[g], start[g + 1]):
                if abs(p_slope[members[q]] - t) <= tol:
                    c += 1
            counts[i] = c
    visit, ok = _visit_order(nt, order, key, counts)
    if not ok:
        return out
    used = np.zeros(npool, np.bool_)
    ckey = np.uint64(derive(key, CHOICE_STREAM))   # from Python, numba returns a plain int
    nb = p_badness.shape[0]
    for v in range(nt):
        i = visit[v]
        g = tgroup[i]
        if g < 0:
            continue
        t = t_slope[i]
        ki = np.uint64(derive(ckey, i))
        best = -1
        bval = np.inf if policy == NEAREST else -np.inf
        # members are in ascending pool index, so strict comparisons keep the
        # lowest index among ties
        for q in range(start[g], start[g + 1]):
            j = members[q]
            if used[j]:
                continue
            d = abs(p_slope[j] - t)
            if not d <= tol:
                continue
            if policy == NEAREST:
                if best < 0 or d < bval:
                    best = j
                    bval = d
            elif policy == FIRST:
                best = j
                break
            else:
                if policy == RANDOM:
                    x = uniform(ki, j)
                else:
                    x = p_badness[j] if j < nb else np.nan
                    if x != x:
                        x = -np.inf
                if best < 0 or x > bval:
                    best = j
                    bval = x
        if best >= 0:
            used[best] = True
            out[i] = best
    return out


def match(t_stratum, t_slope, p_stratum, p_slope, caliper, policy, order, key, p_badness):
    """1:1 matching of treated to pool patients without replacement.

    t_stratum i8[nt], t_slope f8[nt]; p_stratum i8[np], p_slope f8[np]; caliper
    f8 (ALSFRS-R points/month, >= 0); policy (NEAREST, FIRST, RANDOM, WORST,
    OPTIMAL) and order (AS_GIVEN, RANDOM_ORDER, HARDEST_FIRST) as in the module
    docstring; key uint64 for every random choice; p_badness f8[np] (WORST takes
    the largest; ignored otherwise, may then be empty).
    Returns (match_idx i8[nt], pool index or -1 if unmatched; n_unmatched i8).

    Greedy policies scan the pool bucketed by stratum (no sort); OPTIMAL sorts
    the pool and calls the kernel (its own twins are brute force and scipy).
    """
    nt = t_stratum.shape[0]
    key = np.uint64(key)
    if policy == OPTIMAL:
        perm, s_stratum, s_slope = prepare_pool(p_stratum, p_slope)
        return match_prepared(t_stratum, t_slope, perm, s_stratum, s_slope, caliper,
                              policy, order, key, p_badness)
    if policy < NEAREST or policy > OPTIMAL:
        return np.full(nt, -1, np.int64), np.int64(nt)
    out = _match_scan(t_stratum, t_slope, p_stratum, p_slope, caliper + SLACK, policy,
                      order, key, p_badness)
    n_unmatched = 0
    for i in range(nt):
        if out[i] < 0:
            n_unmatched += 1
    return out, np.int64(n_unmatched)
