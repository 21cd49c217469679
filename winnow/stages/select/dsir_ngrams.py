"""DSIR's hashed unigram and bigram features, compiled with numba: the data-selection
package's featuriser (NLTK's WordPunct tokens of the lower-cased text, every unigram and
bigram hashed with sha256 into ``num_buckets`` buckets) without a Python object per token.

Lower-casing is Python's ``str.lower`` (Arrow's ``ascii_lower`` where a text is all ASCII,
where the two agree). Tokens are NLTK's ``\\w+|[^\\w\\s]+``, which NLTK compiles with the
``regex`` engine (``nltk.redos``): every code point is a word, space or other character as
that engine's ``\\w`` and ``\\s`` say (each code point not yet seen is asked once), and a
token is a maximal run of word characters or of other characters. Distinct words live in
an exact hash table (their bytes compared), distinct word pairs in another (keyed by the
two word ids); a word's or a pair's bucket is sha256 of its UTF-8 bytes (the pair's two
words joined by a space) reduced modulo ``num_buckets``, computed once, when first seen.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import regex
from numba import njit

from winnow.text.utf8 import string_buffers

WORD, SPACE, OTHER, ASKED = 1, 2, 3, 4
_FLAGS = re.UNICODE | re.MULTILINE | re.DOTALL  # what NLTK's RegexpTokenizer passes
_WORD_RX = regex.compile(r"\w", _FLAGS)
_SPACE_RX = regex.compile(r"\s", _FLAGS)

_H0 = np.array(
    [0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
     0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19],
    dtype=np.uint32,
)  # fmt: skip
_K = np.array(
    [
        0x428A2F98, 0x71374491, 0xB5C0FBCF, 0xE9B5DBA5, 0x3956C25B, 0x59F111F1, 0x923F82A4,
        0xAB1C5ED5, 0xD807AA98, 0x12835B01, 0x243185BE, 0x550C7DC3, 0x72BE5D74, 0x80DEB1FE,
        0x9BDC06A7, 0xC19BF174, 0xE49B69C1, 0xEFBE4786, 0x0FC19DC6, 0x240CA1CC, 0x2DE92C6F,
        0x4A7484AA, 0x5CB0A9DC, 0x76F988DA, 0x983E5152, 0xA831C66D, 0xB00327C8, 0xBF597FC7,
        0xC6E00BF3, 0xD5A79147, 0x06CA6351, 0x14292967, 0x27B70A85, 0x2E1B2138, 0x4D2C6DFC,
        0x53380D13, 0x650A7354, 0x766A0ABB, 0x81C2C92E, 0x92722C85, 0xA2BFE8A1, 0xA81A664B,
        0xC24B8B70, 0xC76C51A3, 0xD192E819, 0xD6990624, 0xF40E3585, 0x106AA070, 0x19A4C116,
        0x1E376C08, 0x2748774C, 0x34B0BCB5, 0x391C0CB3, 0x4ED8AA4A, 0x5B9CCA4F, 0x682E6FF3,
        0x748F82EE, 0x78A5636F, 0x84C87814, 0x8CC70208, 0x90BEFFFA, 0xA4506CEB, 0xBEF9A3F7,
        0xC67178F2,
    ],
    dtype=np.uint32,
)  # fmt: skip


@njit(cache=True, inline="always")
def _rotr(x, n):
    return np.uint32((x >> np.uint32(n)) | (x << np.uint32(32 - n)))


@njit(cache=True)
def _sha256_mod(buf, length, w, num_buckets):
    """sha256 of ``buf[:length]`` as a 256-bit big-endian number, modulo ``num_buckets``
    (``buf`` has room for the padding: ``length + 72`` bytes; ``w``: 64 uint32 of scratch)."""
    total = ((length + 8) // 64 + 1) * 64
    buf[length] = 0x80
    for i in range(length + 1, total - 8):
        buf[i] = 0
    bits = length * 8
    for i in range(8):
        buf[total - 1 - i] = (bits >> (8 * i)) & 0xFF
    h0, h1, h2, h3 = _H0[0], _H0[1], _H0[2], _H0[3]
    h4, h5, h6, h7 = _H0[4], _H0[5], _H0[6], _H0[7]
    for block in range(0, total, 64):
        for t in range(16):
            p = block + 4 * t
            w[t] = np.uint32(
                (np.uint32(buf[p]) << np.uint32(24))
                | (np.uint32(buf[p + 1]) << np.uint32(16))
                | (np.uint32(buf[p + 2]) << np.uint32(8))
                | np.uint32(buf[p + 3])
            )
        for t in range(16, 64):
            x, y = w[t - 15], w[t - 2]
            s0 = _rotr(x, 7) ^ _rotr(x, 18) ^ np.uint32(x >> np.uint32(3))
            s1 = _rotr(y, 17) ^ _rotr(y, 19) ^ np.uint32(y >> np.uint32(10))
            w[t] = np.uint32(w[t - 16] + s0 + w[t - 7] + s1)
        a, b, c, d, e, f, g, h = h0, h1, h2, h3, h4, h5, h6, h7
        for t in range(64):
            s1 = np.uint32(_rotr(e, 6) ^ _rotr(e, 11) ^ _rotr(e, 25))
            ch = np.uint32((e & f) ^ (~e & g))
            t1 = np.uint32(h + s1 + ch + _K[t] + w[t])
            s0 = np.uint32(_rotr(a, 2) ^ _rotr(a, 13) ^ _rotr(a, 22))
            maj = np.uint32((a & b) ^ (a & c) ^ (b & c))
            h, g, f = g, f, e
            e = np.uint32(d + t1)
            d, c, b = c, b, a
            a = np.uint32(t1 + s0 + maj)
        h0, h1, h2, h3 = np.uint32(h0 + a), np.uint32(h1 + b), np.uint32(h2 + c), np.uint32(h3 + d)
        h4, h5, h6, h7 = np.uint32(h4 + e), np.uint32(h5 + f), np.uint32(h6 + g), np.uint32(h7 + h)
    n = np.uint64(num_buckets)
    rest = np.uint64(0)
    for word in (h0, h1, h2, h3, h4, h5, h6, h7):
        if n <= np.uint64(0xFFFFFFFF):  # (rest < n) * 2**32 fits
            rest = ((rest << np.uint64(32)) | np.uint64(word)) % n
        else:  # a byte at a time (num_buckets < 2**56)
            for s in (24, 16, 8, 0):
                byte = np.uint64((word >> np.uint32(s)) & np.uint32(255))
                rest = ((rest << np.uint64(8)) | byte) % n
    return np.int64(rest)


@njit(cache=True)
def unseen_code_points(data, cls):
    """The distinct non-ASCII code points of UTF-8 ``data`` that ``cls`` does not know yet
    (marked ``ASKED`` in ``cls`` until the caller classifies them)."""
    found = []
    i, n = 0, len(data)
    while i < n:
        b = np.int64(data[i])
        if b < 0x80:
            i += 1
            continue
        if b < 0xE0:
            cp, k = ((b & 0x1F) << 6) | (np.int64(data[i + 1]) & 0x3F), 2
        elif b < 0xF0:
            cp = ((b & 0x0F) << 12) | ((np.int64(data[i + 1]) & 0x3F) << 6)
            cp, k = cp | (np.int64(data[i + 2]) & 0x3F), 3
        else:
            cp = ((b & 0x07) << 18) | ((np.int64(data[i + 1]) & 0x3F) << 12)
            cp |= (np.int64(data[i + 2]) & 0x3F) << 6
            cp, k = cp | (np.int64(data[i + 3]) & 0x3F), 4
        if cls[cp] == 0:
            cls[cp] = ASKED
            found.append(cp)
        i += k
    return np.array(found, dtype=np.int64)


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@njit(cache=True, inline="always")
def _slot(h, shift):
    return np.int64((h * _GOLDEN) >> shift)


@njit(cache=True)
def _word_slots(whash, nwords, bits):
    slots = np.full(1 << bits, -1, np.int32)
    shift, mask = np.uint64(64 - bits), (1 << bits) - 1
    for i in range(nwords):
        j = _slot(whash[i], shift)
        while slots[j] >= 0:
            j = (j + 1) & mask
        slots[j] = i
    return slots


@njit(cache=True)
def _pair_slots(pairs, bits):
    """The pair table rehashed into ``2**bits`` slots: slot ``j`` holds a key (two word ids,
    -1: empty) at ``2 * j`` and its bucket at ``2 * j + 1``."""
    out = np.full(2 << bits, -1, np.int64)
    shift, mask = np.uint64(64 - bits), (1 << bits) - 1
    for i in range(0, len(pairs), 2):
        if pairs[i] >= 0:
            j = _slot(np.uint64(pairs[i]), shift)
            while out[2 * j] >= 0:
                j = (j + 1) & mask
            out[2 * j] = pairs[i]
            out[2 * j + 1] = pairs[i + 1]
    return out


@njit(cache=True, inline="always")
def _kind(data, i, cls):
    """(class, byte length) of the code point at byte ``i`` of UTF-8 ``data``."""
    b = np.int64(data[i])
    if b < 0x80:
        return cls[b], 1
    if b < 0xE0:
        return cls[((b & 0x1F) << 6) | (np.int64(data[i + 1]) & 0x3F)], 2
    if b < 0xF0:
        cp = ((b & 0x0F) << 12) | ((np.int64(data[i + 1]) & 0x3F) << 6)
        return cls[cp | (np.int64(data[i + 2]) & 0x3F)], 3
    cp = ((b & 0x07) << 18) | ((np.int64(data[i + 1]) & 0x3F) << 12)
    cp |= (np.int64(data[i + 2]) & 0x3F) << 6
    return cls[cp | (np.int64(data[i + 3]) & 0x3F)], 4


@njit(cache=True)
def _words(data, offsets, d, i, m, tok, ntok, cls, num_buckets, wslots, wbits, whash, woff,
           wbucket, arena, nwords, buf, w):  # fmt: skip
    """Tokenise the texts from byte ``i`` of text ``d`` on into word ids (``tok`` from
    ``m``), adding new words, until done or a table (or ``tok``) is full. Returns (text,
    byte, token, words, the bytes of the word that found no room: 0 if done)."""
    n = len(offsets) - 1
    wshift, wmask = np.uint64(64 - wbits), (1 << wbits) - 1
    while d < n:
        end = offsets[d + 1]
        while i < end:
            kind, k = _kind(data, i, cls)
            if kind == SPACE:
                i += k
                continue
            start = i
            h = np.uint64(0xCBF29CE484222325)
            while True:
                for q in range(i, i + k):
                    h = (h ^ np.uint64(data[q])) * np.uint64(0x100000001B3)
                i += k
                if i >= end:
                    break
                nk, k = _kind(data, i, cls)
                if nk != kind:
                    break
            length = i - start
            if m == len(tok):
                return d, start, m, nwords, length
            j = _slot(h, wshift)
            found = -1
            while wslots[j] >= 0:
                c = wslots[j]
                if whash[c] == h and woff[c + 1] - woff[c] == length:
                    o = woff[c]
                    same = True
                    for q in range(length):
                        if arena[o + q] != data[start + q]:
                            same = False
                            break
                    if same:
                        found = c
                        break
                j = (j + 1) & wmask
            if found < 0:
                used = woff[nwords]
                if (nwords + 2 > len(whash) or used + length > len(arena)
                        or 2 * (nwords + 1) > len(wslots)):  # fmt: skip
                    return d, start, m, nwords, length
                found = nwords
                arena[used : used + length] = data[start:i]
                woff[nwords + 1] = used + length
                whash[nwords] = h
                buf[:length] = data[start:i]
                wbucket[nwords] = _sha256_mod(buf, length, w, num_buckets)
                wslots[j] = nwords
                nwords += 1
            tok[m] = found
            ntok[d] += 1
            m += 1
        d += 1
        if d < n:
            i = offsets[d]
    return d, i, m, nwords, 0


@njit(cache=True)
def _pairs(tok, ntok, first, at, d, k, out, woff, arena, num_buckets, pairs, pbits, npairs,
           buf, w):  # fmt: skip
    """Write the bigram buckets of the texts from bigram ``k`` of text ``d`` on (text ``d``'s
    tokens start at ``first[d]`` in ``tok``, its bigrams at ``at[d]`` in ``out``), adding new
    pairs, until done or the table is full. Returns (text, bigram, pairs)."""
    n = len(ntok)
    pshift, pmask = np.uint64(64 - pbits), (1 << pbits) - 1
    while d < n:
        t = first[d]
        while k < ntok[d] - 1:
            a, b = np.int64(tok[t + k]), np.int64(tok[t + k + 1])
            key = (a << 32) | b
            j = _slot(np.uint64(key), pshift)
            while pairs[2 * j] >= 0 and pairs[2 * j] != key:
                j = (j + 1) & pmask
            if pairs[2 * j] < 0:
                if 2 * (npairs + 1) > 1 << pbits:
                    return d, k, npairs
                la, lb = woff[a + 1] - woff[a], woff[b + 1] - woff[b]
                buf[:la] = arena[woff[a] : woff[a + 1]]
                buf[la] = 32
                buf[la + 1 : la + 1 + lb] = arena[woff[b] : woff[b + 1]]
                pairs[2 * j] = key
                pairs[2 * j + 1] = _sha256_mod(buf, la + 1 + lb, w, num_buckets)
                npairs += 1
            out[at[d] + k] = pairs[2 * j + 1]
            k += 1
        d += 1
        k = 0
    return d, k, npairs


@njit(cache=True)
def featurize(
    data, offsets, cls, num_buckets,
    wslots, wbits, whash, woff, wbucket, arena, nwords,
    pairs, pbits, npairs,
):  # fmt: skip
    """Buckets of every unigram then every bigram of each text ``data[offsets[i]:
    offsets[i + 1]]`` (lower-cased UTF-8, its code points all in ``cls``), and their number
    per text; the word and pair tables (grown where needed) come back with them."""
    n = len(offsets) - 1
    tok = np.empty(len(data) // 4 + 16, np.int32)
    ntok = np.zeros(n, np.int64)
    w = np.empty(64, np.uint32)
    longest = 0
    for d in range(n):
        longest = max(longest, offsets[d + 1] - offsets[d])
    buf = np.empty(longest + 80, np.uint8)
    d, i, m = 0, offsets[0] if n else 0, 0
    while True:
        d, i, m, nwords, need = _words(data, offsets, d, i, m, tok, ntok, cls, num_buckets,
                                       wslots, wbits, whash, woff, wbucket, arena, nwords,
                                       buf, w)  # fmt: skip
        if d == n:
            break
        if m == len(tok):  # grow what is full
            tok = np.concatenate((tok, np.empty(len(tok), np.int32)))
        if nwords + 2 > len(whash):
            size = 2 * len(whash)
            whash = np.concatenate((whash, np.zeros(size - len(whash), np.uint64)))
            woff = np.concatenate((woff, np.zeros(size + 1 - len(woff), np.int64)))
            wbucket = np.concatenate((wbucket, np.zeros(size - len(wbucket), np.int32)))
        if woff[nwords] + need > len(arena):
            arena = np.concatenate((arena, np.zeros(len(arena) + need, np.uint8)))
        if 2 * (nwords + 1) > len(wslots):
            wbits += 1
            wslots = _word_slots(whash, nwords, wbits)
    per_text = np.where(ntok > 0, 2 * ntok - 1, 0)
    out = np.empty(per_text.sum(), np.int32)
    first = np.cumsum(ntok) - ntok
    at = np.cumsum(per_text) - per_text + ntok  # where each text's bigrams start
    for d in range(n):
        for k in range(ntok[d]):
            out[at[d] - ntok[d] + k] = wbucket[tok[first[d] + k]]
    longest = 0
    for c in range(nwords):
        longest = max(longest, woff[c + 1] - woff[c])
    buf = np.empty(2 * longest + 80, np.uint8)
    d, k = 0, 0
    while True:
        d, k, npairs = _pairs(tok, ntok, first, at, d, k, out, woff, arena, num_buckets,
                              pairs, pbits, npairs, buf, w)  # fmt: skip
        if d == n:
            break
        pbits += 1
        pairs = _pair_slots(pairs, pbits)
    return (
        out, per_text, wslots, wbits, whash, woff, wbucket, arena, nwords,
        pairs, pbits, npairs,
    )  # fmt: skip


@njit(cache=True)
def row_sums(index, offsets, table):
    """``out[r] = table[index[offsets[r]:offsets[r + 1]]].sum(axis=0)`` for every row ``r``,
    summed in order."""
    n, k = len(offsets) - 1, table.shape[1]
    out = np.zeros((n, k), np.float64)
    for r in range(n):
        for j in range(offsets[r], offsets[r + 1]):
            b = index[j]
            for t in range(k):
                out[r, t] += table[b, t]
    return out


def lowered_utf8(texts: pa.Array) -> tuple[np.ndarray, np.ndarray, bool]:
    """(UTF-8 bytes, offsets as int64, whether any is not ASCII) of ``texts`` lower-cased
    as Python's ``str.lower`` does (nulls: empty)."""
    texts = pc.fill_null(texts, "")
    ascii_ = pc.string_is_ascii(texts)
    low = pc.ascii_lower(texts)
    wide = not pc.all(ascii_).as_py() if len(texts) else False
    if wide:
        mask = pc.invert(ascii_)
        fixed = [t.lower() for t in texts.filter(mask).to_pylist()]
        low = pc.replace_with_mask(low, mask, pa.array(fixed, low.type))
    offsets, data = string_buffers(low)
    return data, offsets, wide


class NgramTables:
    """The distinct words and word pairs seen so far, and their buckets."""

    LIMIT = 4_000_000  # distinct words or pairs, then the tables start afresh

    _classes: np.ndarray | None = None  # per code point: WORD, SPACE or OTHER (0: not yet)

    def __init__(self, num_buckets: int) -> None:
        self.num_buckets = num_buckets
        self._reset()
        if NgramTables._classes is None:
            cls = np.zeros(0x110000, np.uint8)
            _classify(cls, np.arange(128))
            NgramTables._classes = cls

    def _reset(self) -> None:
        self.words = [np.full(1 << 14, -1, np.int32), 14, np.zeros(4096, np.uint64),
                      np.zeros(4097, np.int64), np.zeros(4096, np.int32),
                      np.zeros(1 << 16, np.uint8), 0]  # fmt: skip
        self.pairs = [np.full(2 << 20, -1, np.int64), 20, 0]

    def batch(self, texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """(bucket of every unigram and bigram, n-grams per text), texts in order."""
        if max(self.words[-1], self.pairs[-1]) > self.LIMIT:
            self._reset()
        data, offsets, wide = lowered_utf8(texts)
        cls = NgramTables._classes
        if wide:
            _classify(cls, unseen_code_points(data, cls))
        out, per_text, *state = featurize(
            data, offsets, cls, self.num_buckets, *self.words, *self.pairs
        )
        self.words, self.pairs = state[:7], state[7:]
        return out, per_text


def _classify(cls: np.ndarray, code_points: np.ndarray) -> None:
    for cp in code_points.tolist():
        ch = chr(cp)
        cls[cp] = WORD if _WORD_RX.match(ch) else SPACE if _SPACE_RX.match(ch) else OTHER
