"""What a simulated aircraft keeps on board: its SD card's media and its flight logs.

Pure and thread-safe. The aircraft's MAVLink endpoint adds media when the harness takes
photos or video and lists logs and storage on request; the simulated bench starts a new
flight log at every power session; the phone's app reads new media (as GO 4 does over the
radio link) and the newest log (for its own flight-record store).

Sizes are bytes of incompressible data (the simulated app uploads exactly these sizes).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

MIB = 1024 * 1024


@dataclass(frozen=True)
class Media:
    index: int
    kind: str  # "photo" | "video"
    size: int
    taken: float  # wall clock

    @property
    def file_url(self) -> str:
        ext = "JPG" if self.kind == "photo" else "MP4"
        return f"/DCIM/100MEDIA/DJI_{self.index:04d}.{ext}"


@dataclass(frozen=True)
class FlightLog:
    id: int
    time_utc: int  # seconds since the epoch, when the power session began
    size: int


@dataclass
class Onboard:
    # Smaller than a real DJI file (5-10 MB), large beside everything else the app sends:
    # the simulated phones build every packet in Python, four of them at once. (An
    # aircraft seen only through the app gets photos over its model's nominal size:
    # hil.sim.bench.)
    photo_size: int = 500_000
    video_bytes_per_s: int = 250_000  # per real second; the bench scales time
    log_size: int = 150_000
    records_logs: bool = True  # fault no_local_log: False
    card_used: float = 1234.5 * MIB  # bytes already on the card
    media: list[Media] = field(default_factory=list)
    logs: list[FlightLog] = field(default_factory=list)
    _video_started: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def power_session(self, now: float | None = None) -> None:
        """A power session began: the aircraft opens a new flight log (unless faulty)."""
        with self._lock:
            if self.records_logs:
                self.logs.append(FlightLog(len(self.logs) + 1, int(now or time.time()),
                                           self.log_size))

    def take_photo(self) -> Media:
        with self._lock:
            return self._add("photo", self.photo_size)

    def start_video(self, now: float) -> None:
        with self._lock:
            self._video_started = now

    def stop_video(self, now: float, time_scale: float) -> Media | None:
        with self._lock:
            if self._video_started is None:
                return None
            real_seconds = (now - self._video_started) / time_scale
            self._video_started = None
            return self._add("video", max(1, int(real_seconds * self.video_bytes_per_s)))

    def _add(self, kind: str, size: int) -> Media:
        m = Media(len(self.media) + 1, kind, size, time.time())
        self.media.append(m)
        self.card_used += size
        return m

    def used_bytes(self) -> float:
        with self._lock:
            return self.card_used

    def snapshot(self) -> tuple[list[Media], list[FlightLog]]:
        with self._lock:
            return list(self.media), list(self.logs)
