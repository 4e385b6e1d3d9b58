"""Model-worker benchmark on the tiny random checkpoints, CPU (numbers describe the worker's overhead and code
paths, not the real models' speed).

Prints: model load time, per-request latency split into decode / preprocess / inference for Omni (text feedback,
spoken feedback, chat) and the detector, peak memory (RSS), and requests/s with 1 and 4 concurrent clients.

    .venv/bin/python benchmarks/worker_tiny.py [--requests 12]
"""

from __future__ import annotations

import argparse
import base64
import io
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "model-worker")]

from model_worker.app import create_app  # noqa: E402
from model_worker.config import WorkerConfig  # noqa: E402
from tests.worker.media_samples import encode_audio, form_image, image_bytes  # noqa: E402
from tests.worker.tiny_models import build_tiny_checkpoints, worker_env  # noqa: E402

GENERATION = {"OMNI_MAX_NEW_TOKENS": "16", "OMNI_TALKER_MAX_NEW_TOKENS": "32", "DETECTOR_MAX_NEW_TOKENS": "80"}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def median(values):
    return statistics.median(values) if values else float("nan")


def feedback_request(client, audio: bytes, return_audio: bool = False):
    return client.post("/omni/feedback", content_type="multipart/form-data", data={
        "audio": (io.BytesIO(audio), "clip.webm", "audio/webm"), "return_audio": "true" if return_audio else "false",
    })


def detect_request(client, image_b64: str):
    return client.post("/detect", json={"image_base64": image_b64})


def chat_request(client):
    return client.post("/omni/chat", json={"messages": [{"role": "user", "content": "Hello there"}],
                                           "options": {"temperature": 0, "max_tokens": 16}})


def latency(name, send, repeat, keys):
    rows = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = send()
        wall = (time.perf_counter() - started) * 1000
        assert response.status_code == 200, response.json
        timings = response.json["timings"]
        rows.append({**{k: timings.get(k) or 0.0 for k in keys}, "wall_ms": wall})
    cells = "  ".join(f"{k}={median([r[k] for r in rows]):8.1f}" for k in [*keys, "wall_ms"])
    print(f"  {name:<22} {cells}   (median of {repeat})")


def throughput(app, send, clients: int, total: int) -> float:
    per_client = max(1, total // clients)
    errors = []

    def worker():
        client = app.test_client()
        for _ in range(per_client):
            response = send(client)
            if response.status_code != 200:
                errors.append(response.status_code)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        print(f"    ({len(errors)} non-200 answers: {sorted(set(errors))})")
    return per_client * clients / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=12, help="requests per throughput run (default 12)")
    parser.add_argument("--repeat", type=int, default=5, help="requests per latency row (default 5)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        checkpoints = build_tiny_checkpoints(tmp)
        print(f"tiny checkpoints built in {time.perf_counter() - started:.2f} s")
        config = WorkerConfig.from_env({**worker_env(checkpoints, **GENERATION), "QUEUE_SIZE": "8"})
        started = time.perf_counter()
        app = create_app(config)
        slots = app.extensions["model_slots"]
        for slot in slots.values():
            slot.wait_loaded(600)
            assert slot.state == "ready", slot.info()
        print(f"model load (one after the other, in the background): total {time.perf_counter() - started:.2f} s")
        for key, slot in slots.items():
            print(f"  {key:<9} {slot.load_seconds:.2f} s  ({slot.info()['device']}, {slot.info()['dtype']})")

        client = app.test_client()
        audio = encode_audio("webm_opus", seconds=5.0)
        image_b64 = base64.b64encode(image_bytes(form_image(1400, 900), "PNG")).decode()
        feedback_request(client, audio)  # first call warms caches (kernels, tokenizer); not measured
        feedback_request(client, encode_audio("wav", 0.5), return_audio=True)
        detect_request(client, image_b64)

        print("\nper-request latency, ms (5 s WebM/Opus clip; 1400x900 PNG form):")
        latency("omni text feedback", lambda: feedback_request(client, audio), args.repeat,
                ["decode_ms", "preprocess_ms", "inference_ms", "total_ms"])
        latency("omni spoken feedback", lambda: feedback_request(client, audio, True), args.repeat,
                ["decode_ms", "preprocess_ms", "inference_ms", "total_ms"])
        latency("omni chat", lambda: chat_request(client), args.repeat, ["total_ms"])
        latency("detector", lambda: detect_request(client, image_b64), args.repeat,
                ["decode_ms", "preprocess_ms", "inference_ms", "total_ms"])

        print("\nthroughput, requests/s (one inference per model at a time; the queue holds the rest):")
        for name, send in [
            ("omni text feedback", lambda c: feedback_request(c, audio)),
            ("detector", lambda c: detect_request(c, image_b64)),
        ]:
            one = throughput(app, send, 1, args.requests)
            four = throughput(app, send, 4, args.requests)
            print(f"  {name:<22} 1 client: {one:6.2f} req/s   4 clients: {four:6.2f} req/s")

        print(f"\npeak memory (RSS) of this process: {peak_rss_mb():.0f} MiB")


if __name__ == "__main__":
    main()
