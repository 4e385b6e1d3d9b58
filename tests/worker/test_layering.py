"""The worker's modules depend one way: routes → services → slots and models; `app.py` builds the app and imports
the routes at its top. Routes used to import `slots` and `worker_config` from `app.py`, which imported them back
inside `create_app` (moving that import to the top raised ImportError); these tests fail if that circle returns."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap

from tests.support.procs import REPO_ROOT

PACKAGE = REPO_ROOT / "model-worker" / "model_worker"
ROUTES = sorted(path for path in (PACKAGE / "routes").glob("*.py") if path.name != "__init__.py")


def _relative_imports(path) -> list[tuple[str, ast.ImportFrom]]:
    """(module relative to the package, statement) for every `from .x import ...` / `from ..x import ...`."""
    tree = ast.parse(path.read_text())
    depth_of_package = 2 if path.parent.name == "routes" else 1
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            parts = (["routes"] if node.level < depth_of_package else []) + ([node.module] if node.module else [])
            found.append((".".join(parts), node))
    return found


def test_the_routes_import_nothing_from_app_and_cloud_calls_the_service_not_detect():
    for path in ROUTES:
        modules = {module for module, _ in _relative_imports(path)}
        assert "app" not in modules, f"{path.name} imports from app.py"
        if path.name == "openapi.py":  # serves the package's OpenAPI document: it calls no operation
            continue
        assert "services" in modules, f"{path.name} does not reach its operations through services.py"
    cloud = {module for module, _ in _relative_imports(PACKAGE / "routes" / "cloud.py")}
    assert not cloud & {"routes.detect", "routes"}, "routes/cloud.py uses another route module as its service"


def test_app_imports_the_routes_at_module_top():
    tree = ast.parse((PACKAGE / "app.py").read_text())
    top_level = [node for node in tree.body if isinstance(node, ast.ImportFrom) and node.level == 1]
    routes = [node for node in top_level if node.module == "routes"]
    assert routes and {alias.name for alias in routes[0].names} == {"cloud", "detect", "health", "omni", "openapi"}
    nested = [node for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module == "routes"]
    assert nested == routes, "app.py imports the routes inside a function again"


def test_every_route_module_imports_on_its_own_before_app():
    """In a fresh interpreter: each route module imports first, without pulling in app.py, then app.py imports."""
    names = [f"model_worker.routes.{path.stem}" for path in ROUTES]
    script = textwrap.dedent(f"""
        import importlib, sys
        for name in {names!r}:
            importlib.import_module(name)
        assert "model_worker.app" not in sys.modules, "a route module imported app.py"
        import model_worker.app
        print("ok")
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "model-worker")}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-3000:]
