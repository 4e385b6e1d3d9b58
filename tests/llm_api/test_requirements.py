"""The image installs only llm-api/requirements.txt: everything the served app imports must come from it.

The shared test venv holds many more packages, so a missing pin (gunicorn's gevent worker imports `packaging`
without declaring it) would pass every other test and fail only in the image. This test loads what gunicorn
loads (the gevent worker and the app) in a fresh interpreter and maps each imported package to the
distribution that provides it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import metadata

from packaging.requirements import Requirement

from tests.doubles.stack import LLM_API_DIR

PROBE = """
import sys
before = set(sys.modules)  # what site.py loaded (e.g. .pth hooks) is not the app's doing
import json
from gunicorn.workers import ggevent  # the worker class gunicorn.conf.py names
import llm_api.app
print(json.dumps(sorted({name.split(".")[0] for name in set(sys.modules) - before})))
"""


def closure(names: list[str]) -> set[str]:
    """The requirement names and, transitively, everything they require (normalized)."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in seen:
            continue
        seen.add(name)
        for line in metadata.requires(name) or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return seen


def test_every_imported_package_is_pinned_or_a_dependency_of_a_pin():
    lines = [line.split("#")[0].strip() for line in (LLM_API_DIR / "requirements.txt").read_text().splitlines()]
    allowed = closure([Requirement(line).name for line in lines if line])
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=LLM_API_DIR, capture_output=True, text=True,
                            timeout=60, check=True)
    providers = metadata.packages_distributions()
    missing = {}
    for module in json.loads(result.stdout):
        if module in sys.stdlib_module_names or module in ("llm_api", "__main__") or module not in providers:
            continue
        dists = {re.sub(r"[-_.]+", "-", d).lower() for d in providers[module]}
        if not dists & allowed:
            missing[module] = sorted(dists)
    assert missing == {}, f"imported but not installed by llm-api/requirements.txt: {missing}"
