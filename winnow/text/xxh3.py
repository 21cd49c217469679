"""XXH3-64 (seed 0, default secret) of short byte strings, compiled with numba, so that
kernels can hash words where they find them. Equal to ``xxhash.xxh3_64_intdigest`` for
inputs up to 240 bytes (the reference's short and mid-size paths, Collet's xxHash 0.8);
``SHORT_MAX`` is that bound, and callers hash longer inputs with the ``xxhash`` package.
"""

from __future__ import annotations

import numpy as np
from numba import njit

SHORT_MAX = 240

# the first 136 bytes of XXH3's default secret (kSecret), all the short and mid paths read
_SECRET = np.frombuffer(
    bytes.fromhex(
        "b8fe6c3923a44bbe7c01812cf721ad1cded46de9839097db7240a4a4b7b3671f"
        "cb79e64eccc0e578825ad07dccff7221b8084674f743248ee03590e6813a264c"
        "3c2852bb91c300cb88d0658b1b532ea371644897a20df94e3819ef46a9deacd8"
        "a8fa763fe39c343ff9dcbbc7c70b4f1d8a51e04bcdb45931c89f7ec9d9787364"
        "eac5ac8334d3ebc3"
    ),
    dtype=np.uint8,
).copy()

_U32 = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)
PRIME32_1 = np.uint64(0x9E3779B1)
PRIME32_2 = np.uint64(0x85EBCA77)
PRIME64_1 = np.uint64(0x9E3779B185EBCA87)
PRIME64_2 = np.uint64(0xC2B2AE3D27D4EB4F)
PRIME64_3 = np.uint64(0x165667B19E3779F9)
PRIME64_4 = np.uint64(0x85EBCA77C2B2AE63)
PRIME_MX1 = np.uint64(0x165667919E3779F9)
PRIME_MX2 = np.uint64(0x9FB21C651E98DF25)


@njit(cache=True, inline="always")
def read_le(buf, i, width):
    """The ``width`` bytes from ``buf[i]`` as a little-endian unsigned integer."""
    v = np.uint64(0)
    for k in range(width - 1, -1, -1):
        v = (v << np.uint64(8)) | np.uint64(buf[i + k])
    return v


@njit(cache=True, inline="always")
def mul128_fold64(a, b):
    """The low and high halves of the 128-bit product ``a * b``, xor-ed."""
    a_lo, a_hi = a & _U32, a >> _S32
    b_lo, b_hi = b & _U32, b >> _S32
    lo_lo = a_lo * b_lo
    hi_lo = a_hi * b_lo
    cross = (lo_lo >> _S32) + (hi_lo & _U32) + a_lo * b_hi
    upper = (hi_lo >> _S32) + (cross >> _S32) + a_hi * b_hi
    lower = (cross << _S32) | (lo_lo & _U32)
    return lower ^ upper


@njit(cache=True, inline="always")
def _avalanche(h):
    h ^= h >> np.uint64(37)
    h *= PRIME_MX1
    return h ^ (h >> _S32)


@njit(cache=True, inline="always")
def _xxh64_avalanche(h):
    h ^= h >> np.uint64(33)
    h *= PRIME64_2
    h ^= h >> np.uint64(29)
    h *= PRIME64_3
    return h ^ (h >> _S32)


@njit(cache=True, inline="always")
def _rotl(x, r):
    return (x << np.uint64(r)) | (x >> np.uint64(64 - r))


@njit(cache=True, inline="always")
def _mix16(buf, i, s):
    low = read_le(buf, i, 8) ^ read_le(_SECRET, s, 8)
    return mul128_fold64(low, read_le(buf, i + 8, 8) ^ read_le(_SECRET, s + 8, 8))


@njit(cache=True)
def xxh3_64(buf, start, length):
    """XXH3-64 of ``buf[start:start + length]`` (``length`` at most ``SHORT_MAX``)."""
    n = np.uint64(length)
    if length == 0:
        return _xxh64_avalanche(read_le(_SECRET, 56, 8) ^ read_le(_SECRET, 64, 8))
    if length <= 3:
        c1 = np.uint64(buf[start])
        c2 = np.uint64(buf[start + (length >> 1)])
        c3 = np.uint64(buf[start + length - 1])
        combined = (c1 << np.uint64(16)) | (c2 << np.uint64(24)) | c3 | (n << np.uint64(8))
        return _xxh64_avalanche(combined ^ (read_le(_SECRET, 0, 4) ^ read_le(_SECRET, 4, 4)))
    if length <= 8:
        input64 = read_le(buf, start + length - 4, 4) + (read_le(buf, start, 4) << _S32)
        h = input64 ^ (read_le(_SECRET, 8, 8) ^ read_le(_SECRET, 16, 8))
        h ^= _rotl(h, 49) ^ _rotl(h, 24)
        h *= PRIME_MX2
        h ^= (h >> np.uint64(35)) + n
        h *= PRIME_MX2
        return h ^ (h >> np.uint64(28))
    if length <= 16:
        flip_lo = read_le(_SECRET, 24, 8) ^ read_le(_SECRET, 32, 8)
        flip_hi = read_le(_SECRET, 40, 8) ^ read_le(_SECRET, 48, 8)
        lo = read_le(buf, start, 8) ^ flip_lo
        hi = read_le(buf, start + length - 8, 8) ^ flip_hi
        swapped = np.uint64(0)
        for k in range(8):
            swapped = (swapped << np.uint64(8)) | ((lo >> np.uint64(8 * k)) & np.uint64(0xFF))
        return _avalanche(n + swapped + hi + mul128_fold64(lo, hi))
    if length <= 128:
        acc = n * PRIME64_1
        if length > 32:
            if length > 64:
                if length > 96:
                    acc += _mix16(buf, start + 48, 96)
                    acc += _mix16(buf, start + length - 64, 112)
                acc += _mix16(buf, start + 32, 64)
                acc += _mix16(buf, start + length - 48, 80)
            acc += _mix16(buf, start + 16, 32)
            acc += _mix16(buf, start + length - 32, 48)
        acc += _mix16(buf, start, 0)
        acc += _mix16(buf, start + length - 16, 16)
        return _avalanche(acc)
    acc = n * PRIME64_1
    for i in range(8):
        acc += _mix16(buf, start + 16 * i, 16 * i)
    acc = _avalanche(acc)
    for i in range(8, length // 16):
        acc += _mix16(buf, start + 16 * i, 16 * (i - 8) + 3)
    acc += _mix16(buf, start + length - 16, 136 - 17)
    return _avalanche(acc)
