"""Peak memory of one Token2Wav DiT pass versus seconds of speech: the library's pass over the whole answer against
`WindowedToken2Wav`'s windowed pass, at the real DiT size (Qwen2.5-Omni's defaults: hidden 1024, 22 layers, 16
heads, block 24) with random weights, float32 on CPU, with the analytic model's figure and the time per pass.

A pass is one evaluation of the guided ODE function (classifier-free guidance, batch 2), as `sample` runs it 36
times per answer. Peak memory is the process's peak RSS above what it held before the pass (VmHWM, reset through
/proc/self/clear_refs), with glibc told to map every allocation of 64 KiB or more separately so that freed tensors
go back to the system and the figure counts the tensors alive at the peak. The vocoder is not run (a tiny one is
built only to complete the Token2Wav module).

    .venv/bin/python benchmarks/speech_memory.py [--seconds 5 10 20] [--window-s 2] [--threads 1] [--json]
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "model-worker")]

import torch  # noqa: E402
from transformers.models.qwen2_5_omni.configuration_qwen2_5_omni import (  # noqa: E402
    Qwen2_5OmniDiTConfig,
    Qwen2_5OmniToken2WavConfig,
)
from transformers.models.qwen2_5_omni.modeling_qwen2_5_omni import Qwen2_5OmniToken2WavModel  # noqa: E402

from model_worker.speech import (  # noqa: E402
    REFERENCE_MEL_FRAMES,
    WindowedToken2Wav,
    codes_per_second,
    dit_margin_codes,
    dit_pass_peak_bytes,
    dit_peak_bytes,
    window_codes_for,
)

MIB = 2**20

_M_MMAP_THRESHOLD = -3  # glibc mallopt parameter


def map_large_allocations() -> None:
    """Make glibc serve every allocation >= 64 KiB with its own mapping, returned to the system when freed, so
    that RSS follows the live tensors instead of the heap's high-water mark."""
    ctypes.CDLL("libc.so.6").mallopt(_M_MMAP_THRESHOLD, 64 * 1024)


def _status(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    return int(match.group(1)) * 1024


def measure(run) -> tuple[int, float]:
    """(peak bytes above the current RSS, seconds) of `run()`."""
    gc.collect()
    base = _status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    started = time.perf_counter()
    result = run()
    elapsed = time.perf_counter() - started
    peak = _status("VmHWM") - base
    del result
    return peak, elapsed


def real_size_token2wav() -> Qwen2_5OmniToken2WavModel:
    """Token2Wav with the real DiT (random weights) and a tiny vocoder (not used here)."""
    config = Qwen2_5OmniToken2WavConfig(
        dit_config=Qwen2_5OmniDiTConfig().to_dict(), bigvgan_config={"upsample_initial_channel": 32},
    )
    config._attn_implementation = "sdpa"
    torch.manual_seed(0)
    return Qwen2_5OmniToken2WavModel(config).eval()


class PassBench:
    """Inputs for one guided DiT pass at a given number of codes, and the two ways to run it."""

    def __init__(self, windowed: WindowedToken2Wav):
        self.windowed = windowed
        self.dit = windowed.dit
        generator = torch.Generator().manual_seed(1)
        self.conditioning = torch.randn(1, self.dit.config.enc_emb_dim, generator=generator)
        self.reference_mel = torch.randn(1, REFERENCE_MEL_FRAMES, self.dit.mel_dim, generator=generator)
        self.time_step = torch.tensor(0.3)

    def inputs(self, codes: int):
        generator = torch.Generator().manual_seed(codes)
        state = torch.randn(1, codes * self.dit.repeats, self.dit.mel_dim, generator=generator)
        code = torch.randint(0, self.dit.config.num_embeds, (1, codes), generator=generator)
        return state, code

    @torch.no_grad()
    def plain(self, state, code):
        """The library's pass over the whole answer (what `sample`'s ODE function does)."""
        speaker = self.conditioning.unsqueeze(1).repeat(1, state.shape[1], 1)
        output = self.dit(hidden_states=state, quantized_code=code, speaker_embedding=speaker,
                          condition_vector=self.reference_mel, time_step=self.time_step, apply_cfg=True)
        guided, unconditioned = torch.chunk(output, 2, dim=0)
        return guided + (guided - unconditioned) * 0.5

    def windowed_pass(self, state, code):
        return self.windowed.guided_velocity(state, code, self.conditioning, self.reference_mel, self.time_step)


def run(seconds: list[float], plain_seconds: list[float], window_s: float) -> dict:
    token2wav = real_size_token2wav()
    config = token2wav.code2wav_dit_model.config
    window_codes = window_codes_for(config, window_s)
    bench = PassBench(WindowedToken2Wav(token2wav, window_codes))
    rate = codes_per_second(config, token2wav.code2wav_bigvgan_model.config)
    back, ahead = dit_margin_codes(config)
    # First-call allocations (thread pools, per-thread buffers) at the largest pass a window makes, so that they are
    # not counted in the first measurement.
    measure(lambda: bench.plain(*bench.inputs(window_codes + back + ahead)))
    rows = []
    for duration in seconds:
        codes = round(duration * rate)
        state, code = bench.inputs(codes)
        row = {"seconds": duration, "codes": codes, "windows": len(bench.windowed.dit_windows(codes))}
        row["windowed_peak_bytes"], row["windowed_s"] = measure(lambda: bench.windowed_pass(state, code))  # noqa: B023
        if duration in plain_seconds:
            row["plain_peak_bytes"], row["plain_s"] = measure(lambda: bench.plain(state, code))  # noqa: B023
            row["plain_model_bytes"] = dit_pass_peak_bytes(config, codes)
        rows.append(row)
    return {
        "window_s": window_s, "window_codes": window_codes, "pass_codes": window_codes + back + ahead,
        "window_model_bytes": dit_peak_bytes(config, window_codes), "threads": torch.get_num_threads(), "rows": rows,
    }


def print_table(result: dict) -> None:
    print(f"Token2Wav DiT, real size, float32, CPU, {result['threads']} thread(s): one guided pass (batch 2).")
    print(f"Windows of {result['window_codes']} codes ({result['window_s']} s); a pass sees at most "
          f"{result['pass_codes']} codes with its margins; model for that pass: "
          f"{result['window_model_bytes'] / MIB:.1f} MiB.\n")
    header = (f"{'speech':>7} {'codes':>6} | {'plain MiB':>9} {'model':>7} {'s/pass':>7} | {'windows':>7} "
              f"{'windowed MiB':>12} {'model':>7} {'s/pass':>7}")
    print(header)
    print("-" * len(header))
    for row in result["rows"]:
        plain = (f"{row['plain_peak_bytes'] / MIB:9.1f} {row['plain_model_bytes'] / MIB:7.1f} {row['plain_s']:7.2f}"
                 if "plain_peak_bytes" in row else f"{'-':>9} {'-':>7} {'-':>7}")
        print(f"{row['seconds']:6.1f}s {row['codes']:6d} | {plain} | {row['windows']:7d} "
              f"{row['windowed_peak_bytes'] / MIB:12.1f} {result['window_model_bytes'] / MIB:7.1f} "
              f"{row['windowed_s']:7.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, nargs="+", default=[5.0, 10.0, 20.0], help="speech lengths")
    parser.add_argument("--plain-seconds", type=float, nargs="*", default=None,
                        help="lengths for which the plain pass is measured too (default: all)")
    parser.add_argument("--window-s", type=float, default=2.0, help="window size in seconds of speech")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    map_large_allocations()
    torch.set_num_threads(args.threads)
    torch.backends.mkldnn.enabled = False  # as the worker runs on CPU (runtime.py)
    plain_seconds = args.seconds if args.plain_seconds is None else args.plain_seconds
    result = run(args.seconds, plain_seconds, args.window_s)
    if args.json:
        print(json.dumps(result))
    else:
        print_table(result)


if __name__ == "__main__":
    main()
