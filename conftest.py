"""Root conftest: registers the harness's pytest glue (see fixtures/)."""

pytest_plugins = ["fixtures.bench", "fixtures.safety", "fixtures.devices", "fixtures.evidence",
                  "fixtures.history"]
