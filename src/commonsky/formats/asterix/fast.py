"""Fast path: walk ASTERIX records with a Numba kernel and read fields with NumPy, from libasterix's layouts.

libasterix parses about 10,000 records/s in Python. This path turns an edition's UAP (taken from the
generated specification, never written by hand) into small integer tables, walks every record of
every block of one category in compiled code, and notes where each wanted item starts. The field
values are then read for all records at once with NumPy. It follows libasterix's strict parsing
rules; a block it cannot walk (malformed, or a structure it does not model: RFS, a compound inside a
compound) gets a non-zero status and the caller hands that block to libasterix instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, NamedTuple

import numpy as np
from asterix import base
from numba import njit
from numpy.typing import NDArray

from commonsky.core.arrays import I64
from commonsky.formats.asterix.specs import (
    KIND_ASCII,
    KIND_ICAO,
    KIND_OCTAL,
    KIND_QUANTITY,
    Leaf,
    uap_items,
)

FIXED: Final = 0
EXTENDED: Final = 1
REPEAT: Final = 2
REPEAT_FX: Final = 3
EXPLICIT: Final = 4
COMPOUND: Final = 5
UNSUPPORTED: Final = 6
TOP_SPARE: Final = -1
TOP_RFS: Final = -2
NO_CHILD: Final = -1
NODE_KIND: Final = 0
NODE_A: Final = 1
NODE_B: Final = 2
NODE_C: Final = 3
"""Columns of `Layout.nodes`."""
GROUP_BYTES: Final = 0
GROUP_FX: Final = 1
"""Columns of `Layout.groups`."""

OK: Final = 0
MALFORMED: Final = 1
"""Block status: the fast path found the block malformed (libasterix gives the reason)."""
NOT_MODELLED: Final = 2
"""Block status: the block uses a structure the fast path does not model (libasterix decodes it)."""


class Layout(NamedTuple):
    """An edition's record structure as integer tables, one argument to the kernels (Numba takes named tuples).

    Row `i` of `nodes` is (kind, a, b, c): FIXED a=bytes; EXTENDED groups[a:a+b]; REPEAT a=counter bytes,
    b=element bytes; REPEAT_FX b=element bytes including the FX bit; COMPOUND children[a:a+b], c=maximum FSPEC
    bytes. Row `g` of `groups` is (bytes, 1 if it ends with an FX bit). Few arrays: every call between the
    kernels takes a reference to each array of the tuple, so one table per kind of row keeps the calls cheap.
    """

    top: I64
    nodes: I64
    groups: I64
    children: I64
    fspec_max: int


class _LayoutBuilder:
    """Collects nodes while walking libasterix variation classes."""

    def __init__(self) -> None:
        self.nodes: list[tuple[int, int, int, int]] = []
        self.groups: list[tuple[int, int]] = []
        self.children: list[int] = []

    def add(self, kind: int, a: int = 0, b: int = 0, c: int = 0) -> int:
        self.nodes.append((kind, a, b, c))
        return len(self.nodes) - 1

    def node(self, rule: Any, nested: bool = False) -> int:
        """Node for a NonSpare's rule; compounds are modelled only at the top level."""
        variation = rule.cv_default_variation if issubclass(rule, base.RuleVariationDependent) else rule.cv_variation
        return self._variation(variation, nested)

    def _variation(self, v: Any, nested: bool) -> int:
        if issubclass(v, base.Element | base.Group):
            return self.add(FIXED, v.cv_bit_size // 8) if v.cv_bit_size % 8 == 0 else self.add(UNSUPPORTED)
        if issubclass(v, base.Extended):
            sizes = [sum(1 if e is None else e[1] for e in group) for group in v.cv_items_list]
            if any(s % 8 for s in sizes):
                return self.add(UNSUPPORTED)
            start = len(self.groups)
            self.groups.extend((s // 8, int(g[-1] is None)) for s, g in zip(sizes, v.cv_items_list, strict=True))
            return self.add(EXTENDED, start, len(sizes))
        if issubclass(v, base.Repetitive):
            element = v.cv_variation
            if not issubclass(element, base.Element | base.Group):
                return self.add(UNSUPPORTED)
            if v.cv_rep_bytes is None:
                bits = element.cv_bit_size + 1
                return self.add(REPEAT_FX, 0, bits // 8) if bits % 8 == 0 else self.add(UNSUPPORTED)
            bits = element.cv_bit_size
            return self.add(REPEAT, v.cv_rep_bytes, bits // 8) if bits % 8 == 0 else self.add(UNSUPPORTED)
        if issubclass(v, base.Explicit):
            return self.add(EXPLICIT)
        if issubclass(v, base.Compound) and not nested:
            kids = [NO_CHILD if nsp is None else self.node(nsp.cv_rule, nested=True) for nsp in v.cv_items_list]
            start = len(self.children)
            self.children.extend(kids)
            return self.add(COMPOUND, start, len(kids), v.cv_fspec_max_bytes)
        return self.add(UNSUPPORTED)


def build_layout(spec: Any) -> Layout:
    """The kernel tables of a libasterix category edition (UapSingle categories only)."""
    builder = _LayoutBuilder()
    top: list[int] = []
    for uap_item in uap_items(spec):
        if issubclass(uap_item, base.UapItem):
            top.append(builder.node(uap_item.cv_non_spare.cv_rule))
        else:
            top.append(TOP_RFS if issubclass(uap_item, base.UapItemRFS) else TOP_SPARE)
    return Layout(
        top=np.array(top, dtype=np.int64),
        nodes=np.array(builder.nodes, dtype=np.int64).reshape(-1, 4),
        groups=np.array(builder.groups, dtype=np.int64).reshape(-1, 2),
        children=np.array(builder.children, dtype=np.int64),
        fspec_max=int(spec.cv_uap.cv_record.cv_fspec_max_bytes),
    )


@njit(cache=True)
def _fspec_bytes(buf: NDArray[np.uint8], pos: int, end: int, max_bytes: int) -> int:
    """Length of the FSPEC at `pos` (bytes up to one with FX=0), or -1 when too long or cut short."""
    n = 0
    while True:
        if pos + n >= end:
            return -1
        more = buf[pos + n] & 1
        n += 1
        if not more:
            break
    return -1 if n > max_bytes else n


@njit(cache=True)
def _simple_end(node: int, layout: Layout, buf: NDArray[np.uint8], pos: int, end: int) -> int:
    """End of a non-compound item starting at `pos`; -1 malformed, -2 not modelled."""
    nodes, groups = layout.nodes, layout.groups
    k = nodes[node, NODE_KIND]
    a = nodes[node, NODE_A]
    b = nodes[node, NODE_B]
    if k == FIXED:
        return pos + a if pos + a <= end else -1
    if k == EXTENDED:
        last = a + b - 1
        for g in range(a, last + 1):
            pos += groups[g, GROUP_BYTES]
            if pos > end:
                return -1
            if groups[g, GROUP_FX] == 0 or (buf[pos - 1] & 1) == 0:
                return pos
            if g == last:
                return -1
        return pos
    if k == REPEAT:
        width = a
        if pos + width > end:
            return -1
        count = 0
        for i in range(width):
            count = count * 256 + buf[pos + i]
        pos += width + count * b
        return pos if pos <= end else -1
    if k == REPEAT_FX:
        while True:
            pos += b
            if pos > end:
                return -1
            if (buf[pos - 1] & 1) == 0:
                return pos
    if k == EXPLICIT:
        if pos >= end:
            return -1
        n = buf[pos]
        if n == 0 or pos + n > end:
            return -1
        return pos + n
    return -2


@njit(cache=True)
def scan_records(
    buf: NDArray[np.uint8],
    starts: I64,
    ends: I64,
    layout: Layout,
    top_want: I64,
    sub_want: I64,
    n_want: int,
) -> tuple[NDArray[np.int8], I64, I64, I64]:
    """Walk every record of every block [starts[i], ends[i]) (header included).

    Returns (status per block, item start per record and wanted item, item length likewise,
    block index per record). Records of a block whose status is not OK are dropped.
    """
    n_blocks = len(starts)
    status = np.zeros(n_blocks, np.int8)
    total = 0
    for i in range(n_blocks):
        total += ends[i] - starts[i]
    cap = max(64, total // 12)
    where = np.empty((cap, max(n_want, 1)), np.int64)
    size = np.empty((cap, max(n_want, 1)), np.int64)
    block_of = np.empty(cap, np.int64)
    n = 0
    top, nodes = layout.top, layout.nodes
    n_top = len(top)
    for bi in range(n_blocks):
        p = starts[bi] + 3
        end = ends[bi]
        first_row = n
        st = OK
        while p < end and st == OK:
            if n == cap:
                cap *= 2
                w2 = np.empty((cap, where.shape[1]), np.int64)
                s2 = np.empty((cap, where.shape[1]), np.int64)
                b2 = np.empty(cap, np.int64)
                w2[:n] = where[:n]
                s2[:n] = size[:n]
                b2[:n] = block_of[:n]
                where, size, block_of = w2, s2, b2
            for k in range(n_want):
                where[n, k] = -1
                size[n, k] = 0
            block_of[n] = bi
            nf = _fspec_bytes(buf, p, end, layout.fspec_max)
            if nf < 0:
                st = MALFORMED
                break
            q = p + nf
            for byte_i in range(nf):
                flags = buf[p + byte_i]
                for bit in range(7):
                    if st != OK:
                        break
                    if not (flags >> (7 - bit)) & 1:
                        continue
                    slot = byte_i * 7 + bit
                    if slot >= n_top or top[slot] == TOP_SPARE:
                        st = MALFORMED
                        break
                    node = top[slot]
                    if node == TOP_RFS or nodes[node, NODE_KIND] == UNSUPPORTED:
                        st = NOT_MODELLED
                        break
                    if nodes[node, NODE_KIND] == COMPOUND:
                        q2 = _compound_end(node, layout, buf, q, end, sub_want, where, size, n)
                    else:
                        q2 = _simple_end(node, layout, buf, q, end)
                    if q2 < 0:
                        st = MALFORMED if q2 == -1 else NOT_MODELLED
                        break
                    w = top_want[slot]
                    if w >= 0:
                        where[n, w] = q
                        size[n, w] = q2 - q
                    q = q2
            if st == OK:
                n += 1
                p = q
        status[bi] = st
        if st != OK:
            n = first_row
    return status, where[:n, :n_want], size[:n, :n_want], block_of[:n]


@njit(cache=True)
def _compound_end(
    node: int,
    layout: Layout,
    buf: NDArray[np.uint8],
    pos: int,
    end: int,
    sub_want: I64,
    where: I64,
    size: I64,
    row: int,
) -> int:
    """End of a compound item at `pos`, noting wanted subitems in row `row`; -1 malformed, -2 not modelled."""
    nodes, children = layout.nodes, layout.children
    first = nodes[node, NODE_A]
    count = nodes[node, NODE_B]
    nf = _fspec_bytes(buf, pos, end, nodes[node, NODE_C])
    if nf < 0:
        return -1
    q = pos + nf
    for byte_i in range(nf):
        flags = buf[pos + byte_i]
        for bit in range(7):
            if not (flags >> (7 - bit)) & 1:
                continue
            slot = byte_i * 7 + bit
            if slot >= count or children[first + slot] == NO_CHILD:
                return -1
            child = children[first + slot]
            if nodes[child, NODE_KIND] == UNSUPPORTED or nodes[child, NODE_KIND] == COMPOUND:
                return -2
            q2 = _simple_end(child, layout, buf, q, end)
            if q2 < 0:
                return q2
            w = sub_want[first + slot]
            if w >= 0:
                where[row, w] = q
                size[row, w] = q2 - q
            q = q2
    return q


@dataclass(frozen=True)
class Scanner:
    """A category edition's layout plus the items its fields live in, ready to scan blocks."""

    layout: Layout
    leaves: tuple[Leaf, ...]
    top_want: NDArray[np.int64]
    sub_want: NDArray[np.int64]
    column_of: tuple[int, ...]
    """Per leaf: its column in the kernel's item-position output."""

    @classmethod
    def build(cls, spec: Any, leaves: list[Leaf]) -> Scanner:
        """Tables for `spec` that note the positions of the items holding `leaves`."""
        layout = build_layout(spec)
        top_want = np.full(len(layout.top), -1, np.int64)
        sub_want = np.full(len(layout.children), -1, np.int64)
        columns: dict[tuple[int, int], int] = {}
        for leaf in leaves:
            key = (leaf.frn, leaf.slot)
            if key in columns:
                continue
            columns[key] = len(columns)
            if leaf.slot < 0:
                top_want[leaf.frn - 1] = columns[key]
            else:
                node = layout.top[leaf.frn - 1]
                sub_want[layout.nodes[node, NODE_A] + leaf.slot] = columns[key]
        column_of = tuple(columns[(leaf.frn, leaf.slot)] for leaf in leaves)
        return cls(layout, tuple(leaves), top_want, sub_want, column_of)

    def scan(
        self, buf: NDArray[np.uint8], starts: NDArray[np.int64], ends: NDArray[np.int64]
    ) -> tuple[NDArray[np.int8], dict[str, NDArray[Any]], NDArray[np.int64]]:
        """Status per block, field columns of the records of OK blocks, and each record's block index."""
        n_want = len(set(self.column_of))
        status, where, size, block_of = scan_records(
            buf, starts, ends, self.layout, self.top_want, self.sub_want, n_want
        )
        fields = {
            leaf.field.name: read_leaf(buf, where[:, col], size[:, col], leaf)
            for leaf, col in zip(self.leaves, self.column_of, strict=True)
        }
        return status, fields, block_of


_ICAO_CHARS = np.array([ord(base.StringICAO.to_char(i) or "\0") for i in range(64)], dtype=np.uint8)
"""6-bit ICAO character code -> ASCII byte (0 for codes libasterix maps to no character)."""


def read_leaf(buf: NDArray[np.uint8], where: NDArray[np.int64], size: NDArray[np.int64], leaf: Leaf) -> NDArray[Any]:
    """One field for every record: floats (NaN absent), ints (-1 absent) or str ("" absent)."""
    present = (where >= 0) & (size >= leaf.min_bytes)
    first = leaf.bit_offset // 8
    n_bytes = (leaf.bit_offset % 8 + leaf.bit_size + 7) // 8
    index = np.where(present, where + first, 0)
    raw = np.zeros(len(where), dtype=np.uint64)
    for j in range(n_bytes):
        raw = (raw << np.uint64(8)) | buf[np.minimum(index + j, len(buf) - 1)].astype(np.uint64)
    raw >>= np.uint64(n_bytes * 8 - leaf.bit_offset % 8 - leaf.bit_size)
    raw &= np.uint64((1 << leaf.bit_size) - 1)
    if leaf.kind == KIND_ICAO:
        return _strings(raw, present, 6, leaf.bit_size, _ICAO_CHARS)
    if leaf.kind == KIND_ASCII:
        return _strings(raw, present, 8, leaf.bit_size, np.arange(256, dtype=np.uint8))
    if leaf.kind == KIND_OCTAL:
        digits = np.zeros(len(raw), dtype=np.int64)
        for d in range(leaf.bit_size // 3 - 1, -1, -1):
            digits = digits * 10 + ((raw >> np.uint64(3 * d)) & np.uint64(7)).astype(np.int64)
        return np.where(present, digits, -1)
    value = raw.astype(np.int64)
    if leaf.signed:
        value = np.where(value >= 1 << (leaf.bit_size - 1), value - (1 << leaf.bit_size), value)
    if leaf.kind == KIND_QUANTITY:
        return np.where(present, value * leaf.lsb, np.nan)
    return np.where(present, value, -1)


def _strings(
    raw: NDArray[np.uint64], present: NDArray[np.bool_], bits: int, total: int, table: NDArray[np.uint8]
) -> NDArray[np.str_]:
    """Fixed-width character codes to strings as libasterix's `as_string` reads them, NULs dropped, stripped."""
    n_chars = total // bits
    codes = np.empty((len(raw), n_chars), dtype=np.uint8)
    for i in range(n_chars):
        shift = np.uint64(bits * (n_chars - 1 - i))
        codes[:, i] = table[((raw >> shift) & np.uint64((1 << bits) - 1)).astype(np.intp)]
    codes[~present] = 0
    hole = (codes[:, :-1] == 0) & (codes[:, 1:] != 0)
    special = np.flatnonzero(hole.any(axis=1) | (codes > 127).any(axis=1))
    codes[special] = 0
    text = np.char.strip(codes.view(f"S{n_chars}").ravel().astype(f"U{n_chars}"))
    for row in special:
        chars = codes_of(raw[row], bits, n_chars, table)
        text[row] = bytes(c for c in chars if c).decode("latin-1").strip()
    return text


def codes_of(raw: np.uint64, bits: int, n_chars: int, table: NDArray[np.uint8]) -> list[int]:
    """Character bytes of one fixed-width string value (for the rare rows with embedded NULs or high bytes)."""
    mask = (1 << bits) - 1
    return [int(table[(int(raw) >> (bits * (n_chars - 1 - i))) & mask]) for i in range(n_chars)]
