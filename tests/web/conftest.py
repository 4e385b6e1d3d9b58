"""End-to-end fixtures: the REAL web server (web/.next/standalone, started with its Dockerfile's CMD), the REAL
llm-api with the Ollama double, and headless Chromium (system /usr/bin/chromium, one context per module).

Services are session-scoped; the double's knobs and models are reset before every test that uses it."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from playwright.sync_api import BrowserContext, Page, Playwright, expect, sync_playwright

from tests.doubles.ollama_double import OllamaDouble
from tests.doubles.stack import llm_api_service, ollama_double
from tests.support.procs import REPO_ROOT, Service, dockerfile_cmd, free_port, run_service

CHROMIUM = Path("/usr/bin/chromium")
WEB_DIR = REPO_ROOT / "web"
STANDALONE = WEB_DIR / ".next" / "standalone"
ARTIFACTS = REPO_ROOT / "test-artifacts" / "web"
CHROME_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
# The CPU is shared with other test suites: give assertions room (they return as soon as they hold).
expect.set_options(timeout=15_000)
# The model every chat test talks to; the double starts without it so the pull test has something to pull.
DEFAULT_MODEL = "7shi/ezo-gemma-2-jpn:2b-instruct-q8_0"
OTHER_MODEL = "qwen2.5:0.5b"
# A name the double's registry lacks (tests/doubles/ollama_double.py MISSING_IN_REGISTRY): its pull fails.
MISSING_MODEL = "does-not-exist:1b"


def require_tools() -> None:
    """Fail (never skip) when what the browser tests need is missing, saying how to get it."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install it with `apt-get install -y chromium fonts-noto-cjk`")
    if not (STANDALONE / "server.js").exists():
        pytest.fail(f"{STANDALONE / 'server.js'} is missing: build the web app first with `cd web && npm run build`")


def web_service(llm_api_url: str, log_name: str, port: int | None = None, **env: str):
    """The web app exactly as its image runs it: the Dockerfile's CMD in the standalone folder. `port`: one chosen
    beforehand (an llm-api that must list the page's origin in CORS_ORIGINS before the web server exists)."""
    require_tools()
    port = port or free_port()
    full_env = {"PORT": str(port), "HOSTNAME": "127.0.0.1", "LLM_API_URL": llm_api_url, "NODE_ENV": "production",
                "NEXT_TELEMETRY_DISABLED": "1", **env}
    return run_service(dockerfile_cmd(WEB_DIR / "Dockerfile"), cwd=STANDALONE, port=port,
                       log_path=ARTIFACTS / f"{log_name}-{port}.log", env=full_env, health_path="/api/health")


AXE = WEB_DIR / "node_modules" / "axe-core" / "axe.min.js"


def axe_violations(page: Page) -> list[str]:
    """axe-core's WCAG 2 A/AA checks (labels, names, contrast, ARIA) on the current page."""
    assert AXE.exists(), f"{AXE} is missing: run `cd web && npm ci`"
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa']})).violations"
        ".map(v => `${v.id} (${v.impact}): ${v.nodes.map(n => n.target.join(' ')).slice(0, 5).join(', ')}`)")
    return result


@dataclass
class Stack:
    ollama: OllamaDouble
    api: Service
    web: Service

    def reset(self) -> None:
        """The double back to its defaults, with the default model pulled again (through the real llm-api)."""
        self.ollama.reset()
        with requests.post(f"{self.api.url}/models/pull", json={"name": DEFAULT_MODEL}, stream=True, timeout=30) as r:
            r.raise_for_status()
            lines = [json.loads(line) for line in r.iter_lines() if line]
        assert lines[-1] == {"type": "done"}, lines


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Ollama double + real llm-api (no worker: a closed port) + real web server."""
    require_tools()
    db = tmp_path_factory.mktemp("web-e2e") / "llm-api.sqlite3"
    worker_url = f"http://127.0.0.1:{free_port()}"
    with ollama_double(models=(OTHER_MODEL,)) as double, \
            llm_api_service(double.url, worker_url, db, log_dir=ARTIFACTS) as api, \
            web_service(api.url, "web") as web:
        stack = Stack(double, api, web)
        stack.reset()
        yield stack


@pytest.fixture()
def fresh(stack: Stack) -> Iterator[Stack]:
    """The shared stack with the double at its defaults (and the default model pulled) before and after."""
    stack.reset()
    yield stack
    stack.reset()


@pytest.fixture()
def unpulled_default(fresh: Stack, tmp_path: Path) -> Iterator[Stack]:
    """The shared double behind a second real llm-api whose default model (`MISSING_MODEL`) the double neither
    has nor can pull, so the llm-api lists it `not_pulled`, and a second web server in front of that llm-api."""
    worker_url = f"http://127.0.0.1:{free_port()}"
    env = {"LLM_DEFAULT_MODEL": MISSING_MODEL, "WEB_CONCURRENCY": "1"}
    with llm_api_service(fresh.ollama.url, worker_url, tmp_path / "llm-api.sqlite3", env=env,
                         log_dir=ARTIFACTS) as api, \
            web_service(api.url, "web-unpulled-default") as web:
        yield Stack(fresh.ollama, api, web)


@dataclass
class WorkerStack:
    worker: Service
    api: Service
    web: Service


class _Background:
    """Start services in a thread (the worker loads models for a while) and stop them at the end."""

    def __init__(self, start: Callable[[contextlib.ExitStack], WorkerStack]) -> None:
        self._exit = contextlib.ExitStack()
        self._start = start
        self._result: WorkerStack | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="web-e2e-worker-start", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._result = self._start(self._exit)
        except BaseException as exc:  # handed to the test that waits for it
            self._error = exc

    def get(self, timeout_s: float) -> WorkerStack:
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            raise TimeoutError(f"the model-worker stack did not start within {timeout_s} s")
        if self._error is not None:
            raise RuntimeError(f"the model-worker stack failed to start: {self._error}") from self._error
        assert self._result is not None
        return self._result

    def close(self) -> None:
        self._thread.join()
        self._exit.close()


def _start_worker_stack(exit_stack: contextlib.ExitStack, ollama_url: str, root: Path) -> WorkerStack:
    """The REAL worker on tiny checkpoints (tests/worker), an llm-api that uses it, and a web server in front."""
    from tests.worker.stack import model_worker_service
    from tests.worker.tiny_models import build_tiny_checkpoints

    checkpoints = build_tiny_checkpoints(root / "checkpoints")
    worker = exit_stack.enter_context(model_worker_service(checkpoints, log_dir=ARTIFACTS))
    api = exit_stack.enter_context(llm_api_service(ollama_url, worker.url, root / "llm-api.sqlite3", log_dir=ARTIFACTS))
    web = exit_stack.enter_context(web_service(api.url, "web-worker"))
    return WorkerStack(worker, api, web)


@pytest.fixture(scope="session", autouse=True)
def worker_stack_starter(request: pytest.FixtureRequest, stack: Stack,
                         tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Background | None]:
    """When this run includes the worker pages, start their stack at once, in the background: the worker's
    model loading then overlaps with the other browser tests instead of adding to the run time."""
    if not any(item.path.name == "test_worker_pages.py" for item in request.session.items):
        yield None
        return
    starter = _Background(lambda exit_stack: _start_worker_stack(
        exit_stack, stack.ollama.url, tmp_path_factory.mktemp("web-worker")))
    yield starter
    starter.close()


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    require_tools()
    with sync_playwright() as pw:
        yield pw


def launch(pw: Playwright, user_data_dir: Path, extra_args: list[str] | None = None, **options) -> BrowserContext:
    return pw.chromium.launch_persistent_context(
        str(user_data_dir), executable_path=str(CHROMIUM), headless=True,
        args=CHROME_ARGS + (extra_args or []), viewport={"width": 1280, "height": 860}, locale="en-US",
        **options,
    )


def launch_with_microphone(playwright: Playwright, root: Path, wav: Path) -> BrowserContext:
    """Chromium with a fake microphone that plays `wav`, permission granted."""
    context = launch(playwright, root / "profile", extra_args=[
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}",
    ])
    context.set_default_timeout(15_000)
    return context


@pytest.fixture(scope="module")
def browser(playwright: Playwright, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    context = launch(playwright, tmp_path_factory.mktemp("chromium"))
    context.set_default_timeout(15_000)
    yield context
    context.close()


def open_tab(context: BrowserContext) -> Iterator[Page]:
    """A new tab in `context`, closed after; page errors (uncaught exceptions) fail the test. For fixtures."""
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    tab.close()
    assert not errors, f"uncaught errors in the page: {errors}"


@pytest.fixture()
def page(browser: BrowserContext) -> Iterator[Page]:
    """A new tab; page errors (uncaught exceptions) fail the test."""
    yield from open_tab(browser)


@pytest.fixture(scope="session")
def shot() -> Callable[[Page, str], Path]:
    """Save what a person sees: a screenshot under test-artifacts/web/<name>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(page: Page, name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path))
        return path

    return take
