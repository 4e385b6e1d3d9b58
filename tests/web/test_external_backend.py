"""The web chat answering from a REAL OpenAI-compatible backend (llama.cpp's server with SmolLM2), set up the way
`make run` sets it up without Ollama: Ollama off, the embedded backend as the default model. The picker groups the
models by backend and shows a dead backend as unreachable, with its reason."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.doubles.stack import llm_api_service
from tests.support.procs import free_port
from tests.web.conftest import ARTIFACTS, web_service

pytestmark = pytest.mark.e2e
LOCAL = "local/smollm2"


@pytest.fixture(scope="module")
def embedded(tmp_path_factory, llamacpp_url) -> Iterator[str]:
    closed = f"http://127.0.0.1:{free_port()}"
    env = {"OLLAMA_URL": "none", "OPENAI_BACKENDS": f"local={llamacpp_url},dead={closed}/v1",
           "OPENAI_BACKEND_LOCAL_MODELS": "smollm2", "OPENAI_BACKEND_DEAD_MODELS": "big", "LLM_DEFAULT_MODEL": LOCAL,
           "WEB_CONCURRENCY": "1"}
    db = tmp_path_factory.mktemp("web-embedded") / "llm-api.sqlite3"
    with llm_api_service("none", closed, db, env=env, log_dir=ARTIFACTS) as api, \
            web_service(api.url, "web-embedded") as web:
        yield web.url


def test_the_chat_answers_from_the_embedded_llamacpp_backend(page: Page, embedded: str, shot) -> None:
    page.goto(f"{embedded}/chat")
    picker = page.get_by_test_id("model-select")
    expect(picker).to_have_value(LOCAL)
    groups = page.locator("[data-testid=model-group]")
    expect(groups).to_have_count(3)  # no worker runs here: its Omni is listed as failed, first
    assert [groups.nth(i).get_attribute("label") for i in range(3)] == ["Model worker", "local", "dead"]
    expect(page.get_by_test_id("backend-failed")).to_contain_text(re.compile(r"dead: unreachable \(.*Cannot connect"))
    # Greedy, short, with a system prompt: the 135M model then answers this one right, every time.
    page.get_by_test_id("params-toggle").click()
    page.get_by_test_id("param-temperature").press("Home")
    tokens = page.get_by_test_id("param-max_tokens")
    tokens.press("Home")
    for _ in range(31):
        tokens.press("ArrowRight")
    page.get_by_label("System prompt (optional)").fill("You are a helpful assistant.")
    box = page.get_by_test_id("chat-input")
    box.fill("What is the capital of France?")
    box.press("Enter")
    answer = page.get_by_test_id("assistant-message").last
    expect(answer).to_have_attribute("data-status", "done", timeout=60_000)
    expect(answer.get_by_test_id("answer-text")).to_contain_text("Paris")
    expect(answer.get_by_test_id("metric-speed")).to_have_text(re.compile(r"^\d+(\.\d+)? tok/s$"))
    expect(page).to_have_url(re.compile(r"/chat\?session=[A-Za-z0-9_-]+$"))
    shot(page, "chat-embedded-llamacpp")
