"""A stand-in for the `ollama` CLI's client commands (`list`, `show NAME`, `pull NAME`), built on the official
`ollama` Python client, so `ollama/pull-models.sh` can run here against the Ollama double.

Like the real CLI it reads the server from OLLAMA_HOST, prints pull progress and exits 1 on an error.
"""

from __future__ import annotations

import os
import sys

import ollama


def main(argv: list[str]) -> int:
    client = ollama.Client(host=os.environ.get("OLLAMA_HOST", "http://127.0.0.1:11434"))
    try:
        if argv == ["list"]:
            for model in client.list().models:
                print(model.model)
        elif len(argv) == 2 and argv[0] == "show":
            client.show(argv[1])
        elif len(argv) == 2 and argv[0] == "pull":
            for progress in client.pull(argv[1], stream=True):
                print(progress.status, progress.completed or "", progress.total or "")
        else:
            print(f"unsupported: ollama {' '.join(argv)}", file=sys.stderr)
            return 2
    except (ollama.ResponseError, ConnectionError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
