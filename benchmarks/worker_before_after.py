"""Before/after figures for the GPU-faithful worker, on the tiny checkpoints (CPU): Omni preprocessing per request
and model load time, each measured both ways in one run.

- preprocess: before = the processor called twice per request (feedback and transcript prompts), each padding the
  audio features to 300 s, inside the model lock; after = features computed once, padded to the clip, outside it.
- load: before = both models loading in parallel threads (racing on torch's default dtype in bf16); after = one
  after the other (`ModelLoader`), which production now does.

Run: .venv/bin/python benchmarks/worker_before_after.py   (DiT peak memory vs speech length: speech_memory.py)
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "model-worker")]

import torch  # noqa: E402

torch.backends.mkldnn.enabled = False

from model_worker.app import create_app, default_loaders  # noqa: E402
from model_worker.config import WorkerConfig  # noqa: E402
from model_worker.media import decode_audio  # noqa: E402
from model_worker.omni import FeedbackRequest  # noqa: E402
from model_worker.prompts import (  # noqa: E402
    OMNI_FEEDBACK_INSTRUCTION,
    OMNI_SPEECH_SYSTEM_PROMPT,
    OMNI_TRANSCRIPT_INSTRUCTION,
)
from tests.worker.media_samples import encode_audio  # noqa: E402
from tests.worker.tiny_models import build_tiny_checkpoints, worker_env  # noqa: E402


def median_ms(fn, repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def preprocess_before(model, audio) -> None:
    """What the worker did per request before: two full processor calls, features padded to 300 s each."""
    for instruction in (OMNI_FEEDBACK_INSTRUCTION, OMNI_TRANSCRIPT_INSTRUCTION):
        text = model._conversation_text(OMNI_SPEECH_SYSTEM_PROMPT, instruction)
        model.processor(text=[text], audio=[audio.samples], sampling_rate=audio.sample_rate, return_tensors="pt",
                        padding=True)


def load_parallel(config: WorkerConfig) -> float:
    loaders = default_loaders(config)
    started = time.perf_counter()
    threads = [threading.Thread(target=loader) for loader in loaders.values()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def load_sequential(config: WorkerConfig) -> float:
    started = time.perf_counter()
    app = create_app(config)
    for slot in app.extensions["model_slots"].values():
        slot.wait_loaded(600)
        assert slot.state == "ready", slot.info()
    return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        checkpoints = build_tiny_checkpoints(tmp)
        config = WorkerConfig.from_env(worker_env(checkpoints))
        app = create_app(config)
        slot = app.extensions["model_slots"]["omni"]
        assert slot.wait_loaded(600) and slot.state == "ready", slot.info()
        model = slot.model
        print(f"torch threads: {torch.get_num_threads()}\n")
        print("omni preprocess per request, ms (median of 5)   before (2 calls, 300 s)   after (1 call, clip)")
        for seconds in (5, 30, 120):
            audio = decode_audio(encode_audio("wav", seconds=seconds), 120)
            before = median_ms(lambda a=audio: preprocess_before(model, a), 5)
            after = median_ms(lambda a=audio: model.preprocess(FeedbackRequest(audio=a)), 5)
            print(f"  {seconds:>4} s clip {before:>34.1f} {after:>24.1f}")
        print("  (before: inside the model lock; after: outside it, while another request runs)")

        print("\nmodel load, s (both tiny models)          before (parallel)   after (one after the other)")
        for dtype in ("float32", "bfloat16"):
            dtype_config = WorkerConfig.from_env({**worker_env(checkpoints), "DTYPE": dtype})
            before = load_parallel(dtype_config)
            torch.set_default_dtype(torch.float32)  # the parallel load may leave it at bf16 (the race)
            after = load_sequential(dtype_config)
            print(f"  {dtype:<10} {before:>33.2f} {after:>28.2f}")


if __name__ == "__main__":
    main()
