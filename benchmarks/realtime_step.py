"""Real-time voice benchmark: per-frame step time against the 80 ms frame budget, and the first-reply latency over
a local WebSocket, directly and through the llm-api's relay, side by side.

CPU (default): the tiny random Moshi checkpoint (tests/realtime/tiny_moshi.py), float32 and bfloat16 — the figures
describe the service's own overhead (Opus, WebSocket, relay), not J-Moshi's speed. With `--real-size` (needs a
CUDA device): a random-weight Moshi 7B + Mimi at J-Moshi's real size in bf16 on the GPU, the same loop, and peak GPU
memory.

    .venv/bin/python benchmarks/realtime_step.py [--frames 100] [--real-size [--device cpu --layers 1]]

Per frame = Mimi encode + LMGen step (temporal transformer + depformer) + Mimi decode, as the service runs it
(realtime_voice.engine.Slot.step); p50/p95/max over the frames after 4 warm-up frames.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "realtime"), str(REPO / "llm-api")]

from realtime_voice.config import load_config  # noqa: E402
from realtime_voice.engine import Engine  # noqa: E402
from tests.realtime.moshi_client import converse_async, tone  # noqa: E402
from tests.realtime.stack import TINY_DIR, tiny_env  # noqa: E402
from tests.realtime.tiny_moshi import build_tiny_moshi  # noqa: E402

BUDGET_MS = 80.0


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"{statistics.median(ordered):7.1f} {p95:7.1f} {ordered[-1]:7.1f}"


def step_times(engine: Engine, frames: int) -> list[float]:
    slot = engine._slots[0]
    audio = tone(frames * 0.08 + 0.4)
    times = []

    def run():
        slot.reset()
        for index in range(frames + 4):
            frame = audio[index * 1920: (index + 1) * 1920]
            if frame.size < 1920:
                break
            started = time.perf_counter()
            slot.step(frame)
            if slot.device.startswith("cuda"):
                import torch

                torch.cuda.synchronize()
            if index >= 4:
                times.append(1000 * (time.perf_counter() - started))

    engine.executor.submit(run).result()
    return times


def real_size_models(device: str, layers: int | None = None):
    """Random-weight Moshi 7B and Mimi at J-Moshi's sizes (moshi's own defaults), bf16 LM, on `device`. `layers`
    keeps every width but fewer temporal layers (a CPU smoke test of this path: its figures mean nothing)."""
    import torch
    from moshi.models import loaders

    lm_kwargs = None if layers is None else {**loaders._lm_kwargs, "num_layers": layers}
    lm = loaders.get_moshi_lm(None, lm_kwargs=lm_kwargs, device=device, dtype=torch.bfloat16)
    mimi = loaders.get_mimi(None, device=device, num_codebooks=8)
    tokenizer = build_tokenizer()
    return mimi, lm, tokenizer


def build_tokenizer():
    import sentencepiece as spm

    return spm.SentencePieceProcessor(str(build_tiny_moshi(TINY_DIR) / "tokenizer.model"))


def serve(engine: Engine) -> tuple[str, callable]:
    """The service's aiohttp app on a local port in a thread; returns its base URL and a stop function."""
    from aiohttp import web

    from realtime_voice.app import create_app
    from tests.support.procs import free_port

    port = free_port()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(create_app(engine.config, engine))

    def run():
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        loop.run_forever()

    threading.Thread(target=run, daemon=True).start()
    time.sleep(0.5)

    def stop():
        deadline = time.monotonic() + 10
        while engine.active and time.monotonic() < deadline:  # the last conversation's end, on the server side
            time.sleep(0.05)
        loop.call_soon_threadsafe(loop.stop)

    return f"http://127.0.0.1:{port}", stop


def first_reply(url: str, runs: int = 3) -> list[float]:
    values = []
    for _ in range(runs):
        result = asyncio.run(converse_async(url, tone(1.5), linger_s=0.3))
        if result.first_audio_s is not None:
            values.append(1000 * result.first_audio_s)
    return values


def relay_comparison(service_url: str, runs: int) -> None:
    from tests.doubles.stack import llm_api_service
    from tests.support.procs import free_port

    closed = f"http://127.0.0.1:{free_port()}"
    with tempfile.TemporaryDirectory() as tmp, \
            llm_api_service(closed, closed, Path(tmp) / "h.sqlite3", env={"REALTIME_URL": service_url}) as api:
        direct, relayed = [], []
        for _ in range(runs):  # interleaved, so a noisy moment of the machine falls on both
            direct += first_reply(service_url.replace("http://", "ws://") + "/api/chat", 1)
            relayed += first_reply(api.url.replace("http://", "ws://") + "/realtime/api/chat", 1)
    print(f"\nfirst reply (first audio sent -> first audio received), {runs} conversations each, ms (p50 / max):")
    print(f"  direct to the service          {statistics.median(direct):7.1f} / {max(direct):7.1f}")
    print(f"  through the llm-api relay      {statistics.median(relayed):7.1f} / {max(relayed):7.1f}")
    print("  (the first reply needs 2 frames in: the first input frame is the model's past)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--real-size", action="store_true", help="random-weight Moshi 7B on the GPU")
    parser.add_argument("--device", default="cuda", help="with --real-size: cuda (default) or cpu (smoke test)")
    parser.add_argument("--layers", type=int, default=None, help="with --real-size: fewer temporal layers")
    parser.add_argument("--conversations", type=int, default=9)
    args = parser.parse_args()

    print(f"per-frame step (Mimi encode + LM step + Mimi decode), {args.frames} frames, ms; budget {BUDGET_MS:.0f} ms")
    print(f"{'model':38} {'p50':>7} {'p95':>7} {'max':>7}  real-time factor (p50 / 80 ms)")
    if args.real_size:
        import torch

        cuda = args.device.startswith("cuda")
        build_tiny_moshi(TINY_DIR)
        config = load_config({"DEVICE": args.device, "DTYPE": "bfloat16", "MOSHI_MODEL_DIR": str(TINY_DIR)})
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        engine = Engine(config, models=lambda: real_size_models(args.device, args.layers))
        engine.start()
        engine.wait_loaded()
        if engine.status.error:
            raise SystemExit(f"loading failed: {engine.status.error}")
        times = step_times(engine, args.frames)
        where = torch.cuda.get_device_name() if cuda else "CPU"
        layers = "" if args.layers is None else f" ({args.layers} layers)"
        print(f"{'Moshi 7B random' + layers + ', bf16, ' + where:38} {percentiles(times)}  "
              f"{statistics.median(times) / BUDGET_MS:.2f}")
        if cuda:
            print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
        url, stop = serve(engine)
        values = first_reply(url.replace("http://", "ws://") + "/api/chat", args.conversations)
        print(f"first reply over a local WebSocket (7B{layers}, {where}): p50 {statistics.median(values):.1f} ms, "
              f"max {max(values):.1f} ms")
        stop()
        return
    build_tiny_moshi(TINY_DIR)
    for dtype in ("float32", "bfloat16"):
        engine = Engine(load_config({**tiny_env(), "DTYPE": dtype}))
        engine.start()
        engine.wait_loaded()
        times = step_times(engine, args.frames)
        factor = statistics.median(times) / BUDGET_MS
        print(f"{'tiny random Moshi, CPU, ' + dtype:38} {percentiles(times)}  {factor:.2f}")
        if dtype == "float32":
            url, stop = serve(engine)
            relay_comparison(url, args.conversations)
            stop()
        engine.close()


if __name__ == "__main__":
    main()
