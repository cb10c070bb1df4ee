"""Bench files: the default loads; each kind of bad input names the file, the key, the fix."""

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import tomli_w

from hil import bench

ROOT = Path(__file__).resolve().parents[2]
SIM = ROOT / "benches" / "sim.toml"
EXAMPLE = ROOT / "benches" / "example-lab.toml"


def write(tmp_path, raw) -> Path:
    p = tmp_path / "lab.toml"
    p.write_text(tomli_w.dumps(raw))
    return p


def sim_raw():
    return tomllib.loads(SIM.read_text())


def test_sim_bench_loads_with_all_four_models():
    b = bench.load(SIM)
    assert {a.model.id for a in b.aircraft.values()} == {"spark", "mavic", "phantom4pro",
                                                         "inspire2"}
    assert b.sim is not None and b.sim.faults == ()
    assert b.channel_owners()[0] == "spark aircraft"


def test_host_addresses_are_read_as_a_capture_writes_them(tmp_path):
    raw = sim_raw()
    raw["bench"]["host_addresses"] = ["10.20.0.2", "FD20::0:2", "10.20.0.2"]
    assert bench.load(write(tmp_path, raw)).host_addresses == ("10.20.0.2", "fd20::2")
    del raw["bench"]["host_addresses"]
    assert bench.load(write(tmp_path, raw)).host_addresses == ()


def test_example_real_bench_loads():
    b = bench.load(EXAMPLE)
    assert b.sim is None
    assert b.gateway.ssh.known_hosts == EXAMPLE.parent / "known_hosts"
    assert b.host_addresses == ("10.20.0.2",)


@pytest.mark.parametrize("mutate, key, words", [
    (lambda r: r["aircraft"]["spark"]["power"].update(relay=9),
     "aircraft.spark.power.relay", "channel 9 does not exist on an 8-channel numato board"),
    (lambda r: r["aircraft"]["spark"].update(model="mavic3"),
     "aircraft.spark.model", "unknown model 'mavic3'; known models: spark, mavic"),
    (lambda r: r["relay"].update(driver="sainsmart"),
     "relay.driver", "'sainsmart' is not one of: numato"),
    (lambda r: r["relay"].update(chanels=8),
     "relay.chanels", "unknown key; known keys here: driver, url, channels"),
    (lambda r: r["relay"].update(channels="8"),
     "relay.channels", "must be int, not a string '8'"),
    (lambda r: r["aircraft"]["mavic"]["controller"].update(relay=0),
     "aircraft.mavic.controller.relay", "channel 0 is already used by aircraft.spark.power"),
    (lambda r: r["aircraft"]["spark"].update(phone="nokia"),
     "aircraft.spark.phone", "no [phone.nokia] in this bench"),
    (lambda r: r["phone"]["pixel-spark"].update(ip="192.168.1.5"),
     "phone.pixel-spark.ip", "outside gateway.lan_subnet 10.20.0.0/24"),
    (lambda r: r["windows"].update(observe=-1),
     "windows.observe", "must be a positive number of seconds"),
    (lambda r: r["sim"].update(faults=["ldm_lek"]),
     "sim.faults[0]", "unknown fault 'ldm_lek'"),
    (lambda r: r.pop("gateway"), "gateway", "missing table"),
    (lambda r: r["bench"].update(host_addresses=["10.20.0.2", "abc"]),
     "bench.host_addresses[1]", "'abc' is not an IP address"),
    (lambda r: r["bench"].update(host_addresses="10.20.0.2"),
     "bench.host_addresses", "must be list, not a string '10.20.0.2'"),
    (lambda r: r["bench"].update(host_addresses=[10]),
     "bench.host_addresses[0]", "must be a string (an IP address), not an integer 10"),
    (lambda r: r["bench"].update(host_addresses=["10.20.0.31"]),
     "bench.host_addresses[0]", "10.20.0.31 is phone.pixel-spark.ip"),
    (lambda r: r.pop("sim"), "relay.url", '"sim" is only allowed in a simulated bench'),
    (lambda r: r["phone"]["pixel-spark"].update(mac="02:1a:2b:3c:4d"),
     "phone.pixel-spark.mac", "is not a MAC address (six hex octets"),
    (lambda r: r["phone"]["pixel-spark"].update(mac="03:1a:2b:3c:4d:5e"),
     "phone.pixel-spark.mac", "is a multicast address"),
    (lambda r: r["phone"]["pixel-mavic"].update(mac="02:00:0A:14:00:1F"),
     "phone.pixel-mavic.mac", "02:00:0a:14:00:1f is phone.pixel-spark.mac too"),
    (lambda r: r["gateway"].update(lan_subnet=["10.20.0.0/24", "fd20::/64x"]),
     "gateway.lan_subnet[1]", "'fd20::/64x' is not an IPv4 or IPv6 network"),
    (lambda r: r["gateway"].update(lan_subnet=["fd20::/64"]),
     "gateway.lan_subnet", "needs exactly one IPv4 network"),
    (lambda r: r["gateway"].update(lan_subnet=["10.20.0.0/24", "2000::/3"]),
     "gateway.lan_subnet[1]", "'2000::/3' is wider than any LAN (/48 at most for IPv6"),
    (lambda r: r["gateway"].update(lan_subnet="0.0.0.0/0"),
     "gateway.lan_subnet", "'0.0.0.0/0' is wider than any LAN (/8 at most for IPv4"),
])
def test_bad_bench_names_file_key_and_fix(tmp_path, mutate, key, words):
    raw = sim_raw()
    mutate(raw)
    path = write(tmp_path, raw)
    with pytest.raises(bench.BenchError) as e:
        bench.load(path)
    msg = str(e.value)
    assert msg.startswith(f"bench file {path}: {key}: "), msg
    assert words in msg


def test_dual_stack_lan_and_mac(tmp_path):
    b = bench.load(write(tmp_path, sim_raw()))
    assert [str(n) for n in b.gateway.lan_prefixes] == ["10.20.0.0/24", "2001:db8:20::/64"]
    assert str(b.gateway.lan_subnet) == "10.20.0.0/24"
    assert b.phones["pixel-spark"].mac == "02:00:0a:14:00:1f"
    raw = sim_raw()
    raw["gateway"]["lan_subnet"] = "10.20.0.0/24"
    raw["phone"]["pixel-spark"]["mac"] = "02-1A-2B-3C-4D-5E"
    del raw["phone"]["pixel-mavic"]["mac"]
    b = bench.load(write(tmp_path, raw))
    assert [str(n) for n in b.gateway.lan_prefixes] == ["10.20.0.0/24"]
    assert b.phones["pixel-spark"].mac == "02:1a:2b:3c:4d:5e"
    assert b.phones["pixel-mavic"].mac is None


def test_not_toml_and_missing_file(tmp_path):
    p = tmp_path / "broken.toml"
    p.write_text("[relay\ndriver = 'numato'\n")
    with pytest.raises(bench.BenchError, match=r"broken.toml: not valid TOML: .*line 1"):
        bench.load(p)
    with pytest.raises(bench.BenchError, match=r"nope.toml: not found"):
        bench.load(tmp_path / "nope.toml")


@pytest.mark.parametrize("mutate, words", [
    (lambda r: r["aircraft"]["spark"]["power"].update(relay=9),
     "aircraft.spark.power.relay: channel 9 does not exist"),
    (lambda r: r["aircraft"]["spark"].update(model="mavic3"),
     "aircraft.spark.model: unknown model 'mavic3'"),
    (lambda r: r.update(relay="numato"), "relay: must be a table"),
    (lambda r: r["phone"]["pixel-spark"].update(serial="x"),
     "phone.pixel-spark.serial: the agent backend takes no key 'serial'; its keys: host, "
     "port, user, key, known_hosts"),
])
def test_pytest_stops_with_one_clear_line_and_no_traceback(tmp_path, mutate, words):
    raw = sim_raw()
    mutate(raw)
    path = write(tmp_path, raw)
    res = subprocess.run([sys.executable, "-m", "pytest", "claims", "--bench", str(path),
                          "-p", "no:cacheprovider", "-q"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    out = res.stdout + res.stderr
    assert res.returncode == 4, out  # pytest's usage error
    assert f"ERROR: bench file {path}: {words}" in out
    assert "Traceback" not in out and "hil/" not in out.replace(str(path), "")


def test_cli_check_reports_error_without_traceback(tmp_path):
    raw = sim_raw()
    raw["aircraft"]["spark"]["power"]["relay"] = 12
    path = write(tmp_path, raw)
    res = subprocess.run([sys.executable, "-m", "hil.cli", "check", str(path)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    assert res.stderr.strip() == (f"hil: bench file {path}: aircraft.spark.power.relay: "
                                  "channel 12 does not exist on an 8-channel numato board "
                                  "(channels 0-7)")


def test_cli_check_names_the_bench_host():
    res = subprocess.run([sys.executable, "-m", "hil.cli", "check", str(EXAMPLE)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert ("  bench host: 10.20.0.2 (its traffic is control traffic, never "
            "judged)") in res.stdout.splitlines()
