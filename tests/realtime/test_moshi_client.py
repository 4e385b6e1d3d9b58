"""Moshi's own command-line client (`python -m moshi.client`, from the moshi package) holds a conversation with the
service, directly and through the llm-api (`--url http://<llm-api>/realtime`). Only its sound card is replaced
(tests/realtime/fake_audio_device: a tone as the microphone, a recorder as the speaker)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.doubles.stack import llm_api_service
from tests.support.procs import free_port

from .stack import realtime_service

pytestmark = pytest.mark.timeout(180)
FAKE_DEVICE = Path(__file__).parent / "fake_audio_device"


@pytest.fixture(scope="module")
def realtime():
    with realtime_service("moshi-client", env={"IDLE_TIMEOUT_S": "2"}) as service:
        yield service


def run_moshi_client(args: list[str], tmp_path: Path) -> tuple[subprocess.CompletedProcess, dict]:
    report = tmp_path / "report.json"
    env = {**os.environ, "PYTHONPATH": str(FAKE_DEVICE), "FAKE_SD_REPORT": str(report), "FAKE_SD_SECONDS": "3"}
    done = subprocess.run([sys.executable, "-m", "moshi.client", *args], env=env, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    return done, json.loads(report.read_text())


def check(done: subprocess.CompletedProcess, report: dict) -> None:
    assert done.returncode == 0, done.stderr[-2000:]
    assert "connected!" in done.stderr and "All done!" in done.stderr
    assert "Lost connection" not in done.stderr
    assert report["input_blocks"] >= 35  # 3 s of microphone at 80 ms blocks
    assert report["output_nonsilent_blocks"] >= 20, report  # the model's voice came back and was played
    assert done.stdout.strip(), "the model's text was printed"


def test_moshis_client_talks_to_the_service(realtime, tmp_path):
    check(*run_moshi_client(["--host", "127.0.0.1", "--port", str(realtime.port)], tmp_path))


def test_moshis_client_talks_through_the_llm_api(realtime, tmp_path):
    closed = f"http://127.0.0.1:{free_port()}"
    with llm_api_service(closed, closed, tmp_path / "h.sqlite3", env={"REALTIME_URL": realtime.url}) as api:
        check(*run_moshi_client(["--url", f"{api.url}/realtime"], tmp_path))
