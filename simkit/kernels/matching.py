"""1:1 matching without replacement: exact strata plus an absolute pre-slope caliper.

A treated patient i and a pool patient j are *eligible* for each other when
    t_stratum[i] == p_stratum[j] >= 0, both slopes are finite, and
    |p_slope[j] - t_slope[i]| <= caliper + SLACK.
A negative stratum code (a missing or unknown exact variable) or a non-finite
slope never matches.  match_prepared_extra adds calipers on further variables
(the seed design's remedies: disease duration, delta-FS, the baseline total):
a pair must also lie within each of them; the pre-slope stays the distance.

Why SLACK = 1e-9: pre-slopes are integer score differences over 6 months, so
they are multiples of 1/6, and a difference equal to the caliper in exact
arithmetic can exceed it after rounding (in floats 7/6 - 4/6 = 0.5000000000000001
> 0.5).  The caliper is meant as "at most 0.5 points/month", so that pair must
be eligible.  1e-9 is far below the 1/6 grid step (and below any meaningful
slope difference), so it never admits a pair that is truly farther apart.

The route: prepare_pool + match_prepared: the pool sorted once by (stratum,
slope, pool index); each treated patient's eligible set is a contiguous window
found by bisection.  prepare_pool_grid gives the same sort in one counting sort
when the slopes are multiples of 1/6 (pre-slopes always are), and
match_prepared_offsets takes the strata's offsets (stratum_offsets) computed
once per pool instead of bisecting for them per treated patient.  Their slow
twin, a scan of the unsorted pool bucketed by stratum, is tests/oracle_matching.py.
Measured (67 treated, 10,000 pool, caliper 0.5, nearest; 2-core dev box):
prepare_pool 100 us on warm data, 300 us right after the pool is generated;
prepare_pool_grid 27 us warm (about 100 us right after); stratum_offsets 3 us;
match_prepared_offsets 7.5 us inside the replicate loop; the scan (when it was
a kernel) 190 us inside the loop.

Policies (greedy ones visit the treated in `order` and take one candidate each):
  NEAREST  smallest |slope difference|, ties by lowest pool index;
  FIRST    lowest pool index (an analyst scrolling the database);
  RANDOM   uniformly random: the eligible j with the largest
           uniform(derive(derive(key, 2), i), j), ties by lowest pool index
           (a per-pair draw, so the choice does not depend on any sort order);
  WORST    largest p_badness (NaN counts as -inf), ties by lowest pool index;
  NEAREST with peek k > 1: of the k nearest free candidates (ties by lowest
           pool index), the one with the largest p_badness: the analyst who
           looks at a few equally good candidates and keeps the worst outcome;
  OPTIMAL  per stratum, the assignment with the most matched treated and, among
           those, the least total |slope difference| (order is ignored).
Orders: AS_GIVEN; RANDOM_ORDER (Fisher-Yates with uniform(derive(key, 1), i) for
i = nt-1 .. 1, j = floor(u * (i + 1))); HARDEST_FIRST (ascending number of
eligible candidates before any matching, ties by treated index).
An unknown policy, or an unknown order with a greedy policy, leaves every
treated patient unmatched (kernels do not raise).
"""
import math

import numpy as np
from numba import njit

from .rng import derive, uniform

NEAREST, FIRST, RANDOM, WORST, OPTIMAL = 0, 1, 2, 3, 4
AS_GIVEN, RANDOM_ORDER, HARDEST_FIRST = 0, 1, 2

SLACK = 1e-9
ORDER_STREAM = 1       # derive(key, ORDER_STREAM): random visiting order
CHOICE_STREAM = 2      # derive(key, CHOICE_STREAM): random eligible candidate

_INSERTION_MAX = 24    # runs this short are sorted by insertion (no allocation)


@njit(cache=True)
def stratum_codes(cols, radix):
    """Mixed-radix code of each row of `cols` (i8[n, m]), digit k in [0, radix[k]).

    The same radices give the same codes on the treated and the pool side.  A
    row with any digit outside its range (e.g. -1 for missing) gets -1.  With
    m = 0 every row is in stratum 0.  The caller keeps prod(radix) < 2**63.
    """
    n = cols.shape[0]
    m = cols.shape[1]
    out = np.zeros(n, np.int64)
    for i in range(n):
        code = 0
        mult = 1
        for k in range(m):
            c = cols[i, k]
            if c < 0 or c >= radix[k]:
                code = -1
                break
            code += c * mult
            mult *= radix[k]
        out[i] = code
    return out


@njit(cache=True)
def prepare_pool(p_stratum, p_slope):
    """Sort the usable pool members by (stratum, slope, pool index).

    Returns (perm i8[k], s_stratum i8[k], s_slope f8[k]): perm[q] is the pool
    index at sorted position q.  Members with a negative stratum or a
    non-finite slope can never match and are left out (k <= n).
    """
    n = p_stratum.shape[0]
    k = 0
    smax = -1
    for j in range(n):
        if p_stratum[j] >= 0 and np.isfinite(p_slope[j]):
            k += 1
            if p_stratum[j] > smax:
                smax = p_stratum[j]
    perm = np.empty(k, np.int64)
    if smax < 4 * k + 4096:
        # dense codes (the usual case): a stable counting sort, O(n)
        start = np.zeros(smax + 2, np.int64)
        for j in range(n):
            if p_stratum[j] >= 0 and np.isfinite(p_slope[j]):
                start[p_stratum[j] + 1] += 1
        for c in range(1, smax + 2):
            start[c] += start[c - 1]
        for j in range(n):
            if p_stratum[j] >= 0 and np.isfinite(p_slope[j]):
                perm[start[p_stratum[j]]] = j
                start[p_stratum[j]] += 1
    else:
        q = 0
        for j in range(n):
            if p_stratum[j] >= 0 and np.isfinite(p_slope[j]):
                perm[q] = j
                q += 1
        o = np.argsort(p_stratum[perm], kind="mergesort")
        perm = perm[o]
    s_stratum = p_stratum[perm]
    # within a stratum the pool indices are ascending; a stable slope sort
    # therefore gives (slope, index) order
    a = 0
    while a < k:
        b = a + 1
        while b < k and s_stratum[b] == s_stratum[a]:
            b += 1
        if b - a <= _INSERTION_MAX:
            for q in range(a + 1, b):
                x = perm[q]
                sx = p_slope[x]
                r = q - 1
                while r >= a and p_slope[perm[r]] > sx:
                    perm[r + 1] = perm[r]
                    r -= 1
                perm[r + 1] = x
        else:
            sub = perm[a:b].copy()
            o = np.argsort(p_slope[sub], kind="mergesort")
            for q in range(b - a):
                perm[a + q] = sub[o[q]]
        a = b
    s_slope = p_slope[perm]
    return perm, s_stratum, s_slope


@njit(cache=True)
def _window(s_slope, a, b, t, tol):
    """Within the stratum block [a, b): (L, ins, R) with [L, R) the positions
    whose slope is within tol of t and ins the first position with slope >= t.

    |s - t| is monotone on each side of ins (rounded subtraction is monotone),
    so on [a, b) each end is the first position where a monotone test turns
    true: ins: s >= t; L: s >= t or |s - t| <= tol; R: s >= t and
    |s - t| > tol (the eligibility test itself, exactly).  The three
    bisections run interleaved and branch-free, so their chains of dependent
    loads overlap and no comparison is mispredicted.
    """
    bi = a
    bl = a
    br = a
    n = b - a
    while n > 1:
        half = n >> 1
        x = s_slope[bi + half]
        y = s_slope[bl + half]
        z = s_slope[br + half]
        bi = bi + half if x < t else bi
        bl = bl + half if not (y >= t or abs(y - t) <= tol) else bl
        br = br + half if not (z >= t and abs(z - t) > tol) else br
        n -= half
    if n == 1:
        x = s_slope[bi]
        y = s_slope[bl]
        z = s_slope[br]
        bi += 1 if x < t else 0
        bl += 1 if not (y >= t or abs(y - t) <= tol) else 0
        br += 1 if not (z >= t and abs(z - t) > tol) else 0
    return bl, bi, br


@njit(cache=True)
def prepare_pool_grid(p_stratum, p_slope, n_codes, scale):
    """prepare_pool for slopes that are whole multiples of 1 / scale (pre-slopes
    are integer score differences over 6 months: scale 6) and codes below
    n_codes: one counting sort on (stratum, slope, pool index), O(n), where
    prepare_pool sorts each stratum.  The same (perm, s_stratum, s_slope) as
    prepare_pool; if some usable slope is off the grid (or a code is too
    large), (prepare_pool's result, False) comes back instead of (.., True)."""
    n = p_stratum.shape[0]
    key = np.empty(n, np.int64)
    kmin = 0
    kmax = 0
    k = 0
    grid = True
    for j in range(n):
        s = p_stratum[j]
        x = p_slope[j]
        if s < 0 or not np.isfinite(x):
            key[j] = -1
            continue
        y = x * scale
        if s >= n_codes or not abs(y) < 1e9:
            grid = False
            break
        g = np.int64(math.floor(y + 0.5))
        if g / scale != x:            # not exactly on the grid
            grid = False
            break
        if k == 0 or g < kmin:
            kmin = g
        if k == 0 or g > kmax:
            kmax = g
        key[j] = g
        k += 1
    if not grid:
        perm, s_stratum, s_slope = prepare_pool(p_stratum, p_slope)
        return perm, s_stratum, s_slope, False
    width = kmax - kmin + 1
    start = np.zeros(n_codes * width + 1, np.int64)
    for j in range(n):
        if p_stratum[j] >= 0 and np.isfinite(p_slope[j]):   # usable: key[j] is its grid index
            c = p_stratum[j] * width + (key[j] - kmin)
            key[j] = c
            start[c + 1] += 1
    for c in range(n_codes * width):
        start[c + 1] += start[c]
    perm = np.empty(k, np.int64)
    s_stratum = np.empty(k, np.int64)
    s_slope = np.empty(k)
    for j in range(n):
        c = key[j]
        if c >= 0:
            q = start[c]
            perm[q] = j
            s_stratum[q] = p_stratum[j]
            s_slope[q] = p_slope[j]
            start[c] += 1
    return perm, s_stratum, s_slope, True


@njit(cache=True)
def stratum_offsets(s_stratum, n_codes):
    """offs (i8[n_codes + 1]): stratum c occupies sorted positions offs[c] ..
    offs[c + 1] - 1 of a prepared pool whose codes are all < n_codes.  Saves
    match_prepared two bisections of the whole pool per treated patient."""
    offs = np.zeros(n_codes + 1, np.int64)
    for q in range(s_stratum.shape[0]):
        offs[s_stratum[q] + 1] += 1
    for c in range(n_codes):
        offs[c + 1] += offs[c]
    return offs


@njit(cache=True)
def _windows(t_stratum, t_slope, s_stratum, s_slope, tol, offs):
    """Eligible window [L[i], R[i]) and insertion point of every treated patient
    (L = R = 0 when none can be eligible).  offs: stratum_offsets, or empty."""
    nt = t_stratum.shape[0]
    lw = np.zeros(nt, np.int64)
    iw = np.zeros(nt, np.int64)
    rw = np.zeros(nt, np.int64)
    nc = offs.shape[0] - 1
    for i in range(nt):
        s = t_stratum[i]
        t = t_slope[i]
        if s < 0 or not np.isfinite(t):
            continue
        if nc >= 0:
            if s >= nc:
                continue
            a = offs[s]
            b = offs[s + 1]
        else:
            a = np.searchsorted(s_stratum, s, side="left")
            b = np.searchsorted(s_stratum, s, side="right")
        if a == b:
            continue
        left, ins, right = _window(s_slope, a, b, t, tol)
        lw[i] = left
        iw[i] = ins
        rw[i] = right
    return lw, iw, rw


@njit(cache=True)
def _pick_nearest(left, ins, right, t, s_slope, perm, used):
    lpos = ins - 1
    while lpos >= left and used[lpos]:
        lpos -= 1
    rpos = ins
    while rpos < right and used[rpos]:
        rpos += 1
    if lpos < left and rpos >= right:
        return -1
    dl = abs(s_slope[lpos] - t) if lpos >= left else np.inf
    dr = abs(s_slope[rpos] - t) if rpos < right else np.inf
    d = min(dl, dr)
    best = -1
    bidx = np.iinfo(np.int64).max
    # All candidates at the minimal distance form a run on each side, made of
    # sub-runs of equal slope (usually one: slopes are multiples of 1/6).  In a
    # sub-run the pool indices ascend (prepare_pool's order), so its lowest
    # free index is its first free position: no need to scan it all.
    if dl == d:
        q = lpos
        while q >= left and abs(s_slope[q] - t) == d:
            a = _first_at_least(s_slope, left, q + 1, s_slope[q])   # start of the sub-run
            p = a
            while used[p]:      # stops at q at the latest (q is free or below the run)
                p += 1
            if p <= q and perm[p] < bidx:
                best = p
                bidx = perm[p]
            q = a - 1
            while q >= left and used[q]:
                q -= 1
    if dr == d:
        q = rpos
        while q < right and abs(s_slope[q] - t) == d:
            e = _first_above(s_slope, q, right, s_slope[q])        # end of the sub-run
            if perm[q] < bidx:                                      # q is free
                best = q
                bidx = perm[q]
            q = e
            while q < right and used[q]:
                q += 1
    return best


@njit(cache=True, inline="always")
def _first_at_least(x, lo, hi, v):
    """First position in [lo, hi) of the sorted x with x >= v (hi if none), branch-free."""
    base = lo
    n = hi - lo
    while n > 1:
        half = n >> 1
        base = base + half if x[base + half] < v else base
        n -= half
    return base + (1 if n == 1 and x[base] < v else 0)


@njit(cache=True, inline="always")
def _first_above(x, lo, hi, v):
    """First position in [lo, hi) of the sorted x with x > v (hi if none), branch-free."""
    base = lo
    n = hi - lo
    while n > 1:
        half = n >> 1
        base = base + half if x[base + half] <= v else base
        n -= half
    return base + (1 if n == 1 and x[base] <= v else 0)


@njit(cache=True)
def _pick_scan(policy, i, left, right, perm, used, p_badness, ckey):
    """FIRST, RANDOM or WORST: one pass over the window."""
    best = -1
    bidx = np.iinfo(np.int64).max
    bval = -np.inf
    nb = p_badness.shape[0]
    ki = derive(ckey, i)
    for q in range(left, right):
        if used[q]:
            continue
        j = perm[q]
        if policy == FIRST:
            if j < bidx:
                best = q
                bidx = j
        else:
            if policy == RANDOM:
                v = uniform(ki, j)
            else:
                v = p_badness[j] if j < nb else np.nan
                if v != v:
                    v = -np.inf
            if best < 0 or v > bval or (v == bval and j < bidx):
                best = q
                bidx = j
                bval = v
    return best


@njit(cache=True)
def _pick_peek(peek, left, right, t, s_slope, perm, used, p_badness):
    """NEAREST with a peek: of the `peek` nearest free candidates (by |slope
    difference|, ties by lowest pool index), the one with the largest badness
    (NaN counts as -inf; ties by lowest pool index).  peek = 1 is NEAREST; a
    peek at least the window's size is WORST within the caliper."""
    n = right - left
    cand = np.empty(n, np.int64)
    dist = np.empty(n)
    idx = np.empty(n, np.int64)
    m = 0
    for q in range(left, right):
        if not used[q]:
            cand[m] = q
            dist[m] = abs(s_slope[q] - t)
            idx[m] = perm[q]
            m += 1
    if m == 0:
        return -1
    # the peek nearest by (distance, pool index): a selection by repeated minimum
    kk = min(peek, m)
    taken = np.zeros(m, np.bool_)
    nb = p_badness.shape[0]
    best = -1
    bidx = np.iinfo(np.int64).max
    bval = -np.inf
    for _ in range(kk):
        a = -1
        for c in range(m):
            if not taken[c] and (a < 0 or dist[c] < dist[a] or (dist[c] == dist[a] and idx[c] < idx[a])):
                a = c
        taken[a] = True
        j = idx[a]
        v = p_badness[j] if j < nb else np.nan
        if v != v:
            v = -np.inf
        if best < 0 or v > bval or (v == bval and j < bidx):
            best = cand[a]
            bidx = j
            bval = v
    return best


@njit(cache=True)
def _hungarian(cost):
    """Minimum-cost assignment of every row of cost (nr x m, nr <= m) to distinct
    columns: shortest augmenting paths with potentials, O(nr^2 m).
    Returns the column of each row."""
    nr = cost.shape[0]
    m = cost.shape[1]
    u = np.zeros(nr + 1)
    v = np.zeros(m + 1)
    p = np.zeros(m + 1, np.int64)      # p[j]: row (1-based) on column j, 0 = free
    way = np.zeros(m + 1, np.int64)
    minv = np.empty(m + 1)
    done = np.empty(m + 1, np.bool_)
    for i in range(1, nr + 1):
        p[0] = i
        j0 = 0
        minv[:] = np.inf
        done[:] = False
        while True:
            done[j0] = True
            i0 = p[j0]
            delta = np.inf
            j1 = 0
            for j in range(1, m + 1):
                if not done[j]:
                    cur = cost[i0 - 1, j - 1] - u[i0] - v[j]
                    if cur < minv[j]:
                        minv[j] = cur
                        way[j] = j0
                    if minv[j] < delta:
                        delta = minv[j]
                        j1 = j
            for j in range(m + 1):
                if done[j]:
                    u[p[j]] += delta
                    v[j] -= delta
                else:
                    minv[j] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while True:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
            if j0 == 0:
                break
    col = np.full(nr, -1, np.int64)
    for j in range(1, m + 1):
        if p[j] != 0:
            col[p[j] - 1] = j - 1
    return col


@njit(cache=True)
def _match_optimal(t_stratum, t_slope, perm, s_slope, tol, lw, iw, rw, out, active, t_extra, p_extra, ecal):
    nt = t_stratum.shape[0]
    rows = np.empty(nt, np.int64)
    nrows = 0
    for i in range(nt):
        if rw[i] > lw[i]:
            rows[nrows] = i
            nrows += 1
    rows = rows[:nrows]
    rows = rows[np.argsort(t_stratum[rows], kind="mergesort")]
    colmap = np.full(perm.shape[0], -1, np.int64)
    g0 = 0
    while g0 < nrows:
        g1 = g0 + 1
        while g1 < nrows and t_stratum[rows[g1]] == t_stratum[rows[g0]]:
            g1 += 1
        nr = g1 - g0
        # Some optimal assignment uses only each row's nr nearest (admissible)
        # candidates: if row i sits on a farther one, one of its nr nearest is
        # free (only nr - 1 other rows) and moving i there keeps the count and
        # does not raise the total.  So those are the only columns needed.
        cols = np.empty(nr * nr, np.int64)
        nc = 0
        for g in range(g0, g1):
            i = rows[g]
            t = t_slope[i]
            left = lw[i]
            right = rw[i]
            lpos = iw[i] - 1
            rpos = iw[i]
            found = 0
            while found < nr:
                if lpos < left and rpos >= right:
                    break
                if rpos >= right or (lpos >= left and
                                     abs(s_slope[lpos] - t) <= abs(s_slope[rpos] - t)):
                    q = lpos
                    lpos -= 1
                else:
                    q = rpos
                    rpos += 1
                if active and not _admissible(i, perm[q], t_extra, p_extra, ecal):
                    continue
                found += 1
                if colmap[q] < 0:
                    colmap[q] = nc
                    cols[nc] = q
                    nc += 1
        m = max(nc, nr)
        cost = np.empty((nr, m))
        maxd = 0.0
        for r in range(nr):
            t = t_slope[rows[g0 + r]]
            for c in range(m):
                cost[r, c] = -1.0
                if c < nc:
                    d = abs(s_slope[cols[c]] - t)
                    if d <= tol and (not active or _admissible(rows[g0 + r], perm[cols[c]], t_extra,
                                                               p_extra, ecal)):
                        cost[r, c] = d
                        if d > maxd:
                            maxd = d
        # A forbidden pair (or a padding column) costs more than any
        # (nr + 1) real pairs together, so one more matched patient always
        # beats any saving in distance: the count is maximised first.
        big = (nr + 1) * (maxd + 1.0)
        for r in range(nr):
            for c in range(m):
                if cost[r, c] < 0.0:
                    cost[r, c] = big
        col = _hungarian(cost)
        for r in range(nr):
            c = col[r]
            if c >= 0 and c < nc:
                i = rows[g0 + r]
                if abs(s_slope[cols[c]] - t_slope[i]) <= tol and \
                        (not active or _admissible(i, perm[cols[c]], t_extra, p_extra, ecal)):
                    out[i] = perm[cols[c]]
        for c in range(nc):
            colmap[cols[c]] = -1
        g0 = g1


@njit(cache=True)
def _visit_order(nt, order, key, counts):
    """Order in which greedy policies visit the treated, and False for an
    unknown order.  counts: eligible candidates per treated (HARDEST_FIRST)."""
    if order == AS_GIVEN:
        return np.arange(nt), True
    if order == RANDOM_ORDER:
        visit = np.arange(nt)
        okey = derive(key, ORDER_STREAM)
        for i in range(nt - 1, 0, -1):
            j = int(uniform(okey, i) * (i + 1))
            if j > i:        # u can round to 1.0 (probability 2**-53)
                j = i
            tmp = visit[i]
            visit[i] = visit[j]
            visit[j] = tmp
        return visit, True
    if order == HARDEST_FIRST:
        return np.argsort(counts, kind="mergesort"), True
    return np.arange(0), False


@njit(cache=True)
def match_prepared(t_stratum, t_slope, perm, s_stratum, s_slope, caliper, policy, order,
                   key, p_badness, peek=1):
    """1:1 matching of treated to pool patients without replacement, on a pool
    sorted by `prepare_pool` (perm, s_stratum, s_slope).

    t_stratum i8[nt], t_slope f8[nt]; caliper f8 (ALSFRS-R points/month, >= 0);
    policy (NEAREST, FIRST, RANDOM, WORST, OPTIMAL) and order (AS_GIVEN,
    RANDOM_ORDER, HARDEST_FIRST) as in the module docstring; key uint64 for every
    random choice; p_badness f8[np], indexed by the original pool index (WORST
    takes the largest; ignored otherwise, may then be empty); peek: with
    NEAREST, how many nearest candidates the analyst looks at (_pick_peek).
    Returns (match_idx i8[nt], pool index or -1 if unmatched; n_unmatched i8).
    """
    return match_prepared_offsets(t_stratum, t_slope, perm, s_stratum, s_slope,
                                  np.empty(0, np.int64), caliper, policy, order, key, p_badness, peek)


@njit(cache=True)
def match_prepared_offsets(t_stratum, t_slope, perm, s_stratum, s_slope, offs, caliper, policy,
                           order, key, p_badness, peek=1):
    """match_prepared with the pool's stratum_offsets computed once (offs; an
    empty offs falls back to bisection).  The same result.  peek > 1 with
    NEAREST: the analyst looks at the peek nearest candidates and takes the one
    with the worst outcome (_pick_peek)."""
    return match_prepared_extra(t_stratum, t_slope, perm, s_stratum, s_slope, offs, caliper, policy,
                                order, key, p_badness, peek, np.empty((t_stratum.shape[0], 0)),
                                np.empty((0, 0)), np.empty(0))


@njit(cache=True, inline="always")
def _admissible(i, j, t_extra, p_extra, ecal):
    """Treated i and pool patient j (original index) within every extra caliper
    (ecal[e] = inf: variable e not matched on; a NaN on either side fails)."""
    for e in range(ecal.shape[0]):
        if ecal[e] < np.inf:
            if not abs(t_extra[i, e] - p_extra[j, e]) <= ecal[e] + SLACK:
                return False
    return True


@njit(cache=True)
def match_prepared_extra(t_stratum, t_slope, perm, s_stratum, s_slope, offs, caliper, policy,
                         order, key, p_badness, peek, t_extra, p_extra, ecal):
    """match_prepared_offsets with extra calipers: a pair must also have
    |t_extra[i, e] - p_extra[j, e]| <= ecal[e] for every e with a finite ecal
    (p_extra indexed by the original pool index; a caliper 0 on an integer
    variable is exact matching on it).  The pre-slope stays the distance that
    NEAREST and OPTIMAL minimise; the extra calipers only narrow who is eligible.
    Greedy picks see the inadmissible candidates of a window as taken for that
    treated patient; OPTIMAL forbids those pairs."""
    nt = t_stratum.shape[0]
    out = np.full(nt, -1, np.int64)
    key = np.uint64(key)
    tol = caliper + SLACK
    if policy < NEAREST or policy > OPTIMAL:
        return out, np.int64(nt)
    active = False
    for e in range(ecal.shape[0]):
        if ecal[e] < np.inf:
            active = True
    lw, iw, rw = _windows(t_stratum, t_slope, s_stratum, s_slope, tol, offs)
    if policy == OPTIMAL:
        _match_optimal(t_stratum, t_slope, perm, s_slope, tol, lw, iw, rw, out,
                       active, t_extra, p_extra, ecal)
    else:
        counts = rw - lw
        if active and order == HARDEST_FIRST:
            for i in range(nt):
                c = 0
                for q in range(lw[i], rw[i]):
                    if _admissible(i, perm[q], t_extra, p_extra, ecal):
                        c += 1
                counts[i] = c
        visit, ok = _visit_order(nt, order, key, counts)
        if not ok:
            return out, np.int64(nt)
        used = np.zeros(perm.shape[0], np.bool_)
        masked = np.empty(perm.shape[0] if active else 0, np.int64)
        ckey = derive(key, CHOICE_STREAM)
        for v in range(nt):
            i = visit[v]
            if rw[i] <= lw[i]:
                continue
            nmask = 0
            if active:      # this patient's inadmissible candidates count as taken, for this pick only
                for q in range(lw[i], rw[i]):
                    if not used[q] and not _admissible(i, perm[q], t_extra, p_extra, ecal):
                        used[q] = True
                        masked[nmask] = q
                        nmask += 1
            if policy == NEAREST and peek > 1:
                q = _pick_peek(peek, lw[i], rw[i], t_slope[i], s_slope, perm, used, p_badness)
            elif policy == NEAREST:
                q = _pick_nearest(lw[i], iw[i], rw[i], t_slope[i], s_slope, perm, used)
            else:
                q = _pick_scan(policy, i, lw[i], rw[i], perm, used, p_badness, ckey)
            for c in range(nmask):
                used[masked[c]] = False
            if q >= 0:
                used[q] = True
                out[i] = perm[q]
    n_unmatched = 0
    for i in range(nt):
        if out[i] < 0:
            n_unmatched += 1
    return out, np.int64(n_unmatched)
