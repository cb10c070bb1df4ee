"""hil.capture.jsontext writes what json.dump writes with indent=2, in few large writes."""

from __future__ import annotations

import io
import json
import math
import random

import pytest
from capture_frames import Tcp, pcap

from hil.capture import jsontext, report
from hil.sim import packets as pk


class CountingStream(io.StringIO):
    """A text stream that counts the calls to write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


SCALARS = [0, 1, -7, 2**70, 0.0, -0.0, 1.5, 1e300, 1700000000.123456, math.nan, math.inf,
           -math.inf, True, False, None, "", "plain", "é ü ß", "quote \" back\\slash",
           "tab\tnew\nline", "\x00\x1f", "emoji 😀", "%s %d %%"]  # fmt: skip


def random_doc(rng: random.Random, depth: int = 0):
    roll = rng.random()
    if depth > 3 or roll < 0.4:
        return rng.choice(SCALARS)
    if roll < 0.6:
        return [random_doc(rng, depth + 1) for _ in range(rng.randrange(4))]
    if roll < 0.7:
        return tuple(random_doc(rng, depth + 1) for _ in range(rng.randrange(3)))
    if roll < 0.85:  # a list of dicts with the same keys, as the flows are
        keys = rng.sample(["a", "b", "%c", 'q"', "é"], rng.randrange(1, 4))
        return [{k: random_doc(rng, depth + 2) for k in keys} for _ in range(rng.randrange(4))]
    return {rng.choice(["x", "y", "%", "ключ", ""]): random_doc(rng, depth + 1)
            for _ in range(rng.randrange(4))}  # fmt: skip


@pytest.mark.parametrize("seed", range(200))
def test_same_text_as_json_dump(seed):
    doc = random_doc(random.Random(seed))
    assert jsontext.dumps(doc) == json.dumps(doc, indent=2)
    out = io.StringIO()
    jsontext.write(doc, out)
    assert out.getvalue() == json.dumps(doc, indent=2)


def test_mixed_columns_and_dicts_with_other_keys():
    rows = [{"n": 1, "v": 1.0}, {"n": True, "v": None}, {"n": 2, "v": [1, {"k": "x"}]}]
    for doc in (rows, rows + [{"v": 1, "n": 2}], rows + [{"n": 1}], [{}, {}], [[], {}],
                {"flows": rows, "dns": []}):  # fmt: skip
        assert jsontext.dumps(doc) == json.dumps(doc, indent=2)


def test_long_lists_whose_rows_change_shape_across_slices():
    rows = [{"n": i, "s": f"h{i}"} for i in range(5000)]
    rows[3000:3001] = [{"s": "other order", "n": 0}, [1, "not a dict"], 7.5, None]
    doc = {"rows": rows, "plain": list(range(4100))}
    assert jsontext.dumps(doc) == json.dumps(doc, indent=2)


@pytest.mark.parametrize("seed", range(60))
def test_a_table_is_written_as_its_list_of_dicts(seed):
    rng = random.Random(seed)
    keys = rng.sample(["a", "b", "%c", 'q"', "é", "ts"], rng.randrange(1, 5))
    rows = [tuple(random_doc(rng, 2) for _ in keys) for _ in range(rng.choice([0, 1, 5, 4100]))]
    table = jsontext.Table(keys, rows)
    dicts = table.dicts()
    assert dicts == [dict(zip(keys, r, strict=True)) for r in rows]
    cases = (({"t": table, "n": 1}, {"t": dicts, "n": 1}), ([table, table], [dicts, dicts]),
             (table, dicts))  # fmt: skip
    for doc, plain in cases:
        assert jsontext.dumps(doc) == json.dumps(plain, indent=2)
        out = CountingStream()
        jsontext.write(doc, out)
        assert out.getvalue() == json.dumps(plain, indent=2)


def test_a_table_row_of_the_wrong_length_is_refused():
    with pytest.raises(ValueError, match="2 values for 3 keys"):
        jsontext.dumps({"t": jsontext.Table(["a", "b", "c"], [(1, 2)])})
    with pytest.raises(ValueError, match="string keys"):
        jsontext.Table([1], [(1,)])


def test_refuses_what_json_cannot_write():
    with pytest.raises(TypeError):
        jsontext.dumps({"x": object()})
    with pytest.raises(TypeError):
        jsontext.dumps({1: "non-string key"})


def test_large_document_in_few_writes():
    rows = [{"name": f"host{i}.example", "bytes": i * 1000, "ts": 1.7e9 + i / 7, "sni": None}
            for i in range(50_000)]  # fmt: skip
    doc = {"packets": 10**6, "flows": rows, "dns": []}
    out = CountingStream()
    writes = jsontext.write(doc, out)
    text = out.getvalue()
    assert text == json.dumps(doc, indent=2)
    assert out.writes == writes <= len(text) // jsontext.CHUNK + 1


def test_hil_analyze_json_is_json_dump_in_few_writes(tmp_path):
    frames = []
    for n in range(300):
        conn = Tcp(f"203.0.113.{1 + n % 200}", 40000 + n)
        t = conn.open(1_700_000_000.0 + n)
        conn.send(t, "c", pk.ACK, pk.tls_client_hello(f"h{n}.dji.com"))
        conn.send(t + 0.01, "s", pk.ACK, bytes(1000))
        frames += conn.frames
    capture = tmp_path / "many.pcap"
    capture.write_bytes(pcap(frames))
    out, err = CountingStream(), io.StringIO()
    assert report.run(capture, as_json=True, out=out, err=err) == 0
    expected = json.dumps(report.to_json(report.analyze(capture)), indent=2)
    assert out.getvalue() == expected + "\n"
    assert out.writes <= 3
