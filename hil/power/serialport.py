"""Opening a relay board's serial port, and its failures in words, for every driver.

`open_port` opens anything `serial.serial_for_url` does: a local device path (locked
exclusively, so a second job on the same board fails at open with a message that says
so), `rfc2217://host:port` behind ser2net, `socket://`, or a simulator's pty. Every
failure is a RelayError that names the board and what to check.
"""

from __future__ import annotations

import errno
import threading

import serial

from hil.power.relay import RelayBoard, RelayError

try:  # termios errors can escape pyserial's buffer flushes on a vanished tty
    import termios
    PORT_ERRORS: tuple[type[BaseException], ...] = (serial.SerialException, OSError,
                                                    termios.error)
except ImportError:  # pragma: no cover - not a POSIX host
    PORT_ERRORS = (serial.SerialException, OSError)


def why(e: BaseException) -> str:
    """An OS-level failure in words: termios.error's (errno, text) tuple reads badly."""
    args = e.args
    if not isinstance(e, OSError) and len(args) == 2 and isinstance(args[0], int):
        return f"[Errno {args[0]}] {args[1]}"
    return str(e)


def can_lock(url: str) -> bool:
    """True when the port behind `url` is a local tty that pyserial can flock.

    Local device paths (and pyserial's spy:// and hwgrep:// wrappers around them) take
    an exclusive lock; network transports (rfc2217://, socket://) and loop:// do not.
    """
    if "://" not in url:
        return True
    return url.split("://", 1)[0].lower() in ("spy", "hwgrep")


def open_port(description: str, url: str, baudrate: int, timeout: float) -> serial.SerialBase:
    kwargs: dict[str, object] = {"baudrate": baudrate, "timeout": timeout}
    if can_lock(url):
        kwargs["exclusive"] = True
    try:
        return serial.serial_for_url(url, **kwargs)
    except serial.SerialException as e:
        if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK) or "exclusively lock" in str(e):
            raise RelayError(f"{description}: port is already in use by another process or "
                             "job (exclusive lock refused); only one job may drive a bench "
                             "at a time") from e
        raise RelayError(f"{description}: cannot open port: {why(e)} (is the board plugged "
                         "in and the URL right?)") from e
    except (ValueError, OSError) as e:
        raise RelayError(f"{description}: cannot open port: {why(e)}") from e


def port_failure(description: str, what: str, e: BaseException) -> RelayError:
    return RelayError(f"{description}: port failed during {what}: {why(e)} (board "
                      "unplugged, or the port was closed?)")


class SerialRelayBoard(RelayBoard):
    """A relay board on a serial port: the port bookkeeping every driver shares.

    A driver sets `baudrate`, `url`, `timeout`, `_port` (from `_open()`), and checks
    `_needs_recovery` before its next exchange: a failed exchange sets it, so the driver
    resynchronises (or drains) the line before trusting it again.
    """

    baudrate: int
    _port: serial.SerialBase | None = None
    _needs_recovery: bool = False

    def _open_port(self, recover_first: bool = False) -> None:
        """Open the port named by `url` (set first); with `recover_first` the first
        exchange recovers the line (resync or drain) before trusting it."""
        self._lock = threading.RLock()
        self._needs_recovery = recover_first
        self._port = None
        self._port = self._open()

    def _open(self) -> serial.SerialBase:
        return open_port(self.description, self.url, self.baudrate, self.timeout)

    def _require_port(self) -> serial.SerialBase:
        if self._port is None:
            raise RelayError(f"{self.description}: port is closed")
        return self._port

    def _port_failed(self, what: str, e: BaseException) -> RelayError:
        self._needs_recovery = True
        return port_failure(self.description, what, e)

    def close(self) -> None:
        """Close the port (idempotent). Relays keep their state."""
        with self._lock:
            port, self._port = self._port, None
            if port is not None:
                try:
                    port.close()
                except PORT_ERRORS:
                    pass  # a vanished port is as closed as it gets
