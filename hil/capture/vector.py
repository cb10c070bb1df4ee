"""Count bulk TCP segments a batch at a time with numpy; everything else goes one by one.

Importing this module fails without numpy; the analyzer then reads every packet with the
per-packet engine (:meth:`hil.capture.analyze._Analyzer.packet`), with the same results.

For one :class:`~hil.capture.pcap.Batch`, :func:`process`:

1. copies the first 108 bytes of every record at once and reads them as fields: link
   header (Ethernet with at most one VLAN tag, Linux SLL and SLL2, raw IP), IPv4 without
   options or fragmentation or IPv6 without extension headers, TCP. Such a segment is
   *fast*; anything else (UDP, IP options, IPv6 extension headers, fragments, other link
   types, malformed frames) is *slow*;
2. groups the fast segments by direction key (addresses and ports: 12 bytes for IPv4, 36
   for IPv6, as the flow table keys them) with one stable sort and exact comparisons,
   and looks each key up once in the flow table;
3. round 1, in capture order: every slow packet, and the fast segments that may create a
   flow or start a new one on their ports: the first segment of a key without a flow
   (named from the DNS answers seen before it, so order matters), every segment of a
   key or of its reverse up to the key's last SYN without ACK, every segment of DNS over
   TCP. A first segment whose flow was created earlier in the round (a SYN+ACK after its
   SYN) and has nothing to read is left to step 5;
4. round 2, key by key: segments with payload (or SYN) on a direction that was watched,
   or whose flow is new, a few at a time, until the engine no longer watches that
   direction (the ClientHello is read); the rest of the key's segments go to step 5;
5. adds the remaining segments to their direction's counters, one sum per key.

Counting in step 5 is exact because an unwatched direction does nothing but count and
no flow changes under a key after its last SYN. A SYN the fast path cannot see (in a
slow packet: IP options, IPv6 extension headers, a fragment, two VLAN tags, PPPoE) could
break that, so a batch holding such a packet that is or may be a TCP SYN, or keys whose
hashes collide, goes one by one entirely.
tests/capture/test_capture_engines.py checks both engines agree, batch boundaries
anywhere.
"""

from __future__ import annotations

import functools

import numpy as np

from hil.capture.decode import TCP, ip_header
from hil.capture.pcap import EPB, PCAP, Batch

__all__ = ["first_bad_epb", "first_oversized", "process"]

_MIX = np.uint64(0x9E3779B97F4A7C15)
_SHIFT32 = np.uint64(32)
_SLICE = 4  # watched segments handed to the engine per key at a time
_HEAD = 40 + 20  # IP header (IPv6's, the larger) and TCP header, read per record
_ROW = 28 + 20 + _HEAD  # bytes read per record: pcapng header, SLL2 header, IP and TCP
_V6_EXTENSIONS = np.zeros(256, bool)  # headers the engine walks over to reach TCP
_V6_EXTENSIONS[[0, 43, 44, 51, 60]] = True
_MAX_BLOCK = 64 * 1024 * 1024


def _u32(a: np.ndarray, at: np.ndarray, endian: str) -> np.ndarray:
    """The 32-bit integers at byte offsets ``at`` of ``a``, as int64."""
    every = np.ndarray(shape=(len(a) - 3,), dtype=endian + "u4", buffer=a, strides=(1,))
    return every[at].astype(np.int64)


def _values(small: np.ndarray) -> list[int]:
    """The distinct values of an array of small non-negative integers, in order (as
    np.unique gives them, without its import of numpy.ma, 12 ms a run)."""
    return np.flatnonzero(np.bincount(small)).tolist()


def _col16be(rows: np.ndarray, col: int) -> np.ndarray:
    return (rows[:, col].astype(np.int64) << 8) | rows[:, col + 1]


def _records_view(buf: bytearray, size: int) -> np.ndarray:
    """Every ``_ROW``-byte window of ``buf`` as one opaque item: indexing it with record
    offsets copies each record's first bytes with one memcpy."""
    return np.ndarray(shape=(size - _ROW + 1,), dtype=f"V{_ROW}", buffer=buf, strides=(1,))


@functools.cache
def _header_dtype(layout: str, endian: str) -> np.dtype:
    """The record header fields of a row: captured length (and pcapng interface)."""
    if layout == PCAP:
        return np.dtype({"names": ["caplen"], "formats": [endian + "u4"], "offsets": [8],
                         "itemsize": _ROW})  # fmt: skip
    return np.dtype({"names": ["iface", "caplen"], "formats": [endian + "u4"] * 2,
                     "offsets": [8, 20], "itemsize": _ROW})  # fmt: skip


def _fields_dtype(fields: list[tuple[str, str, int]], at: int, itemsize: int) -> np.dtype:
    return np.dtype({"names": [f[0] for f in fields], "formats": [f[1] for f in fields],
                     "offsets": [at + f[2] for f in fields], "itemsize": itemsize})  # fmt: skip


@functools.cache
def _ip_dtype(at: int, itemsize: int) -> np.dtype:
    """IPv4 (no options) and TCP header fields of a row whose IPv4 header is at ``at``;
    ``key`` is the flow table's key (addresses, ports)."""
    return _fields_dtype([("vihl", "u1", 0), ("total", ">u2", 2), ("frag", ">u2", 6),
                          ("proto", "u1", 9), ("ports", "<u4", 20), ("key", "V12", 12),
                          ("doff", "u1", 32), ("flags", "u1", 33)], at, itemsize)  # fmt: skip


@functools.cache
def _ip6_dtype(at: int, itemsize: int) -> np.dtype:
    """IPv6 (no extension headers) and TCP header fields of a row whose IPv6 header is at
    ``at``; ``key`` is the flow table's key (addresses, ports)."""
    return _fields_dtype([("vtc", "u1", 0), ("plen", ">u2", 4), ("nxt", "u1", 6),
                          ("ports", "<u4", 40), ("key", "V36", 8), ("doff", "u1", 52),
                          ("flags", "u1", 53)], at, itemsize)  # fmt: skip


def first_oversized(positions, after: int, limit: int) -> int | None:
    """:func:`hil.capture.pcap._first_oversized` on many records at once."""
    pos = np.frombuffer(positions, np.int64)
    bad = np.flatnonzero(np.diff(pos, append=after) > limit + 16)
    return int(bad[0]) if len(bad) else None


def first_bad_epb(buf: bytearray, positions, endian: str, n_interfaces: int) -> int | None:
    """Index of the first Enhanced Packet Block that is corrupt (the reader names why)."""
    a = np.frombuffer(buf, np.uint8)
    pos = np.frombuffer(positions, np.int64)
    total = _u32(a, pos + 4, endian)
    bad = (total % 4 != 0) | (total > _MAX_BLOCK)
    bad |= _u32(a, pos + total - 4, endian) != total
    bad |= _u32(a, pos + 20, endian) > total - 32
    bad |= _u32(a, pos + 8, endian) >= n_interfaces
    found = np.flatnonzero(bad)
    return int(found[0]) if len(found) else None


def times(batch: Batch, index: np.ndarray) -> list[float]:
    """Capture times of the records ``index`` of ``batch``, exactly as
    :meth:`Batch.records` computes them."""
    a = np.frombuffer(batch.buf, np.uint8)
    pos = np.frombuffer(batch.pos, np.int64)[index]
    if batch.layout == PCAP:
        sec = _u32(a, pos, batch.endian).astype(np.float64)
        frac = _u32(a, pos + 4, batch.endian).astype(np.float64)
        return (sec + frac / float(batch.units)).tolist()
    ticks = (_u32(a, pos + 12, batch.endian).astype(np.uint64) << _SHIFT32) | _u32(
        a, pos + 16, batch.endian
    ).astype(np.uint64)
    iface = _u32(a, pos + 8, batch.endian)
    out = np.empty(len(pos), np.float64)
    for number, intf in enumerate(batch.interfaces):
        sel = np.flatnonzero(iface == number)
        if not len(sel):
            continue
        if intf.units > 2**53:  # finer than floats can follow: compute as Python does
            records = list(batch.records())
            return [records[i][0] for i in index.tolist()]
        units = np.uint64(intf.units)
        secs = (ticks[sel] // units).astype(np.int64) + intf.tsoffset
        rest = (ticks[sel] % units).astype(np.float64)
        out[sel] = secs.astype(np.float64) + rest / float(intf.units)
    return out.tolist()


_WRAPPERS = (0x8100, 0x88A8, 0x9100, 0x8864)  # VLAN tags, PPPoE: IP may hide inside


def _version(etype: np.ndarray) -> np.ndarray:
    """4 for the IPv4 ethertype, 6 for IPv6's, else 0."""
    return np.where(etype == 0x0800, 4, np.where(etype == 0x86DD, 6, 0)).astype(np.int8)


def _network(rows: np.ndarray, frame: int,
             linktype: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """For frames of one link type (the frame starting at column ``frame`` of each row):
    where an IP header starts, its version as the link layer says it (4, 6, else 0), and
    whether the frame is wrapped deeper than read here (two VLAN tags, PPPoE), so it may
    carry IP after all."""
    n = len(rows)
    none = np.zeros(n, bool)
    if linktype == 1:  # Ethernet, with at most one VLAN tag here
        etype = _col16be(rows, frame + 12)
        tagged = (etype == 0x8100) | (etype == 0x88A8) | (etype == 0x9100)
        if not tagged.any():
            return np.full(n, frame + 14, np.int64), _version(etype), etype == 0x8864
        inner = np.where(tagged, _col16be(rows, frame + 16), etype)
        return frame + 14 + 4 * tagged, _version(inner), np.isin(inner, _WRAPPERS)
    if linktype in (113, 276):  # Linux cooked capture, v1 and v2
        at = frame + 14 if linktype == 113 else frame
        etype = _col16be(rows, at)
        start = frame + (16 if linktype == 113 else 20)
        return np.full(n, start, np.int64), _version(etype), np.isin(etype, _WRAPPERS)
    if linktype == 101:  # raw IP
        nibble = rows[:, frame] >> 4
        version = np.where((nibble == 4) | (nibble == 6), nibble, 0).astype(np.int8)
        return np.full(n, frame, np.int64), version, none
    if linktype in (228, 229):  # raw IPv4, raw IPv6
        return np.full(n, frame, np.int64), np.full(n, 4 if linktype == 228 else 6, np.int8), none
    return np.full(n, frame, np.int64), np.zeros(n, np.int8), none


def _may_start_connection(batch: Batch, a: np.ndarray, l3: np.ndarray, hl: np.ndarray,
                          odd: np.ndarray, later: np.ndarray, walk: np.ndarray,
                          wrapped: np.ndarray, linktypes: np.ndarray | None) -> bool:  # fmt: skip
    """Whether a packet the fast path leaves to the engine could be a SYN starting a new
    connection on a key the fast path counts: the batch must then go one by one.

    ``odd``: TCP over IPv4 with options or fragmented, or over IPv6 but not fast
    (malformed), whose flags lie at ``l3 + hl + 13``; ``later``: a later IPv4 fragment (its
    TCP header is not in sight); ``walk``: IPv6 with extension headers, which the engine's
    decoder walks here (they are rare); ``wrapped``: IP maybe, deeper than read."""
    if wrapped.any() or later.any():
        return True
    if odd.any():
        at = np.flatnonzero(odd)
        flags = a[np.minimum(l3[at] + hl[at] + 13, len(a) - 1)]
        if ((flags & 0x12) == 0x02).any():
            return True
    if not walk.any():
        return False
    buf = batch.buf
    for _ts, linktype, start, caplen in _records(batch, np.flatnonzero(walk), linktypes):
        ip = ip_header(linktype, buf, start, start + caplen)
        if ip is None or ip[0] != TCP:
            continue
        _proto, _src, _dst, l4, cap_end, _wire_end, frag = ip
        if frag is not None and frag[1]:
            return True  # a later fragment: its TCP header is not in sight
        if l4 + 14 > cap_end or (buf[l4 + 13] & 0x12) == 0x02:
            return True
    return False


def process(an, batch: Batch) -> None:
    """Account every packet of ``batch`` in the analyzer ``an``; see the module doc."""
    buf = batch.buf
    a = np.frombuffer(buf, np.uint8)
    pos = np.frombuffer(batch.pos, np.int64)
    m = len(pos)
    if batch.layout not in (PCAP, EPB):
        _one_by_one(an, batch, np.arange(m))
        return
    frame = 16 if batch.layout == PCAP else 28  # record header before the frame
    # Each record's first bytes (record header, link header, IP and TCP headers), one
    # copy per record; the fields below are views into these rows.
    rows = _records_view(buf, len(a))[pos].view(np.uint8).reshape(m, _ROW)
    linktypes = None
    head_fields = _header_dtype(batch.layout, batch.endian)
    record = rows.view(head_fields).ravel()
    caplen = record["caplen"].astype(np.int64)
    if batch.layout == PCAP:
        rel, version, wrapped = _network(rows, frame, batch.linktype)
    else:
        per_iface = np.array([i.linktype for i in batch.interfaces], np.int64)
        linktypes = per_iface[record["iface"]]
        rel = np.empty(m, np.int64)
        version = np.empty(m, np.int8)
        wrapped = np.empty(m, bool)
        for linktype in _values(linktypes):
            sel = np.flatnonzero(linktypes == linktype)
            rel[sel], version[sel], wrapped[sel] = _network(rows[sel], frame, linktype)
    # The IP header and the TCP header after it (no IPv4 options, no IPv6 extension
    # headers here), read both as IPv4 and as IPv6 fields.
    low, high = int(rel.min()), int(rel.max())
    if low == high:
        head, at, width = rows, low, _ROW
    else:
        head, at, width = np.empty((m, _HEAD), np.uint8), 0, _HEAD
        for off in _values(rel):
            sel = np.flatnonzero(rel == off)
            head[sel] = rows[sel, off : off + _HEAD]
    ip = head.view(_ip_dtype(at, width)).ravel()
    ip6 = head.view(_ip6_dtype(at, width)).ravel()
    l3 = pos + rel
    fend = pos + frame + caplen
    v6 = (version == 6) & ((ip6["vtc"] >> 4) == 6)
    total = ip["total"].astype(np.int64)
    tcp4 = (version == 4) & ((ip["vihl"] >> 4) == 4) & (ip["proto"] == 6)
    tcp6 = v6 & (ip6["nxt"] == 6)
    ok = (tcp4 & (ip["vihl"] == 0x45) & ((ip["frag"] & 0x3FFF) == 0)) | tcp6
    hl = np.where(v6, 40, 20)  # the IP header of a fast segment
    if v6.any():
        plen = ip6["plen"].astype(np.int64)
        wire_end = np.where(v6, np.where(plen == 0, fend, l3 + 40 + plen),
                            np.where(total == 0, fend, l3 + total))  # fmt: skip
        doff = np.where(v6, ip6["doff"], ip["doff"])
    else:
        wire_end = np.where(total == 0, fend, l3 + total)
        doff = ip["doff"]
    cap_end = np.minimum(fend, wire_end)
    p0 = l3 + hl + (doff >> 4).astype(np.int64) * 4
    ok &= (l3 + hl + 20 <= cap_end) & (p0 >= l3 + hl + 20) & (p0 <= cap_end)
    ok &= v6 | (total == 0) | (total >= 20)
    fast = np.flatnonzero(ok)
    n = len(fast)
    odd = (tcp4 | tcp6) & ~ok
    later = tcp4 & ((ip["frag"] & 0x1FFF) != 0)
    walk = v6 & _V6_EXTENSIONS[ip6["nxt"]] if v6.any() else v6
    ihl = np.where(tcp6, 40, (ip["vihl"] & 0x0F).astype(np.int64) * 4)  # as the header says
    if not n or _may_start_connection(batch, a, l3, ihl, odd, later, walk, wrapped, linktypes):
        _one_by_one(an, batch, np.arange(m), linktypes)
        return
    pick = slice(None) if n == m else fast  # usually every packet is fast
    six = v6[pick]
    # Direction keys: addresses and ports, 12 bytes (IPv4) or 36 (IPv6), zero-padded to
    # 16 or 40 (IPv6 keys marked in the last 4) and read as 64-bit words. A stable sort
    # of a hash of the key brings each key's packets together, in capture order; exact
    # comparisons of the neighbours then draw the groups.
    words = np.zeros((n, 10 if six.any() else 4), np.uint32)
    words[:, :3] = ip["key"][fast].view(np.uint32).reshape(n, 3)
    if words.shape[1] == 10:
        words[six, :9] = ip6["key"][fast[six]].view(np.uint32).reshape(-1, 9)
        words[six, 9] = 1
        ports = np.where(six, ip6["ports"][pick], ip["ports"][pick])
        flags = np.where(six, ip6["flags"][pick], ip["flags"][pick])
    else:
        ports = ip["ports"][pick]
        flags = ip["flags"][pick]
    wide = words.view(np.uint64)
    hashes = wide[:, 0].copy()
    for col in range(1, wide.shape[1]):
        hashes *= _MIX
        hashes ^= wide[:, col]
    hashes *= _MIX  # the last word (the ports) reaches the upper bits kept below
    # A stable sort of the hashes, done as a quicker unstable sort of unique values: the
    # hash's upper bits, then the packet's index (a collision of the upper bits is a
    # collision as any other, caught below).
    bits = np.uint64(max(n - 1, 1).bit_length())
    hashes >>= bits
    hashes <<= bits
    hashes |= np.arange(n, dtype=np.uint64)
    order = np.argsort(hashes)
    ordered = wide[order]
    # A group starts where a key differs from the one before it in any word: the words'
    # differences OR-ed column by column (a third of np.any(axis=1)'s time on 5 columns).
    differ = ordered[1:, 0] ^ ordered[:-1, 0]
    for col in range(1, ordered.shape[1]):
        differ |= ordered[1:, col] ^ ordered[:-1, col]
    starts_mask = np.empty(n, bool)
    starts_mask[0] = True
    np.not_equal(differ, 0, out=starts_mask[1:])
    starts = np.flatnonzero(starts_mask)
    group = np.empty(n, np.int64)
    group[order] = np.cumsum(starts_mask) - 1  # group of each fast packet
    first = order[starts]  # each group's first packet, as an index into `fast`
    n_groups = len(starts)
    row = words.shape[1] * 4
    blob = words[first].tobytes()
    keys = [blob[i : i + (36 if wide_key else 12)]
            for i, wide_key in zip(range(0, len(blob), row), six[first].tolist(),
                                   strict=True)]  # fmt: skip
    index_of = dict(zip(keys, range(n_groups), strict=True))
    if len(index_of) != n_groups:  # two keys' hashes met and interleaved: go one by one
        _one_by_one(an, batch, np.arange(m), linktypes)
        return
    table = an.table.tcp
    state = np.array([0 if d is None else (1 if d.watch else 2) for d in map(table.get, keys)],
                     np.int8)  # fmt: skip
    # A SYN without ACK may start a new flow on its key: up to the last one, the key and
    # its reverse go one by one.
    cut = np.full(n_groups, -1, np.int64)
    syn = np.flatnonzero((flags & 0x12) == 0x02)
    if len(syn):
        at = fast[syn]
        np.maximum.at(cut, group[syn], at)
        for g, s_at in zip(group[syn].tolist(), at.tolist(), strict=True):
            r = index_of.get(_reverse(keys[g]))
            if r is not None and cut[r] < s_at:
                cut[r] = s_at
    payload = (wire_end - p0)[pick]
    # A segment without payload or SYN does nothing on a watched direction but count.
    inert = (payload == 0) & ((flags & 0x02) == 0)
    # After a SYN the key may belong to a new flow: its direction's state is unknown then.
    state[cut >= 0] = np.minimum(state[cut >= 0], 1)
    gcut = cut[group]
    gstate = state[group]
    # Round 1, in capture order with every slow packet: the first segment of a key
    # without a flow (it creates one, named from the DNS answers seen before it), every
    # segment up to the key's last SYN, every segment of DNS over TCP.
    dns = ((ports & 0xFFFF) == 0x3500) | ((ports >> 16) == 0x3500)  # port 53, big-endian
    new_first = np.zeros(len(fast), bool)
    new_first[first[state == 0]] = True
    dns_group = dns[first][group]
    ordered_mask = (fast <= gcut) | new_first | dns_group
    slow = ~ok
    slow[fast[ordered_mask]] = True
    # A first segment whose flow an earlier one of this round created (a SYN+ACK after
    # its SYN) has nothing left to do but count, once its turn comes.
    may_skip = np.full(m, -1, np.int64)
    skip = new_first & (fast > gcut) & ~dns_group
    may_skip[fast[skip]] = group[skip]
    quiet = np.zeros(m, bool)
    quiet[fast] = inert
    skipped = _one_by_one(an, batch, np.flatnonzero(slow), linktypes, may_skip, quiet, keys)
    # Round 2, flow by flow: segments with payload on a direction that was watched (or
    # had no flow), until the engine no longer watches it; the rest are counted in bulk.
    maybe = ~ordered_mask & ~inert & (gstate != 2)
    bulk = ~ordered_mask
    if skipped:
        bulk[np.searchsorted(fast, skipped)] = True
    if maybe.any():
        picked = order[maybe[order]]  # by group, in capture order within a group
        taken = _watched(an, batch, picked, group, fast, keys, linktypes, n_groups)
        bulk[taken] = False
    if not bulk.any():
        return
    counts = np.add.reduceat(bulk[order].astype(np.int64), starts)
    sums = np.add.reduceat(np.where(bulk, payload, 0)[order], starts)
    lasts = np.maximum.reduceat(np.where(bulk, fast, -1)[order], starts)
    hit = np.flatnonzero(counts)
    stamps = times(batch, lasts[hit])
    totals = zip(hit.tolist(), counts[hit].tolist(), sums[hit].tolist(), stamps, strict=True)
    for g, n, size, ts in totals:
        d = table[keys[g]]
        d.packets += n
        d.bytes += size
        if ts > d.last:
            d.last = ts


def _reverse(key: bytes) -> bytes:
    """The key of the other direction: addresses swapped, ports swapped."""
    n = (len(key) - 4) // 2
    return key[n : 2 * n] + key[:n] + key[2 * n + 2 :] + key[2 * n : 2 * n + 2]


def _watched(an, batch: Batch, picked: np.ndarray, group: np.ndarray, fast: np.ndarray,
             keys: list[bytes], linktypes: np.ndarray | None,
             n_groups: int) -> list[int]:  # fmt: skip
    """Round 2 of :func:`process`: ``picked`` indexes ``fast``, grouped by key. Hand each
    to the engine while its direction is watched; return the ``fast`` positions taken.

    A direction usually stops being watched after a segment or two (the ClientHello), so
    the segments go in slices of a few per key, the next slice only for keys still
    watched."""
    table = an.table.tcp
    buf = batch.buf
    packet = an.packet
    pgroup = group[picked]
    head = np.empty(len(picked), bool)
    head[0] = True
    np.not_equal(pgroup[1:], pgroup[:-1], out=head[1:])
    at = np.arange(len(picked))
    rank = at - np.maximum.accumulate(np.where(head, at, 0))  # place within its key
    watched = np.ones(n_groups, bool)
    taken: list[int] = []
    low = 0
    while True:
        sel = np.flatnonzero((rank >= low) & (rank < low + _SLICE) & watched[pgroup])
        if not len(sel):
            return taken
        chosen = picked[sel]
        groups = pgroup[sel].tolist()
        records = _records(batch, fast[chosen], linktypes)
        still = []
        skip = -1
        for j, g in enumerate(groups):
            if g == skip:
                continue
            d = table.get(keys[g])
            if d is None or not d.watch:
                skip = g  # decided: the key's later segments are counted in bulk
                continue
            ts, linktype, start, caplen = records[j]
            packet(ts, linktype, buf, start, caplen)
            taken.append(int(chosen[j]))
            if d.watch and (j + 1 == len(groups) or groups[j + 1] != g):
                still.append(g)
        watched[:] = False
        watched[still] = True
        low += _SLICE


def _records(batch: Batch, index: np.ndarray,
             linktypes: np.ndarray | None) -> list[tuple[float, int, int, int]]:  # fmt: skip
    """``(ts, linktype, start, caplen)`` of the records ``index``, as Batch.records."""
    a = np.frombuffer(batch.buf, np.uint8)
    pos = np.frombuffer(batch.pos, np.int64)[index]
    if batch.layout == PCAP:
        starts = (pos + 16).tolist()
        caplens = _u32(a, pos + 8, batch.endian).tolist()
        kinds = [batch.linktype] * len(starts)
    else:
        starts = (pos + 28).tolist()
        caplens = _u32(a, pos + 20, batch.endian).tolist()
        if linktypes is None:
            per_iface = np.array([i.linktype for i in batch.interfaces], np.int64)
            linktypes = per_iface[_u32(a, np.frombuffer(batch.pos, np.int64) + 8, batch.endian)]
        kinds = linktypes[index].tolist()
    return list(zip(times(batch, index), kinds, starts, caplens, strict=True))


def _one_by_one(an, batch: Batch, index: np.ndarray, linktypes: np.ndarray | None = None,
                may_skip: np.ndarray | None = None, quiet: np.ndarray | None = None,
                keys: list[bytes] | None = None) -> list[int]:  # fmt: skip
    """Hand the records ``index`` to the per-packet engine, in order. With ``may_skip``
    (the group of a record that may be left to counting in bulk, or -1), ``quiet`` and
    ``keys``: leave out such a record when its key has a flow by then whose direction is
    not watched or the record has no payload nor SYN; return those left out."""
    if not len(index):
        return []
    buf = batch.buf
    packet = an.packet
    records = _records(batch, index, linktypes)
    if may_skip is None or quiet is None or keys is None:
        for ts, linktype, start, caplen in records:
            packet(ts, linktype, buf, start, caplen)
        return []
    table = an.table.tcp
    skipped = []
    for i, g, calm, (ts, linktype, start, caplen) in zip(
        index.tolist(), may_skip[index].tolist(), quiet[index].tolist(), records, strict=True
    ):
        if g >= 0:
            d = table.get(keys[g])
            if d is not None and (calm or not d.watch):
                skipped.append(i)
                continue
        packet(ts, linktype, buf, start, caplen)
    return skipped
