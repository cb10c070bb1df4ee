"""The pure parts of the history and the gate: no run, no bench."""

from hil import policy, profile, trends


def test_version_changes_are_marked_where_firmware_or_app_differ():
    pts = [(1, "fw1", "a1"), (2, "fw1", "a1"), (3, "fw2", "a1"), (4, "fw2", "a2")]
    assert trends.version_changes(pts) == [(3, "fw fw2"), (4, "app a2")]


def test_phase_profile_counts_per_category_and_destination():
    f = lambda name, cat, up: {"server_name": name, "dst": "198.51.100.1", "dport": 443,  # noqa: E731
                               "proto": "tcp", "category": cat, "bytes_up": up,
                               "bytes_down": 10}
    p = profile.phase_profile([f("a.example", "maps", 5), f("a.example", "maps", 7),
                               f(None, "unknown", 1)])
    assert p["categories"]["maps"] == {"bytes_up": 12, "bytes_down": 20, "flows": 2}
    assert p["servers"]["198.51.100.1"]["category"] == "unknown"  # no name: the address
    assert [x["bytes_up"] for x in p["flows"]] == [7, 5, 1]


def test_packaged_policy_loads_and_ios_is_spared_k7():
    pol = policy.load()
    assert pol.factor == 2.0 and pol.floor == 65536
    assert "K7" not in pol.required_of("ios") and "K7" in pol.required_of("android")
    assert pol.ignored("x.ntp.org", "os")


def test_policy_type_error_names_the_key(tmp_path):
    bad = tmp_path / "p.toml"
    bad.write_text("[traffic]\nfactor = \"2x\"\n")
    try:
        policy.load(bad)
    except policy.PolicyError as e:
        assert str(e) == f"policy file {bad}: traffic.factor must be a number >= 1, got '2x'"
    else:
        raise AssertionError("accepted")
