"""The power sessions the claim suite judges on, and which claims share each.

A scenario is what the harness does to one aircraft in one power session; its phases are
stamped on the gateway's clock while the gateway captures. Claims that can be judged on
the same phases without weakening either share a scenario (the table in the README):

- defaults: K1, K2, K3, K4, G1. Defaults in the app; a baseline power session (for K2's
  "before"), then power-on (K4), media taken (K1), one photo shared (K1's control),
  sync (K3's control). K3 judges every phase before the sync; G1 judges every phase.
- diagnostics-off: K5.   - uplink-cut: K6.   - local-data-mode: K7 (Android).
- no-app: K8, with the capture on the whole LAN (any bench device may be the culprit).

Sessions of aircraft with different phones are played at the same time (hil.pool).
"""

from fixtures.evidence import scenario_fixture
from fixtures.media import cannot, stores, take
from hil.pool import Scenario


def prepare(s, st, diagnostics=True, ldm=False, launch=True):
    with s.phase("prepare"):
        s.act(f"app setting diagnostics {'on' if diagnostics else 'off'}",
              lambda: st.app.set("diagnostics", diagnostics))
        if st.phone.platform == "android":
            s.act(f"app setting local_data_mode {'on' if ldm else 'off'}",
                  lambda: st.app.set("local_data_mode", ldm))
        if launch:
            s.act("launch app", st.app.launch)
        else:
            s.act("close app", st.app.close)


def power_on_and_observe(s, st, phase):
    with s.phase(phase):
        st.power_on(s.act)
        s.observe()


def defaults(s, st):
    s.note("cannot", cannot(st))
    prepare(s, st)
    with s.phase("baseline"):
        st.power_on(s.act)
        s.note("before", stores(st))
        st.power_off(s.act)
    power_on_and_observe(s, st, "power-on")
    media = None
    with s.phase("media"):
        if "media" not in s.observations["cannot"]:
            media = [take(s, st, "photo"), take(s, st, "photo"), take(s, st, "video")]
        s.note("media", media)
        s.observe()
    with s.phase("share"):
        photo = s.note("shared", media[0] if media else None)
        if photo is not None:
            s.act(f"share photo {photo['index']}", lambda: st.app.share(photo["index"]))
        s.observe()
    with s.phase("sync"):
        # records whose state the app backend cannot tell (synced None) are not counted;
        # records nobody can size (a person counted them): unsynced None, and K3's control
        # asks for a flight-log upload after sync without a size to reach (it says so)
        records = st.app.records()
        s.note("unsynced", None if any(r["size"] is None for r in records) else
               sum(r["size"] for r in records if r["synced"] is False))
        s.act("sync", st.app.sync)
        s.observe()
    s.note("after", stores(st))
    with s.phase("power-off"):
        st.power_off(s.act)


def diagnostics_off(s, st):
    prepare(s, st, diagnostics=False)
    power_on_and_observe(s, st, "power-on")
    st.power_off(s.act)


def uplink_cut(s, st):
    prepare(s, st)
    with s.phase("cutting"):  # flows begun before the cut took effect: not judged
        who = st.phone.ip + (f" (MAC {st.phone.mac})" if st.phone.mac else "")
        s.act(f"cut uplink of {who}",
              lambda: st.gateway.cut_uplink(st.phone.ip, st.phone.mac))
    power_on_and_observe(s, st, "cut")
    with s.phase("restored"):
        s.act(f"restore uplink of {st.phone.ip}",
              lambda: st.gateway.restore_uplink(st.phone.ip))
        s.observe()
    st.power_off(s.act)


def local_data_mode(s, st):
    prepare(s, st, ldm=True)
    power_on_and_observe(s, st, "ldm-on")
    with s.phase("ldm-off"):
        s.act("app setting local_data_mode off", lambda: st.app.set("local_data_mode", False))
        s.observe()
    st.power_off(s.act)


def no_app(s, st):
    prepare(s, st, launch=False)
    power_on_and_observe(s, st, "app-closed")
    with s.phase("app-open"):
        s.act("launch app", st.app.launch)
        s.observe()
    st.power_off(s.act)


defaults_session = scenario_fixture("defaults_session", Scenario("defaults", defaults))
diagnostics_off_session = scenario_fixture(
    "diagnostics_off_session", Scenario("diagnostics-off", diagnostics_off))
uplink_cut_session = scenario_fixture("uplink_cut_session", Scenario("uplink-cut", uplink_cut))
local_data_mode_session = scenario_fixture(
    "local_data_mode_session", Scenario("local-data-mode", local_data_mode),
    platforms=("android",), why="Local Data Mode is an Android feature")
no_app_session = scenario_fixture("no_app_session", Scenario("no-app", no_app, whole_lan=True))
