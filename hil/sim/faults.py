"""The simulated bench's fault profiles: each makes exactly one claim fail, on purpose.

This is how the harness proves its claim tests can fail. Pure data: the bench loader
validates `sim.faults` against it, and the simulated devices read their knobs from it.
`deaf_sniffer` is the exception: it breaks the capture itself, so every claim judged on
traffic must end in an ERROR (its control fails), and none may pass.
`control_traffic` is a bench condition, not a misbehaviour: every claim must see through
it (claim "-", none fails), because the bench file names the bench host
(`bench.host_addresses`); without that, K1 and G1 would count the exchange.
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
    "deaf_sniffer": ("*", "the gateway's capture loses every packet of the bench's devices"),
    "control_traffic": ("-", "the phone's agent sends the bench host (through the gateway) "
                             "a copy of every new photo and video: control traffic"),
}
