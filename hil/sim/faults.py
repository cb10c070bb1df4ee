"""The simulated bench's fault profiles: each makes exactly one claim fail, on purpose.

This is how the harness proves its claim tests can fail. Pure data: the bench loader
validates `sim.faults` against it, and the simulated devices read their knobs from it.
`deaf_sniffer` is the exception: it breaks the capture itself, so every claim judged on
traffic must end in an ERROR (its control fails), and none may pass.
`control_traffic` is a bench condition, not a misbehaviour: every claim must see through
it (claim "-", none fails), because the bench file names the bench host
(`bench.host_addresses`); without that, K1 and G1 would count the exchange.
`diagnostics_inflated` (claim "-") is a release that sends the diagnostics it always sent,
sixteen times as big: no claim may fail on it (every claim judges whether diagnostics go,
not how much), and the release gate (`hil gate`, hil/gate.py) must fail it on growth.
The `adb_*` profiles (claim "!") break the Android phone's automation, not the app's
privacy (hil/sim/android.py): no claim may fail on them; the harness must survive them or
call the run inconclusive.
"""

# name -> (the claim it must make fail, what the simulated bench does wrong)
FAULTS: dict[str, tuple[str, str]] = {
    "auto_media_upload": ("K1", "the app uploads every new photo and video to SkyPixel"),
    "media_over_open_connection": ("K1", "the app keeps its no-fly-zone connection open "
                                         "and pushes every new photo and video through it"),
    "no_local_log": ("K2", "the aircraft records no flight log"),
    "logs_upload_without_sync": ("K3", "the app uploads flight records without a sync"),
    "no_diagnostics": ("K4", "the app never sends diagnostics"),
    "diagnostics_ignore_setting": ("K5", "the app sends diagnostics with the setting off"),
    "cut_ineffective": ("K6", "the gateway lists the phone as cut but still forwards its "
                              "traffic (as an nft table hooked in the wrong place would)"),
    "deferred_diagnostics_flush": ("K6", "diagnostics held back while the uplink is cut are "
                                         "sent when it returns"),
    "ldm_leak": ("K7", "with Local Data Mode on, the app still sends diagnostics"),
    "aircraft_direct_uplink": ("K8", "the aircraft, on the gateway's Wi-Fi, uploads its "
                                     "flight log by itself"),
    "unknown_endpoint": ("G1", "the app sends 40 kB to an endpoint no catalog lists"),
    "ipv6_bypass": ("K6", "while the uplink is cut the app sends its diagnostics over IPv6, "
                          "which another router on the LAN forwards: the gateway's table "
                          "never sees it (on the netns bench: the app part only, and the "
                          "real nft table must stop it)"),
    "ipv6_diagnostics": ("K5", "with the diagnostics setting off, the app sends diagnostics "
                               "over IPv6 only"),
    "private_dns": ("-", "the phones resolve names over DNS over TLS (Android's Private DNS): "
                         "no lookup is readable; no claim may fail, and the verdicts relying "
                         "on lookups say they were not visible"),
    "deaf_sniffer": ("*", "the gateway's capture loses every packet of the bench's devices"),
    "control_traffic": ("-", "the phone's agent sends the bench host (through the gateway) "
                             "a copy of every new photo and video: control traffic"),
    "diagnostics_inflated": ("-", "the app's diagnostics reports are 16 times their usual "
                                  "size (192 kB instead of 12 kB); nothing else changes"),
    "adb_toggle_ignored": ("!", "Android phone: tapping the diagnostics switch redraws the "
                                "screen but the setting does not change"),
    "adb_unknown_dialog": ("!", "Android phone: once the app was launched, a dialog no recipe "
                                "knows (\"Rate DJI GO 4!\") covers every app screen"),
    "adb_dump_fails": ("!", "Android phone: every uiautomator dump while the app is on screen "
                            "says \"ERROR: could not get idle state.\" (exit 0)"),
    "adb_app_crash": ("!", "Android phone: the app dies when it first sees its aircraft "
                           "(\"keeps stopping\" dialog)"),
    "adb_version_change": ("!", "Android phone: the app updates itself after the first "
                                "force-stop following a launch (its versionName changes)"),
    "adb_offline": ("!", "Android phone: adb goes offline when the app first sees its "
                         "aircraft"),
}
