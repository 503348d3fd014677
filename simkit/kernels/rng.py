"""Counter-based random numbers for numba kernels.

Every random quantity is a pure function of a key and a counter: the key is
derived from (seed, condition, replicate, stream, patient) by hashing, the value
from (key, counter).  There is no generator state, so a replicate, or one
patient inside it, gives bit-identical numbers in any process, order or chunk.

The mixer is SplitMix64's finaliser (Steele, Lea & Flood 2014), applied twice
when deriving keys; as a counter-based generator SplitMix64 passes BigCrush.
"""
import math

import numpy as np
from numba import njit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S12 = np.uint64(12)
_TWO_M52 = 1.0 / 4503599627370496.0
_TWO_PI = 2.0 * math.pi


@njit(cache=True, inline="always")
def mix64(z):
    """SplitMix64 finaliser: a bijection of uint64 with full avalanche."""
    z = np.uint64(z)
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True)
def derive(key, part):
    """Child key of `key` labelled by the integer `part` (any int >= 0)."""
    return mix64(mix64(np.uint64(key) ^ (np.uint64(part) * _GOLDEN)) + _GOLDEN)


@njit(cache=True)
def root_key(seed, condition, replicate):
    """Key of replicate `replicate` of condition `condition` in a run with `seed`."""
    return derive(derive(derive(np.uint64(0x5EED5EED5EED5EED), seed), condition), replicate)


@njit(cache=True, inline="always")
def uniform(key, counter):
    """U(0, 1) draw number `counter` of stream `key`; never exactly 0 or 1.

    52 bits, not 53: (2**53 - 1) + 0.5 rounds up to 2**53 in float64 and would
    give exactly 1.0, while (2**52 - 1) + 0.5 is exact."""
    z = mix64(np.uint64(key) + (np.uint64(counter) + np.uint64(1)) * _GOLDEN)
    return (float(z >> _S12) + 0.5) * _TWO_M52


@njit(cache=True)
def normal(key, counter):
    """N(0, 1) draw number `counter` of stream `key` (Box-Muller on two uniforms)."""
    u1 = uniform(key, 2 * counter)
    u2 = uniform(key, 2 * counter + 1)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(_TWO_PI * u2)


@njit(cache=True)
def fill_uniform(key, out):
    for i in range(out.shape[0]):
        out[i] = uniform(key, i)


@njit(cache=True)
def fill_normal(key, out):
    for i in range(out.shape[0]):
        out[i] = normal(key, i)


@njit(cache=True)
def keyed_uniforms(seed, condition, labels, stream, n_counters, out):
    """out[r, j] = uniform(derive(root_key(seed, condition, labels[r]), stream), j):
    one row of draws per label (a replicate, or a registry's label)."""
    for r in range(labels.shape[0]):
        k = derive(root_key(seed, condition, labels[r]), stream)
        for j in range(n_counters):
            out[r, j] = uniform(k, j)
