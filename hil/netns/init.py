"""Pid 1 of a netns box: sets the box up, says "ready", then reaps orphans until told to stop.

Run by `unshare --net --pid --mount --uts --mount-proc --fork --kill-child` with one JSON
argument: {"hostname": ..., "sysctl": {path: value}, "mounts": [[kind, source, target,
data]]}, kind being "tmpfs" or "bind"; "mkdir": [[path, mode]] after the mounts.

As the pid namespace's init it must reap: a background tcpdump whose shell exited is
re-parented here, and an unreaped zombie would still answer `kill -0`. When it exits, the
kernel kills every process left in the box, and the box's namespaces go with them.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time

from hil.netns.linux import bind, mount


def setup(spec: dict) -> None:
    if spec.get("hostname"):
        socket.sethostname(spec["hostname"])
    for path, value in spec.get("sysctl", {}).items():
        with open(os.path.join("/proc/sys", path), "w") as f:
            f.write(str(value))
    for kind, source, target, data in spec.get("mounts", []):
        if kind == "tmpfs":
            mount(source, target, "tmpfs", 0, data)
        elif kind == "bind":
            bind(source, target)
        else:
            raise ValueError(f"unknown mount kind {kind!r}")
    for path, mode in spec.get("mkdir", []):
        os.makedirs(path, exist_ok=True)
        os.chmod(path, mode)


def main() -> int:
    spec = json.loads(sys.argv[1])
    try:
        setup(spec)
    except Exception as e:
        print(f"box {spec.get('hostname')}: setup failed: {e}", file=sys.stderr, flush=True)
        return 1
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    signal.signal(signal.SIGINT, lambda *a: os._exit(0))
    print("ready", flush=True)
    os.close(1)
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            time.sleep(0.05)
        except InterruptedError:
            pass


if __name__ == "__main__":
    sys.exit(main())
