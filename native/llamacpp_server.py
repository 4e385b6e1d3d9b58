"""The embedded backend: llama.cpp's OpenAI-compatible server (the `xllamacpp` wheel) serving one GGUF model.

The llm-api reaches it like any other OpenAI-compatible backend (`OPENAI_BACKENDS=local=http://127.0.0.1:<port>/v1`);
`make run` starts it when no Ollama answers, and the tests use it as a real backend with a real model.

    python native/llamacpp_server.py [--model PATH] [--port 0] [--alias smollm2] [--threads 2]

Prints `listening on <url>` once the model is loaded, then serves until SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from smollm2 import model_path

DEFAULT_ALIAS = "smollm2"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a GGUF file (default: SmolLM2-135M-Instruct, fetched once)")
    parser.add_argument("--alias", default=DEFAULT_ALIAS, help="the model's id in /v1/models (default: smollm2)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: a free port (printed)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ctx", type=int, default=8192, help="context tokens, shared by the parallel slots")
    parser.add_argument("--parallel", type=int, default=2, help="requests decoded at once")
    parser.add_argument("--api-key-file", type=Path, help="a file holding the Bearer key clients must send")
    return parser.parse_args(argv)


def serve(args: argparse.Namespace) -> None:
    import xllamacpp  # imported here: `--help` works without the wheel

    params = xllamacpp.CommonParams()
    params.model.path = str(args.model or model_path())
    params.model_alias = {args.alias}
    params.hostnames = [args.host]
    params.port = args.port
    params.n_ctx = args.ctx
    params.n_parallel = args.parallel
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.verbosity = 1
    if args.api_key_file:
        params.api_keys = [args.api_key_file.read_text().strip()]
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    server = xllamacpp.Server(params)
    print(f"listening on {server.listening_address}", flush=True)
    stop.wait()
    del server  # stops the server's loop and frees the model


if __name__ == "__main__":
    serve(parse_args())
