"""The simulated bench's fault profiles: each makes exactly one claim fail, on purpose.

This is how the harness proves its claim tests can fail. Pure data: the bench loader
validates `sim.faults` against it, and the simulated devices read their knobs from it.
"""

# name -> (the claim it must make fail, what the simulated bench does wrong)
FAULTS: dict[str, tuple[str, str]] = {
    "no_diagnostics": ("K4", "the app never sends diagnostics"),
    "diagnostics_ignore_setting": ("K5", "the app sends diagnostics with the setting off"),
    "cut_ineffective": ("K6", "the gateway lists the phone as cut but still forwards its "
                              "traffic (as an nft table hooked in the wrong place would)"),
}
