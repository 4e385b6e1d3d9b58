"""How much latency the llm-api adds in front of Ollama.

Starts the Ollama double (as a process) and the real llm-api (gunicorn, its Dockerfile CMD), then sends the same
chat requests to the llm-api's `/ask-llm` and directly to the double's `/api/chat`, and prints p50/p99 latencies
side by side with the difference (the llm-api's overhead: validation, history read, SQLite write, proxying).

    .venv/bin/python benchmarks/llm_api_overhead.py [--requests 200] [--streams 100] [--concurrency 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.doubles.stack import llm_api_service  # noqa: E402
from tests.support.procs import free_port, run_service  # noqa: E402

MODEL = "7shi/ezo-gemma-2-jpn:2b-instruct-q8_0"
PROMPT = "ベンチマーク用の短い質問です。 please answer briefly"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def timed(fn: Callable[[requests.Session], float], count: int, concurrency: int) -> list[float]:
    sessions = [requests.Session() for _ in range(concurrency)]
    for s in sessions:  # warm up connections and the model's first load
        fn(s)

    def run(i: int) -> float:
        return fn(sessions[i % concurrency])

    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(run, range(count)))


def api_whole(url: str) -> Callable[[requests.Session], float]:
    def call(http: requests.Session) -> float:
        start = time.perf_counter()
        response = http.post(url + "/ask-llm", json={"prompt": PROMPT, "model": MODEL}, timeout=60)
        response.raise_for_status()
        return (time.perf_counter() - start) * 1000
    return call


def ollama_whole(url: str) -> Callable[[requests.Session], float]:
    def call(http: requests.Session) -> float:
        start = time.perf_counter()
        response = http.post(url + "/api/chat", timeout=60, json={
            "model": MODEL, "messages": [{"role": "user", "content": PROMPT}], "stream": False})
        response.raise_for_status()
        return (time.perf_counter() - start) * 1000
    return call


def stream_call(url: str, path: str, body: dict, first: list[float]) -> Callable[[requests.Session], float]:
    def call(http: requests.Session) -> float:
        start = time.perf_counter()
        got_first = False
        with http.post(url + path, json=body, stream=True, timeout=60) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                item = json.loads(line) if line else {}
                is_token = item.get("type") == "token" or bool(item.get("message", {}).get("content"))
                if is_token and not got_first:
                    first.append((time.perf_counter() - start) * 1000)
                    got_first = True
        return (time.perf_counter() - start) * 1000
    return call


def row(name: str, api: list[float], direct: list[float]) -> str:
    cells = []
    for q in (50, 99):
        a, d = percentile(api, q), percentile(direct, q)
        cells.append(f"{d:9.2f} {a:9.2f} {a - d:+9.2f}")
    return f"{name:<26} " + "   ".join(cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="non-stream requests per target")
    parser.add_argument("--streams", type=int, default=100, help="streamed requests per target")
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args()

    port = free_port()
    double_argv = [sys.executable, "-m", "tests.doubles.ollama_double", "--port", str(port), "--models", MODEL]
    with tempfile.TemporaryDirectory() as tmp, \
            run_service(double_argv, cwd=REPO_ROOT, port=port, log_path=Path(tmp) / "double.log",
                        health_path="/api/version") as double, \
            llm_api_service(double.url, f"http://127.0.0.1:{free_port()}", Path(tmp) / "bench.sqlite3",
                            log_dir=Path(tmp)) as api:
        c = args.concurrency
        direct_whole = timed(ollama_whole(double.url), args.requests, c)
        via_api_whole = timed(api_whole(api.url), args.requests, c)
        direct_first: list[float] = []
        api_first: list[float] = []
        ollama_body = {"model": MODEL, "messages": [{"role": "user", "content": PROMPT}], "stream": True}
        direct_stream = timed(stream_call(double.url, "/api/chat", ollama_body, direct_first), args.streams, c)
        api_stream = timed(stream_call(api.url, "/ask-llm", {"prompt": PROMPT, "model": MODEL, "stream": True},
                                       api_first), args.streams, c)

    print(f"llm-api overhead vs. Ollama double (gunicorn gevent x2, SQLite WAL), concurrency {c}, "
          f"{args.requests} whole / {args.streams} streamed requests; milliseconds")
    print(f"{'':<26} {'p50 direct':>9} {'via api':>9} {'added':>9}   {'p99 direct':>9} {'via api':>9} {'added':>9}")
    print(row("non-stream total", via_api_whole, direct_whole))
    print(row("stream first token", api_first[-args.streams:], direct_first[-args.streams:]))
    print(row("stream total", api_stream, direct_stream))
    print(f"mean added (non-stream): {statistics.mean(via_api_whole) - statistics.mean(direct_whole):+.2f} ms")


if __name__ == "__main__":
    main()
