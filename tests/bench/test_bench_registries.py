"""The registries a bench file is read through: phone backends (`hil.remote.backends`) and
bench kinds (`hil.kinds`). Each error is one line naming the file, the key and the fix."""

import ast
import importlib
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import tomli_w

from hil import bench, kinds
from hil.remote import backends
from hil.remote.agent import AgentApp
from hil.station import make_app

ROOT = Path(__file__).resolve().parents[2]
BENCHES = ROOT / "benches"


def load_with(tmp_path, mutate, name="sim.toml") -> Path:
    raw = tomllib.loads((BENCHES / name).read_text())
    mutate(raw)
    path = tmp_path / "lab.toml"
    path.write_text(tomli_w.dumps(raw))
    return path


def error_of(path: Path) -> str:
    with pytest.raises(bench.BenchError) as e:
        bench.load(path)
    msg = str(e.value)
    assert "\n" not in msg, msg
    return msg


# -- phone backends ----------------------------------------------------------------------

def test_an_unknown_backend_lists_the_known_ones(tmp_path):
    path = load_with(tmp_path, lambda r: r["phone"]["pixel-spark"].update(backend="usb"))
    assert error_of(path) == (f"bench file {path}: phone.pixel-spark.backend: 'usb' is not a "
                              f"phone backend; known: {', '.join(backends.BACKENDS)}")


def test_the_old_sim_backend_says_to_write_agent(tmp_path):
    path = load_with(tmp_path, lambda r: r["phone"]["pixel-spark"].update(backend="sim"))
    assert error_of(path) == (f"bench file {path}: phone.pixel-spark.backend: backend 'sim' "
                              "is now called 'agent': write backend = \"agent\"")


def test_a_key_the_backend_does_not_take_names_the_backend_and_its_keys(tmp_path):
    path = load_with(tmp_path, lambda r: r["phone"]["iphone8"].update(serial="10.20.0.35:5555"),
                     "example-lab.toml")
    assert error_of(path) == (
        f"bench file {path}: phone.iphone8.serial: the agent backend takes no key 'serial'; "
        "its keys: host, port, user, key, known_hosts (and every phone's: backend, ip, "
        "mac, platform, by_hand)")
    path = load_with(tmp_path, lambda r: r["phone"]["pixel4"].update(host="10.20.0.34"),
                     "example-lab.toml")
    assert error_of(path) == (
        f"bench file {path}: phone.pixel4.host: the adb backend takes no key 'host'; "
        "its keys: serial, adb_port, recipes, locale, step_timeout (and every phone's: "
        "backend, ip, mac, platform, by_hand)")


def test_a_backend_key_is_validated_by_its_backend(tmp_path):
    path = load_with(tmp_path, lambda r: r["phone"]["iphone8"].update(port="22"),
                     "example-lab.toml")
    assert error_of(path) == (f"bench file {path}: phone.iphone8.port: must be int, not a "
                              "string '22'")
    path = load_with(tmp_path, lambda r: r["phone"]["iphone8"].pop("user"), "example-lab.toml")
    assert error_of(path) == f"bench file {path}: phone.iphone8.user: missing (expected str)"
    path = load_with(tmp_path, lambda r: r["phone"]["pixel4"].update(adb_port="five"),
                     "example-lab.toml")
    assert error_of(path) == (f"bench file {path}: phone.pixel4.adb_port: 'five' is not a "
                              "port number")
    path = load_with(tmp_path, lambda r: r["phone"]["pixel4"].pop("serial"), "example-lab.toml")
    assert error_of(path) == f"bench file {path}: phone.pixel4.serial: missing (expected str)"


def test_every_registered_backend_declares_its_keys_parse_and_app():
    for name in backends.BACKENDS:
        mod = backends.module(name)
        assert isinstance(mod.KEYS, tuple) and callable(mod.parse) and callable(mod.open_app)
        assert not set(mod.KEYS) & set(bench.PHONE_KEYS), name
        assert mod.__doc__ and "[phone." in mod.__doc__, f"{name}: no config example"


def test_the_agent_backend_keeps_its_ssh_target_as_the_phones_options():
    b = bench.load(BENCHES / "example-lab.toml")
    phone = b.phones["iphone8"]
    assert phone.backend == "agent"
    assert (phone.options.host, phone.options.port, phone.options.user) == \
        ("10.20.0.35", 22, "hil")
    app = make_app(phone)
    assert isinstance(app, AgentApp) and app.ssh.port == 22  # nothing connects before use


# -- bench kinds -------------------------------------------------------------------------

@pytest.mark.parametrize("file, kind", [("sim.toml", "sim"), ("netns.toml", "netns"),
                                        ("example-lab.toml", "real")])
def test_the_kind_of_each_shipped_bench(file, kind):
    b = bench.load(BENCHES / file)
    assert b.kind == kind
    assert (b.sim is None) == (kind == "real")


def test_a_bench_of_two_kinds_is_refused(tmp_path):
    path = load_with(tmp_path, lambda r: r.update(netns={}))
    assert error_of(path) == (f"bench file {path}: netns: a bench is of one kind; this file "
                              "has [sim] and [netns]")


def test_a_real_bench_has_no_kind_table_and_no_sim_placeholders(tmp_path):
    path = load_with(tmp_path, lambda r: r.update(real={}), "example-lab.toml")
    assert "real: unknown key" in error_of(path)
    path = load_with(tmp_path, lambda r: r.pop("sim"))
    assert '"sim" is only allowed in a simulated bench' in error_of(path)


def test_every_kind_with_a_table_has_its_module():
    assert kinds.KINDS["real"] is None and kinds.module("real") is None
    for kind in kinds.TABLES:
        mod = kinds.module(kind)
        where, _, name = mod.RUNNER.rpartition(".")
        runner = getattr(importlib.import_module(where), name)
        assert callable(mod.parse) and callable(runner.start) and callable(runner.stop)
        assert mod.__doc__ and f"[{kind}]" in mod.__doc__, f"{kind}: no config example"


def test_starting_a_real_bench_is_refused():
    with pytest.raises(ValueError, match="is a real bench: nothing to start"):
        kinds.start(bench.load(BENCHES / "example-lab.toml"))


# -- no import circle --------------------------------------------------------------------

def test_reading_bench_files_imports_only_their_kinds_modules():
    """hil.bench knows the kinds and backends by name: importing it, and reading a real
    bench, loads neither the simulator nor the netns bench; a sim bench loads only the sim
    kind's module (not the simulator itself)."""
    code = (
        "import sys\n"
        "def loaded(p): return sorted(m for m in sys.modules if m.startswith(p))\n"
        "import hil.bench as b\n"
        "print(loaded('hil.sim'), loaded('hil.netns'))\n"
        "b.load('benches/example-lab.toml')\n"
        "print(loaded('hil.sim'), loaded('hil.netns'))\n"
        "b.load('benches/sim.toml')\n"
        "print(loaded('hil.sim'), loaded('hil.netns'))\n")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, check=True)
    assert res.stdout.splitlines() == [
        "[] []",
        "[] []",
        "['hil.sim', 'hil.sim.faults', 'hil.sim.kind'] []",
    ]


def imports_of(path: Path) -> set[str]:
    """The hil modules a file imports, anywhere in it (in functions too)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return {m for m in out if m.startswith("hil.") or m == "hil"}


def test_no_import_circle_among_the_bench_modules():
    """Counting imports inside functions too: the bench kinds' modules import hil.bench,
    never the other way round."""
    modules = {p.relative_to(ROOT).with_suffix("").as_posix().replace("/", "."): p
               for p in (ROOT / "hil").rglob("*.py")}
    modules = {m.removesuffix(".__init__"): p for m, p in modules.items()}
    graph = {m: {i for i in imports_of(p) if i in modules and i != m}
             for m, p in modules.items()}
    bench_modules = ["hil.bench", "hil.kinds", "hil.remote.backends", "hil.sim.kind",
                     "hil.sim.bench", "hil.netns.kind", "hil.netns.bench"]

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            m = todo.pop()
            if m == goal and m is not start:
                return True
            if m not in seen:
                seen.add(m)
                todo += graph.get(m, ())
        return False

    for m in bench_modules:
        loop = [n for n in graph[m] if reaches(n, m)]
        assert not loop, f"{m} imports {loop}, which import {m} back"
    for m in ("hil.sim", "hil.netns", "hil.sim.bench", "hil.netns.bench", "hil.sim.kind",
              "hil.netns.kind"):
        assert not reaches("hil.bench", m), f"hil.bench reaches {m}"
