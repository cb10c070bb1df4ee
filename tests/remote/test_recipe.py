"""UI recipes: every key checked with the file and the key named; dumps read as nodes;
selectors find elements by what they are, never where they are drawn."""

import subprocess
import sys

import pytest
from sim_runs import ROOT

from hil.remote import recipe
from hil.remote.uitree import DumpError, Selector, parse

DUMP = """<?xml version='1.0' encoding='UTF-8' standalone='yes' ?><hierarchy rotation="1">
<node index="0" text="" resource-id="" class="android.widget.FrameLayout" package="dji.go.v4"
 content-desc="" checkable="false" checked="false" bounds="[0,0][2280,1080]">
<node index="0" text="Send diagnostic data" resource-id="dji.go.v4:id/diag_label"
 class="android.widget.TextView" package="dji.go.v4" content-desc="" checkable="false"
 checked="false" bounds="[100,200][900,260]" />
<node index="1" text="" resource-id="dji.go.v4:id/diag_switch" class="android.widget.Switch"
 package="dji.go.v4" content-desc="diagnostics" checkable="true" checked="true"
 bounds="[1900,200][2000,260]" />
</node></hierarchy>"""

MINIMAL = """
[recipe]
package = "dji.go.v4"
versions = ["9.9.9"]
launch = "x.Launcher"

[screens.home]
signature = [{ text = "Home" }]
from = "launch"

[screens.privacy]
signature = [{ id = "dji.go.v4:id/diag_switch" }]
from = "home"
tap = { text = "Privacy" }

[settings.diagnostics]
screen = "privacy"
switch = { id = "dji.go.v4:id/diag_switch" }
verified = true
"""


def test_a_dump_reads_as_nodes_and_a_selector_finds_the_switch():
    nodes = parse(DUMP)
    assert len(nodes) == 3
    switch = Selector.of({"id": "dji.go.v4:id/diag_switch"}).find(nodes)
    assert switch.checked and switch.centre == (1950, 230)
    assert Selector.of({"text_contains": "diagnostic"}).find(nodes).get("text") == \
        "Send diagnostic data"
    assert Selector.of({"text": "DJI_{index:04d}.JPG"}).fill({"index": 7}).fields == \
        (("text", "DJI_0007.JPG"),)
    assert Selector.of({"desc": "nothing"}).find(nodes) is None


@pytest.mark.parametrize("text, said", [
    ("ERROR: could not get idle state.\n", "could not get idle state"),
    ("", "empty"),
    (DUMP[:200], "cut short"),
    (DUMP.replace('bounds="[0,0][2280,1080]"', ""), "no bounds"),
])
def test_what_is_not_a_screen_says_what_it_was(text, said):
    with pytest.raises(DumpError, match=said):
        parse(text)


def test_a_selector_by_position_or_unknown_key_is_refused():
    with pytest.raises(ValueError, match="a selector takes id, text"):
        Selector.of({"bounds": "[0,0][1,1]"})
    with pytest.raises(ValueError):
        Selector.of({})


def test_the_shipped_template_loads_and_every_entry_is_unverified():
    r = recipe.load(recipe.SHIPPED / "dji.go.v4" / "public-en.toml")
    assert r.package == "dji.go.v4" and r.versions == ()
    assert r.launch == "dji.pilot.main.activity.DJILauncherActivity"
    assert len(r.unverified()) == len(r.entries)  # nothing here was seen on a lab phone
    assert r.get("settings", "diagnostics") is None  # a placeholder is not an entry
    assert "placeholder" in r.why_missing("settings", "diagnostics")
    assert r.get("actions", "sync").data["steps"][0].tap.fields == \
        (("id", "dji.go.v4:id/flightrecord_view_refresh"),)
    assert r.get("files", "files").data["flight_records"].endswith("DJIFlightRecord_*.txt")


def write(tmp_path, text, name="9.9.9-en.toml"):
    folder = tmp_path / "recipes" / "dji.go.v4"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder / name


def test_a_recipe_is_selected_by_exact_version_and_locale(tmp_path):
    write(tmp_path, MINIMAL)
    found = recipe.Recipes([recipe.SHIPPED, tmp_path / "recipes"])
    assert found.select("dji.go.v4", "9.9.9").name == "9.9.9-en.toml"
    assert found.select("dji.go.v4", "9.9.9", "de") is None
    assert found.select("dji.go.v4", "9.9.10") is None  # never the nearest version
    assert "9.9.9-en.toml (9.9.9)" in found.describe("dji.go.v4")
    assert "public-en.toml" in found.describe("dji.go.v4")
    r = found.select("dji.go.v4", "9.9.9")
    assert [e.key for e in r.unverified()] == ["screens.home", "screens.privacy"]


@pytest.mark.parametrize("edit, key, said", [
    (lambda t: t.replace('switch = { id', 'switch = { rid'), "settings.diagnostics.switch",
     "a selector takes id"),
    (lambda t: t + '\n[settings.diagnostics2]\nscreen = "privacy"\nswitch = { id = "x" }\n'
     'colour = "red"\n', "settings.diagnostics2.colour", "unknown key"),
    (lambda t: t.replace('from = "home"', 'from = "nowhere"'), "screens.privacy.from",
     "no screen 'nowhere'"),
    (lambda t: t.replace('tap = { text = "Privacy" }', ""), "screens.privacy.tap", "missing"),
    (lambda t: t + '\n[actions.sync]\nscreen = "home"\nsteps = [{ tap = { text = "Sync" } }]\n',
     "actions.sync.steps[0]", "needs a read-back"),
    (lambda t: t.replace('versions = ["9.9.9"]', 'versions = "9.9.9"'), "recipe.versions",
     "must be a list"),
    (lambda t: t + '\n[reads.firmware]\nscreen = "home"\nnode = { id = "fw" }\n'
     'pattern = "(\\\\d+"\n', "reads.firmware.pattern", "not a regular expression"),
    (lambda t: t.replace("[recipe]", "[recipe]\ncolour = 1"), "recipe.colour", "unknown key"),
])
def test_a_bad_recipe_gets_one_line_naming_the_file_and_the_key(tmp_path, edit, key, said):
    path = write(tmp_path, edit(MINIMAL))
    with pytest.raises(recipe.RecipeError) as e:
        recipe.load(path)
    assert str(e.value).startswith(f"recipe file {path}: {key}: ") and said in str(e.value)
    assert "\n" not in str(e.value)


def test_hil_check_lists_unverified_entries_and_refuses_a_bad_recipe(tmp_path):
    res = subprocess.run([sys.executable, "-m", "hil.cli", "check",
                          str(ROOT / "benches" / "example-lab.toml")],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "phone pixel4: adb 10.20.0.34:5555" in res.stdout
    assert "public-en.toml: 21 entries not verified on a real phone" in res.stdout
    assert "    settings.diagnostics (placeholder: not recorded yet)" in res.stdout
    assert "    actions.sync\n" in res.stdout
    bench = tmp_path / "lab.toml"
    bench.write_text((ROOT / "benches" / "example-lab.toml").read_text())
    bad = write(tmp_path, MINIMAL.replace('switch = { id', 'switch = { xpath'))
    res = subprocess.run([sys.executable, "-m", "hil.cli", "check", str(bench)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        f"hil: recipe file {bad}: settings.diagnostics.switch: a selector takes id, text, "
        "desc, class, package, text_contains (at least one); not xpath"]


def test_a_benchs_own_recipe_wins_over_a_shipped_one_for_the_same_version(tmp_path):
    shipped, own = tmp_path / "shipped", tmp_path / "own"
    write(shipped, MINIMAL, "shipped-en.toml")
    write(own, MINIMAL, "recorded-here-en.toml")
    found = recipe.Recipes([shipped / "recipes", own / "recipes"])
    assert found.select("dji.go.v4", "9.9.9").name == "recorded-here-en.toml"
