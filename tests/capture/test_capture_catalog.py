"""The endpoint catalog: loading, validation, classification."""

from __future__ import annotations

import pytest

from hil.capture.catalog import CATEGORIES, Catalog, CatalogError


def entry(pattern, category="media", source="test", verified="false"):
    return (
        f'[[endpoint]]\npattern = "{pattern}"\ncategory = "{category}"\n'
        f'source = "{source}"\nverified = {verified}\n'
    )


def catalog(*entries) -> Catalog:
    return Catalog.from_toml("version = 1\n" + "".join(entries), "test.toml")


def test_categories_are_exactly_the_designed_set():
    assert set(CATEGORIES) == {
        "media", "flightlog", "diagnostics", "nfz", "firmware", "app-update",
        "account", "activation", "maps", "dns", "os", "unknown",
    }  # fmt: skip


def test_packaged_catalog():
    cat = Catalog.load()
    assert cat.version == 1
    assert cat.revision
    assert cat.origin.endswith("endpoints.toml")
    assert cat.endpoints
    for ep in cat.endpoints:
        assert not ep.verified, f"{ep.pattern}: no lab capture has confirmed it yet"
        assert len(ep.source) > 30, f"{ep.pattern}: say which public source it comes from"
        # our own issues and notes are not a public source
        assert "issue" not in ep.source.lower(), f"{ep.pattern}: cite the public source"
    expected = {
        "mydjiflight.dji.com": "flightlog",
        "flysafe-api.dji.com": "nfz",
        "statistical-report.djiservice.org": "diagnostics",
        "www.skypixel.com": "media",
        "upload.skypixel.com": "media",
        "skypixel.com": "media",
        "active.dji.com": "activation",
        "account-api.dji.com": "account",
        "dl.djicdn.com": "firmware",
        "service-adhoc.dji.com": "app-update",
        "connectivitycheck.gstatic.com": "os",
        "android.clients.google.com": "os",
        "mtalk.google.com": "os",
        "captive.apple.com": "os",
        "p12-contacts.icloud.com": "os",
        "time.apple.com": "os",
        "gs.apple.com": "os",
        "1-courier.push.apple.com": "os",
    }
    assert {name: cat.category(name) for name in expected} == expected
    assert cat.category("dji.com") == "unknown"


def test_packaged_catalog_keeps_app_sdk_hosts_out_of_os():
    """A phone-OS wildcard must not swallow hosts an app's SDKs use (Firebase logging,
    crash reports): filed as `os`, an app's telemetry would pass Local Data Mode."""
    cat = Catalog.load()
    for name in ("firebaselogging.googleapis.com", "crashlyticsreports-pa.googleapis.com",
                 "app-measurement.com", "telemetry.sdk-unlisted.example"):  # fmt: skip
        assert cat.category(name) == "unknown", name


def test_the_simulators_endpoints_keep_their_categories():
    from hil.sim import app

    cat = Catalog.load()
    assert {n: cat.category(n) for n in (app.NFZ, app.DIAGNOSTICS, app.FLIGHTLOG, app.SHARE,
                                         app.CONNECTIVITY, app.UNKNOWN)} == {  # fmt: skip
        app.NFZ: "nfz", app.DIAGNOSTICS: "diagnostics", app.FLIGHTLOG: "flightlog",
        app.SHARE: "media", app.CONNECTIVITY: "os", app.UNKNOWN: "unknown",
    }  # fmt: skip


def test_revision_is_optional_and_a_string():
    assert catalog(entry("a.example")).revision == ""
    cat = Catalog.from_toml('version = 1\nrevision = "r7"\n' + entry("a.example"))
    assert cat.revision == "r7"
    with pytest.raises(CatalogError, match="'revision' must be a string"):
        Catalog.from_toml("version = 1\nrevision = 7\n")


def test_load_from_a_path(tmp_path):
    path = tmp_path / "lab.toml"
    path.write_text("version = 1\n" + entry("*.example.com", "maps"))
    cat = Catalog.load(path)
    assert cat.classify("tiles.example.com").category == "maps"
    assert cat.origin == str(path)


def test_matching_rules():
    cat = catalog(
        entry("*.dji.com", "unknown"),
        entry("*.api.dji.com", "account"),
        entry("flysafe.api.dji.com", "nfz"),
        entry("dji.com", "maps"),
    )
    assert cat.classify("x.dji.com").pattern == "*.dji.com"
    assert cat.classify("a.b.dji.com").pattern == "*.dji.com"  # any depth
    assert cat.classify("x.api.dji.com").pattern == "*.api.dji.com"  # longest wins
    assert cat.classify("api.dji.com").pattern == "*.dji.com"  # not *.api.dji.com itself
    assert cat.classify("flysafe.api.dji.com").pattern == "flysafe.api.dji.com"  # exact wins
    assert cat.classify("FlySafe.API.dji.com.").category == "nfz"  # case, trailing dot
    assert cat.classify("dji.com").category == "maps"
    assert cat.classify("notdji.com") is None
    assert cat.classify("") is None
    assert cat.classify(None) is None
    assert cat.category(None) == "unknown"


def test_pattern_case_is_normalised():
    cat = catalog(entry("WWW.Example.COM"))
    assert cat.classify("www.example.com").pattern == "www.example.com"


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "version = 1\n" + entry("a.example") + entry("b.example", "medai"),
            (
                "endpoint catalog test.toml: endpoint #2 (pattern 'b.example'): "
                "key 'category': unknown category 'medai'; expected one of: media, flightlog,"
            ),
        ),
        (
            "version = 1\n" + entry("a.example").replace("source", "sauce"),
            "endpoint catalog test.toml: endpoint #1: unknown key 'sauce'",
        ),
        (
            "version = 1\n" + entry("a.example").replace('category = "media"\n', ""),
            "endpoint catalog test.toml: endpoint #1: missing key 'category'",
        ),
        (
            "version = 1\n" + entry("a.example", verified='"no"'),
            "endpoint #1: key 'verified' must be a boolean, got 'no'",
        ),
        (
            "version = 1\n" + entry("a.example") + entry("A.example"),
            "endpoint #2: pattern 'a.example' already listed as endpoint #1",
        ),
        ("version = 1\n" + entry("a.*.example"), "endpoint #1 (pattern 'a.*.example'): key"),
        ("version = 1\n" + entry("*"), "'*' is only allowed as the whole first label"),
        ("version = 1\n" + entry("a..example"), "empty label"),
        ("version = 1\n" + entry("a b.example"), "label 'a b' has characters"),
        ("version = 1\n" + entry("a.example", source=" "), "key 'source' is empty"),
        ("version = 2\n", "unsupported catalog version 2 (this harness reads version 1)"),
        (entry("a.example"), "missing 'version'"),
        ("version = 1\nendpoints = []\n", "unknown top-level key 'endpoints'"),
        ("version = 1\nendpoint = 3\n", "'endpoint' must be an array of tables"),
        ("version = 1\n[[endpoint]\n", "endpoint catalog test.toml: invalid TOML:"),
    ],
)
def test_bad_catalogs_are_named_precisely(text, message):
    with pytest.raises(CatalogError) as info:
        Catalog.from_toml(text, "test.toml")
    assert message in str(info.value)


def test_missing_file_is_named(tmp_path):
    path = tmp_path / "nope.toml"
    with pytest.raises(CatalogError, match=f"endpoint catalog {path}: cannot read"):
        Catalog.load(path)
