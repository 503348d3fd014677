"""The counter-based RNG: range, uniformity, independence of keys, and its edges."""
import numpy as np
from scipy import stats

from simkit.kernels import rng


def test_uniform_range_and_extremes():
    # the extreme mantissas map strictly inside (0, 1)
    lo = (0 + 0.5) * rng._TWO_M52
    hi = ((2**52 - 1) + 0.5) * rng._TWO_M52
    assert 0.0 < lo and hi < 1.0
    out = np.empty(200_000)
    rng.fill_uniform(np.uint64(rng.root_key(1, 2, 3)), out)
    assert out.min() > 0 and out.max() < 1
    assert stats.kstest(out, "uniform").pvalue > 1e-4


def test_normal_and_key_independence():
    a = np.empty(100_000)
    b = np.empty(100_000)
    rng.fill_normal(np.uint64(rng.root_key(7, 0, 0)), a)
    rng.fill_normal(np.uint64(rng.root_key(7, 0, 1)), b)
    assert stats.kstest(a, "norm").pvalue > 1e-4
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.02
    assert not np.array_equal(a, b)


def test_same_key_same_numbers_and_derive_differs():
    k = np.uint64(rng.root_key(3, 1, 4))
    assert rng.uniform(k, 5) == rng.uniform(k, 5)
    assert rng.derive(k, 1) != rng.derive(k, 2)
    assert rng.root_key(1, 0, 1) != rng.root_key(1, 1, 0)
