"""`make run` without Docker: native/run.py starts the embedded llama.cpp backend (no Ollama answers), the real
llm-api and the real web server; a real answer comes back through both; Ctrl-C stops every process it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from tests.support.procs import REPO_ROOT, free_port

pytestmark = pytest.mark.slow


def _wait_for(process: subprocess.Popen, text: str, timeout_s: float) -> str:
    seen = ""
    deadline = time.monotonic() + timeout_s
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        seen += line
        if text in line:
            return seen
    raise AssertionError(f"no {text!r} from native/run.py:\n{seen}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is gone for every purpose here
        return f.read().split(")")[-1].split()[0] != "Z"


def test_make_run_answers_from_the_embedded_backend_and_ctrl_c_stops_everything(tmp_path):
    api_port, web_port = free_port(), free_port()
    env = {**os.environ, "OLLAMA_URL": f"http://127.0.0.1:{free_port()}", "DATABASE_PATH": str(tmp_path / "db")}
    process = subprocess.Popen([sys.executable, "-u", "native/run.py", "--api-port", str(api_port), "--web-port",
                                str(web_port), "--worker-port", str(free_port())],
                               cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        banner = _wait_for(process, "Ready: open", 120)
        assert "starting the embedded llama.cpp backend" in banner
        children = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
        assert len(children) == 3  # llama.cpp, llm-api, web
        answer = requests.post(f"http://127.0.0.1:{api_port}/ask-llm", timeout=60, json={
            "prompt": "What is the capital of France?", "system": "You are a helpful assistant.",
            "options": {"temperature": 0, "max_tokens": 16}})
        assert answer.status_code == 200, answer.text
        assert answer.json()["model"] == "local/smollm2" and "Paris" in answer.json()["answer"]
        page = requests.get(f"http://127.0.0.1:{web_port}/chat", timeout=30)
        assert page.status_code == 200
        models = requests.get(f"http://127.0.0.1:{web_port}/api/models", timeout=30).json()
        assert models["default"] == "local/smollm2"
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    assert all(not _alive(int(pid)) for pid in children), output
    for name in ("web", "llm-api", "llamacpp"):
        assert f"{name}: stopped" in output
