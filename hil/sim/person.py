"""A simulated person at the bench: reads the harness's prompts and does what they say.

The operator backend (`hil.remote.operator`) asks a person on the bench's terminal. In the
tests that person is this one, a peer like the other simulated devices, not a mock: the
harness runs in a pseudo-terminal that is its controlling terminal (`run_in_pty`), the
person reads each prompt from the pty's master side, does the step on the simulated phone
through the phone's own control channel (the `hil-app` agent over SSH, as a hand uses the
screen; `agents.json` of the simulated bench says how to reach it), and types the answer.

A test scripts the person: `skip` (prompts containing one of these words get `s`),
`silent` (never answered), `wrong_first` (a bad answer first, then the right one).
Everything heard and answered is kept in `heard`.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import subprocess
import termios
import time
from dataclasses import dataclass, field
from pathlib import Path

from hil.remote.ssh import SshError, SshHost

PROMPT = re.compile(r"\[hil\] On (?P<phone>\S+): (?P<text>.*?) \[(?P<hint>[^\]]*)\] > ")
LABELS = {"Send Diagnostic Data": "diagnostics", "Local Data Mode": "local_data_mode"}


@dataclass
class SimPerson:
    agents: dict  # phone -> {host, port, user, key, known_hosts} (agents.json)
    skip: tuple[str, ...] = ()
    silent: tuple[str, ...] = ()
    wrong_first: tuple[str, ...] = ()
    heard: list[tuple[str, str, str | None]] = field(default_factory=list)
    _hosts: dict = field(default_factory=dict)
    _wronged: set = field(default_factory=set)

    @classmethod
    def of_bench(cls, resolved: Path, **script) -> SimPerson:
        """The person for a served simulated bench (its resolved bench file's path)."""
        return cls(json.loads((Path(resolved).parent / "agents.json").read_text()), **script)

    def hil_app(self, phone: str, *args: str) -> str:
        if phone not in self._hosts:
            a = self.agents[phone]
            self._hosts[phone] = SshHost(a["host"], a["port"], a["user"], Path(a["key"]),
                                         Path(a["known_hosts"]), role=f"person at {phone}")
        return self._hosts[phone].run(["hil-app", *args]).text.strip()

    def respond(self, phone: str, text: str) -> str | None:
        """The answer to type (None: stay silent)."""
        answer: str | None
        if any(w in text for w in self.silent):
            answer = None
        elif any(w in text for w in self.skip):
            answer = "s"
        elif any(w in text for w in self.wrong_first) and text not in self._wronged:
            self._wronged.add(text)
            answer = "banana"
        else:
            try:
                answer = self.do(phone, text)
            except SshError:  # the phone would not do it: the person gives up on the step
                answer = "s"
        self.heard.append((phone, text, answer))
        return answer

    def do(self, phone: str, text: str) -> str:
        app = lambda *a: self.hil_app(phone, *a)  # noqa: E731
        if "Which app version" in text:
            return app("version")
        if m := re.search(r"turn (ON|OFF) '([^']+)'", text):
            setting = LABELS[m.group(2)]
            app("set", setting, m.group(1).lower())
            return self._shown(app, setting)
        if m := re.search(r"what does '([^']+)' show", text):
            return self._shown(app, LABELS[m.group(1)])
        if text.startswith("Open DJI GO 4."):
            app("launch")
            return ""
        if text.startswith("Force-close"):
            app("close")
            return ""
        if text.startswith("Is DJI GO 4 open"):
            return "yes" if app("status") == "running" else "no"
        if "show the aircraft connected" in text:
            return "yes" if app("linked") == "linked" else "no"
        if "Aircraft Firmware" in text:
            return app("firmware") or "-"
        if "How many flight records" in text:
            return str(len(app("records").splitlines()))
        if "press Sync" in text:
            app("sync")
            return ""
        if m := re.search(r"share the photo number (\d+)", text):
            app("share", m.group(1))
            return ""
        if "take one photo" in text:
            return _file(app("photo"))
        if "start recording a video" in text:
            app("video", "start")
            return ""
        if "stop the video" in text:
            return _file(app("video", "stop"))
        return "s"  # a prompt this person does not understand: skipped

    @staticmethod
    def _shown(app, setting: str) -> str:
        values = dict(line.split("=", 1) for line in app("settings").splitlines())
        return values[setting]

    def close(self) -> None:
        for h in self._hosts.values():
            h.close()


def _file(line: str) -> str:
    fields = dict(kv.split("=", 1) for kv in line.split())
    return fields["file"].rsplit("/", 1)[-1]


def run_in_pty(argv: list[str], person: SimPerson | None, cwd: Path, timeout: float,
               env: dict | None = None) -> tuple[int, str]:
    """Run `argv` with a new pseudo-terminal as its controlling terminal (stdin, stdout,
    stderr and /dev/tty); the person answers every prompt it shows. (returncode, output)."""
    master, slave = pty.openpty()
    attrs = termios.tcgetattr(slave)
    attrs[3] &= ~termios.ECHO  # the answers typed are not echoed into the output
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=slave, stdout=slave, stderr=slave,
                            start_new_session=True,
                            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
    os.close(slave)
    out, seen = b"", 0
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every holder of the slave side is gone
                    break
                if not chunk:
                    break
                out += chunk
                text = out.decode(errors="replace")
                for m in PROMPT.finditer(text, seen):
                    seen = m.end()
                    if person is not None:
                        answer = person.respond(m.group("phone"), m.group("text"))
                        if answer is not None:
                            os.write(master, answer.encode() + b"\n")
            elif proc.poll() is not None:
                break
        else:
            proc.kill()
        rc = proc.wait(timeout=30)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return rc, out.decode(errors="replace")
