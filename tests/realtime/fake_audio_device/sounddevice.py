"""A stand-in for the `sounddevice` package (PortAudio), so Moshi's own command-line client (`moshi.client`) runs
here without a sound card: the "microphone" plays a tone for FAKE_SD_SECONDS and then goes quiet (no more blocks),
the "speaker" takes what the client decoded. At exit, a JSON report goes to FAKE_SD_REPORT. Only the two classes
and the callback signatures moshi.client uses are provided."""

from __future__ import annotations

import atexit
import json
import os
import threading
import time

import numpy as np

_report = {"input_blocks": 0, "output_blocks": 0, "output_nonsilent_blocks": 0}


def _write_report() -> None:
    path = os.environ.get("FAKE_SD_REPORT")
    if path:
        with open(path, "w") as handle:
            json.dump(_report, handle)


atexit.register(_write_report)


class _Stream:
    def __init__(self, samplerate: float, channels: int, blocksize: int, callback):
        self.samplerate, self.channels, self.blocksize, self.callback = samplerate, channels, blocksize, callback
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(2)

    def _blocks(self):
        period = self.blocksize / self.samplerate
        started = time.monotonic()
        index = 0
        while not self._stop.is_set():
            index += 1
            yield index
            time.sleep(max(0.0, started + index * period - time.monotonic()))


class InputStream(_Stream):
    def _run(self) -> None:
        seconds = float(os.environ.get("FAKE_SD_SECONDS", "3"))
        for index in self._blocks():
            if index * self.blocksize / self.samplerate > seconds:
                return  # the microphone goes quiet: no more blocks
            t = (np.arange(self.blocksize) + index * self.blocksize) / self.samplerate
            block = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32).reshape(-1, 1)
            _report["input_blocks"] += 1
            self.callback(block, self.blocksize, None, None)


class OutputStream(_Stream):
    def _run(self) -> None:
        for _ in self._blocks():
            block = np.zeros((self.blocksize, self.channels), dtype=np.float32)
            self.callback(block, self.blocksize, None, None)
            _report["output_blocks"] += 1
            _report["output_nonsilent_blocks"] += int(np.abs(block).max() > 0)
