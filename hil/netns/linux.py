"""Small Linux system calls the netns bench needs that Python 3.11's `os` lacks."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import signal
import socket
import threading

CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
MS_BIND = 0x1000
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)

# where tools live on Debian and friends when $PATH (a non-root user's) leaves out sbin
_SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")


def find_tool(name: str) -> str | None:
    """The path of a system tool, looking in sbin folders too."""
    return shutil.which(name) or shutil.which(name, path=os.pathsep.join(_SBIN))


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """preexec_fn: the child gets `sig` when the thread that started it ends."""
    _check(_libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")


def mount(source: str, target: str, fstype: str | None = None, flags: int = 0,
          data: str | None = None) -> None:
    _check(_libc.mount(source.encode(), target.encode(),
                       fstype.encode() if fstype else None, ctypes.c_ulong(flags),
                       data.encode() if data else None), f"mount {source} on {target}")


def bind(source: str, target: str) -> None:
    mount(source, target, None, MS_BIND)


def in_netns(netns_path: str, fn):
    """Call `fn()` in a thread that joined the network namespace at `netns_path`.

    Sockets keep the namespace they were made in, so `in_netns(p, socket.socket)` gives
    a socket of that namespace to use from any thread.
    """
    box: dict = {}

    def run():
        try:
            fd = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                _check(_libc.setns(fd, CLONE_NEWNET), f"setns {netns_path}")
            finally:
                os.close(fd)
            box["value"] = fn()
        except BaseException as e:  # handed to the caller's thread
            box["error"] = e

    t = threading.Thread(target=run, name="setns", daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def connect_in(netns_path: str, address: tuple[str, int], timeout: float = 2.0
               ) -> socket.socket:
    """A TCP connection made from inside a network namespace."""
    def make():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(address)
        except BaseException:
            s.close()
            raise
        s.settimeout(None)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s
    return in_netns(netns_path, make)
