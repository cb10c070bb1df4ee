"""The `agent` phone backend: a phone that runs the harness's control agent, over SSH.

The simulated phones (`hil.sim.phone`, and the netns bench's, `hil.netns.phone`) run it: a
command `hil-app` on the phone's SSH server that answers

    hil-app version | settings | set NAME on|off | launch | close | status | linked |
            firmware | records | sync | share N | photo | video start|stop

The phone's SSH host key is checked against `known_hosts`; nothing is auto-accepted.

Bench file (its keys beyond every phone's backend, ip, platform)::

    [phone.pixel-spark]
    backend = "agent"
    ip = "10.20.0.31"
    platform = "android"
    host = "10.20.0.31"         # the agent's SSH address ("sim": filled in by the simulator)
    port = 22                   # default 22
    user = "hil"
    key = "~/.ssh/hil_phone"    # private key, relative to the bench file; never printed
    known_hosts = "known_hosts"
"""

from __future__ import annotations

from hil.bench import PhoneConfig, Section, SshTarget
from hil.remote.phone import MEDIA, RECORDS, SETTINGS, SHOWS_AIRCRAFT, SHOWS_FIRMWARE, App, AppError
from hil.remote.ssh import SshHost

KEYS = ("host", "port", "user", "key", "known_hosts")


def parse(section: Section) -> SshTarget:
    """The agent's SSH target, from the phone's table."""
    return section.ssh()


def open_app(phone: PhoneConfig) -> AgentApp:
    s: SshTarget = phone.options
    return AgentApp(phone.name, SshHost(s.host, s.port, s.user, s.key, s.known_hosts,
                                        role=f"phone {phone.name}"))


class AgentApp(App):
    """The app on a phone that runs the control agent, driven over SSH."""

    capabilities = frozenset({SHOWS_AIRCRAFT, SHOWS_FIRMWARE, RECORDS, MEDIA})

    def __init__(self, name: str, ssh: SshHost):
        self.name = name
        self.ssh = ssh

    def _cmd(self, *args: str) -> str:
        return self.ssh.run(["hil-app", *args]).text

    def version(self) -> str | None:
        text = self.ssh.run(["hil-app", "version"], idempotent=True).text.strip()
        return text or None  # an agent that answers nothing cannot tell

    def settings(self) -> dict[str, bool]:
        out = {}
        for line in self._cmd("settings").splitlines():
            key, _, value = line.partition("=")
            if value not in ("on", "off"):
                raise AppError(f"phone {self.name}: setting line {line!r} is not NAME=on|off")
            out[key.strip()] = value == "on"
        return out

    def set(self, setting: str, on: bool) -> None:
        if setting not in SETTINGS:
            raise AppError(f"phone {self.name}: unknown setting {setting!r}; "
                           f"known: {', '.join(SETTINGS)}")
        self._cmd("set", setting, "on" if on else "off")
        if self.settings().get(setting) is not on:
            raise AppError(f"phone {self.name}: setting {setting} did not take "
                           f"{'on' if on else 'off'}")

    def launch(self) -> None:
        self._cmd("launch")
        if not self.running():
            raise AppError(f"phone {self.name}: the app is not running after launch")

    def close(self) -> None:
        self._cmd("close")

    def running(self) -> bool:
        return self._cmd("status").strip() == "running"

    def linked(self) -> bool:
        return self._cmd("linked").strip() == "linked"

    def firmware(self) -> str | None:
        return self._cmd("firmware").strip() or None

    def take_photo(self) -> dict:
        return self._media(self._cmd("photo"))

    def video(self, start: bool) -> dict | None:
        out = self._cmd("video", "start" if start else "stop")
        return None if start else self._media(out)

    def _media(self, line: str) -> dict:
        try:
            f = dict(kv.split("=", 1) for kv in line.split())
            return {"index": int(f["index"]), "file": f["file"], "size": int(f["size"])}
        except (KeyError, ValueError):
            raise AppError(f"phone {self.name}: media line {line.strip()!r} is not "
                           "index=N file=PATH size=B") from None

    def records(self) -> list[dict]:
        out = []
        for line in self._cmd("records").splitlines():
            try:
                f = dict(kv.split("=", 1) for kv in line.split())
                out.append({"id": int(f["id"]), "time": float(f["time"]),
                            "size": int(f["size"]), "synced": f["synced"] == "yes"})
            except (KeyError, ValueError):
                raise AppError(f"phone {self.name}: record line {line!r} is not "
                               "id=N time=T size=B synced=yes|no") from None
        return out

    def sync(self) -> None:
        self._cmd("sync")

    def share(self, media_index: int) -> None:
        self._cmd("share", str(int(media_index)))

    def disconnect(self) -> None:
        self.ssh.close()


def doctor(p: PhoneConfig, say, bench_path=None):
    """`hil doctor`'s checks of an agent phone: its agent answers, the app is installed."""
    from hil.checks import FAIL, OK, SKIP, SSH_TIMEOUT, Check
    from hil.remote.ssh import SshError

    dev, s = f"phone {p.name}", p.options
    app = open_app(p)
    app.ssh.timeout, app.ssh.reconnect_timeout = SSH_TIMEOUT, 0.0
    say(f"wait {dev} reach: connecting to its agent at {s.user}@{s.host}:{s.port}")
    try:
        version = app.version()
    except SshError as e:
        yield Check(dev, "reach", FAIL, str(e), f"check that the phone is on the Wi-Fi and "
                    f"its agent's sshd answers at {s.host}:{s.port}, host key in "
                    f"{s.known_hosts}")
        yield Check(dev, "app", SKIP, "the phone is not reachable")
        return
    finally:
        app.disconnect()
    yield Check(dev, "reach", OK, f"agent at {s.user}@{s.host}:{s.port} answers "
                "`hil-app version`")
    if version is None:
        yield Check(dev, "app", FAIL, "`hil-app version` answered nothing: the app is not "
                    "installed", "install the DJI app on the phone")
    else:
        yield Check(dev, "app", OK, f"installed, version {version}")
