"""What the llm-api adds in front of Ollama, side by side with LiteLLM's proxy, in one interleaved run.

Starts the Ollama double (a process), the llm-api of this tree and of a baseline commit (each under gunicorn as its
Dockerfile CMD runs it, with its default settings; this tree twice: asked on /ask-llm, and on its OpenAI-compatible
/v1/chat/completions as LiteLLM is asked), and the LiteLLM proxy (its own venv, `make bench-env`) routing
`ollama_chat/<model>` to the same double. Every round sends the same chat to each target in a shuffled order:
concurrency 1 whole answers, concurrency 1 streams, then rounds of N simultaneous streams per target. Prints the
added p50 over calling the double directly, and the CPU per request of each gateway's processes (master and workers,
utime + stime from /proc over each block, divided by the block's requests to it).

    .venv/bin/python benchmarks/gateway_vs_litellm.py [--rounds 300] [--burst-rounds 12] [--concurrency 32]
        [--baseline 6711f20 | --baseline none] [--no-litellm] [--no-v1]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
from pathlib import Path

from gateway_load import Samples, concurrent, sequential
from gateway_targets import (
    LITELLM_VENV,
    REPO_ROOT,
    Target,
    baseline_tree,
    litellm_proxy,
    llm_api,
    ollama_double,
)

GOALS = ("≤ 1 ms", "≤ 1 ms", "≤ LiteLLM/10", "≤ 2 ms")


def quantile(values: list[float], q: float) -> float:
    return statistics.median(values) if q == 0.5 else statistics.quantiles(values, n=100, method="inclusive")[98]


def added(samples: Samples, name: str, q: float = 0.5) -> float:
    return quantile(samples.ms[name], q) - quantile(samples.ms["direct"], q)


def table(names: list[str], blocks: list[Samples], concurrency: int) -> list[str]:
    labels = ["c=1 non-stream", "c=1 stream first token", f"c={concurrency} stream first token"]
    gateways = [n for n in names if n != "direct"]
    width = max(16, *(len(n) + 2 for n in gateways))
    lines = [f"{'added over calling Ollama directly':<36}" + "".join(f"{n:>{width}}" for n in gateways)
             + f"{'goal':>{width}}"]
    for label, block, goal in zip(labels, blocks, GOALS, strict=False):
        litellm = [n for n in gateways if n.startswith("LiteLLM")]
        if goal.startswith("≤ LiteLLM") and litellm:
            goal = f"≤ {added(block, litellm[0]) / 10:.0f} ms"
        for q, name, row_goal in ((0.5, "p50", goal), (0.99, "p99", "")):
            cells = "".join(f"{added(block, n, q):>+{width - 3}.1f} ms" for n in gateways)
            lines.append(f"{label + ' ' + name:<36}{cells}{row_goal:>{width}}")
    cpu = []
    for name in gateways:
        each = [b.cpu_ms_per_request(name) for b in blocks]
        cpu.append(f"{min(each):.1f}-{max(each):.1f} ms")
    lines.append(f"{'CPU per request':<36}" + "".join(f"{c:>{width}}" for c in cpu) + f"{GOALS[3]:>{width}}")
    direct = ", ".join(f"{statistics.median(b.ms['direct']):.1f}" for b in blocks)
    lines.append(f"(direct p50, ms: {direct}; CPU per request by block: " + "; ".join(
        f"{n} " + "/".join(f"{b.cpu_ms_per_request(n):.1f}" for b in blocks) for n in gateways) + ")")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=300, help="concurrency-1 requests per target, per block")
    parser.add_argument("--burst-rounds", type=int, default=12, help="bursts of simultaneous streams per target")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--baseline", default="6711f20", help="commit whose llm-api runs as 'today' ('none': skip)")
    parser.add_argument("--no-litellm", action="store_true", help="leave LiteLLM out (no bench venv needed)")
    parser.add_argument("--no-v1", action="store_true", help="leave out this tree's OpenAI-compatible /v1 surface")
    args = parser.parse_args()
    if not args.no_litellm and not (LITELLM_VENV / "bin" / "litellm").exists():
        raise SystemExit(f"no LiteLLM at {LITELLM_VENV}: run `make bench-env`, or pass --no-litellm")

    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        logs = Path(tmp)
        direct = stack.enter_context(ollama_double(logs))
        targets: list[Target] = [direct]
        if not args.no_litellm:
            targets.append(stack.enter_context(litellm_proxy(direct.url, logs)))
        if args.baseline != "none":
            base_dir = baseline_tree(args.baseline, REPO_ROOT / ".bench")
            targets.append(stack.enter_context(llm_api(f"today ({args.baseline})", base_dir, direct.url, logs)))
        targets.append(stack.enter_context(llm_api("new (this tree)", REPO_ROOT / "llm-api", direct.url, logs)))
        if not args.no_v1:  # the same tree asked on /v1/chat/completions, as LiteLLM is: its own process and CPU
            targets.append(stack.enter_context(llm_api("new /v1", REPO_ROOT / "llm-api", direct.url, logs, "openai")))
        blocks = [sequential(targets, args.rounds, stream=False), sequential(targets, args.rounds, stream=True),
                  concurrent(targets, args.burst_rounds, args.concurrency)]
    names = [t.name for t in targets]
    print(f"Gateways in front of the Ollama double, one interleaved run: {args.rounds} requests per target at c=1 "
          f"(each block), {args.burst_rounds} x {args.concurrency} streams at c={args.concurrency}")
    print("\n".join(table(names, blocks, args.concurrency)))


if __name__ == "__main__":
    main()
