"""Chat in a real browser against the real web server and llm-api (Ollama double): streaming, timings, sessions
that survive a reload, Stop, pulling a model, Markdown safety."""

from __future__ import annotations

import re
import time

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.web.conftest import DEFAULT_MODEL, MISSING_MODEL, Stack

pytestmark = pytest.mark.e2e


def new_chat(page: Page, stack: Stack) -> None:
    page.goto(f"{stack.web.url}/chat")
    page.get_by_test_id("new-chat").click()
    expect(page).to_have_url(f"{stack.web.url}/chat")
    expect(page.get_by_test_id("model-select")).to_have_value(DEFAULT_MODEL)


def send(page: Page, text: str) -> None:
    box = page.get_by_test_id("chat-input")
    box.fill(text)
    box.press("Enter")


def test_answer_streams_in_with_timings(page: Page, fresh: Stack, shot) -> None:
    fresh.ollama.set(token_delay_s=0.15)
    new_chat(page, fresh)
    prompt = "Please count slowly: one two three four five six seven eight nine ten eleven twelve"
    send(page, prompt)

    answer = page.get_by_test_id("assistant-message").last
    expect(answer).to_have_attribute("data-status", "streaming")
    expect(page.get_by_test_id("stop-button")).to_be_visible()
    # Part of the answer is on screen while the rest is still being generated.
    expect(answer.get_by_test_id("answer-text")).to_contain_text("You said")
    partial = answer.get_by_test_id("answer-text").inner_text()
    assert answer.get_attribute("data-status") == "streaming", "the answer finished before a partial view"
    shot(page, "chat-streaming")

    expect(answer).to_have_attribute("data-status", "done", timeout=20_000)
    full = answer.get_by_test_id("answer-text").inner_text()
    assert len(full) > len(partial)
    assert full.startswith("You said: Please count slowly")
    expect(answer.get_by_test_id("metric-ttft")).to_have_text(re.compile(r"^\d+(\.\d+)? (ms|s)$"))
    expect(answer.get_by_test_id("metric-total")).to_have_text(re.compile(r"^\d+(\.\d+)? (ms|s)$"))
    expect(answer.get_by_test_id("metric-speed")).to_have_text(re.compile(r"^\d+(\.\d+)? tok/s$"))
    # The exchange is stored: the URL names the session and the sidebar lists it.
    expect(page).to_have_url(re.compile(r"/chat\?session=[A-Za-z0-9_-]+$"))
    expect(page.get_by_test_id("session-item").filter(has_text="Please count slowly")).to_have_count(1)
    shot(page, "chat-answer")


def test_session_continues_after_reload(page: Page, fresh: Stack, shot) -> None:
    new_chat(page, fresh)
    send(page, "My name is Aiko")
    expect(page.get_by_test_id("assistant-message").last).to_have_attribute("data-status", "done")
    expect(page).to_have_url(re.compile(r"session="))
    session_url = page.url

    page.reload()
    expect(page.get_by_test_id("user-message")).to_have_text(["My name is Aiko"])
    expect(page.get_by_test_id("assistant-message")).to_have_count(1)
    send(page, "What is my name?")
    last = page.get_by_test_id("assistant-message").last
    expect(last).to_have_attribute("data-status", "done")
    # The double answers with the number of messages it received: the history went with the new prompt.
    expect(last).to_contain_text("You said: What is my name? (3 messages)")
    assert page.url == session_url

    # Going to /chat again (a new visit) reopens the remembered session.
    page.goto(f"{fresh.web.url}/chat")
    expect(page).to_have_url(session_url)
    expect(page.get_by_test_id("user-message")).to_have_count(2)
    shot(page, "chat-continued")


def test_stop_cancels_the_answer(page: Page, fresh: Stack, shot) -> None:
    fresh.ollama.set(token_delay_s=0.4)
    new_chat(page, fresh)
    send(page, "a b c d e f g h i j k l m n o p q r s t u v w x y z")
    answer = page.get_by_test_id("assistant-message").last
    expect(answer.get_by_test_id("answer-text")).to_contain_text("You said")
    page.get_by_test_id("stop-button").click()

    expect(answer).to_have_attribute("data-status", "stopped")
    expect(answer.get_by_test_id("stopped-note")).to_be_visible()
    expect(page.get_by_test_id("send-button")).to_be_visible()
    # The cancel reached Ollama: the browser's abort went through the web proxy and the llm-api.
    deadline = time.monotonic() + 10
    while fresh.ollama.state()["counters"]["chat_aborted"] < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert fresh.ollama.state()["counters"]["chat_aborted"] == 1
    assert fresh.ollama.state()["counters"]["chat_completed"] == 0
    # Nothing was stored, so the chat did not become a session.
    assert "session=" not in page.url
    shot(page, "chat-stopped")


def test_pull_a_model_with_progress(page: Page, fresh: Stack, shot) -> None:
    fresh.ollama.reset()  # the default model is not pulled now
    fresh.ollama.set(pull_delay_s=0.35)
    page.goto(f"{fresh.web.url}/chat")
    page.get_by_test_id("new-chat").click()
    select = page.get_by_test_id("model-select")
    expect(select).to_have_value(DEFAULT_MODEL)
    expect(select.locator("option:checked")).to_contain_text("not downloaded")
    expect(page.get_by_test_id("send-button")).to_be_disabled()

    page.get_by_role("button", name="Download model").click()
    bar = page.get_by_test_id("pull-progress")
    expect(bar).to_have_attribute("aria-valuenow", re.compile(r"^([1-9]\d?)$"))  # somewhere between 1 and 99
    shot(page, "chat-pull-progress")
    expect(page.get_by_test_id("pull-panel")).to_contain_text("is ready", timeout=20_000)
    expect(bar).to_have_attribute("aria-valuenow", "100")
    expect(select.locator("option:checked")).to_contain_text("ready")
    assert fresh.ollama.state()["counters"]["pulls"] == 1
    send(page, "hello after pull")
    expect(page.get_by_test_id("assistant-message").last).to_have_attribute("data-status", "done")


def test_pull_error_is_shown(page: Page, unpulled_default: Stack, shot) -> None:
    """The llm-api's default model is one the registry lacks: the page offers to download it, and the error line
    of the real pull stream (double -> llm-api -> web proxy) is shown."""
    stack = unpulled_default
    pulls_before = stack.ollama.state()["counters"]["pulls"]
    page.goto(f"{stack.web.url}/chat")
    select = page.get_by_test_id("model-select")
    expect(select).to_have_value(MISSING_MODEL)
    expect(select.locator("option:checked")).to_contain_text("not downloaded")
    expect(page.get_by_test_id("send-button")).to_be_disabled()

    page.get_by_role("button", name="Download model").click()
    notice = page.get_by_test_id("pull-panel").get_by_test_id("error-notice")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("does not exist")
    panel = page.get_by_test_id("pull-panel")
    expect(panel).to_contain_text(f"Could not download “{MISSING_MODEL}”")
    expect(panel.get_by_test_id("pull-progress")).to_have_count(0)  # no bar stuck part-way
    shot(page, "chat-pull-error")
    assert stack.ollama.state()["counters"]["pulls"] == pulls_before + 1
    # Nothing was pulled: the model is still listed as not downloaded, and nothing can be sent to it.
    listed = requests.get(f"{stack.api.url}/models", timeout=5).json()
    assert {"name": MISSING_MODEL, "state": "not_pulled"}.items() <= next(
        m for m in listed["models"] if m["name"] == MISSING_MODEL).items()
    expect(select.locator("option:checked")).to_contain_text("not downloaded")
    expect(page.get_by_test_id("send-button")).to_be_disabled()


def test_markdown_is_rendered_and_html_is_not(page: Page, fresh: Stack) -> None:
    new_chat(page, fresh)
    # The double echoes the prompt, so the answer carries this Markdown and HTML back.
    send(page, "**bold** and `code` <img src=x onerror=\"window.__pwned=1\"> <b>raw</b>")
    answer = page.get_by_test_id("assistant-message").last
    expect(answer).to_have_attribute("data-status", "done")
    expect(answer.locator("strong")).to_have_text("bold")
    expect(answer.locator("code")).to_have_text("code")
    expect(answer.locator("img")).to_have_count(0)
    expect(answer.locator("b")).to_have_count(0)
    expect(answer).to_contain_text("<b>raw</b>")
    assert page.evaluate("window.__pwned") is None


def test_sessions_can_be_opened_and_deleted(page: Page, fresh: Stack) -> None:
    new_chat(page, fresh)
    send(page, "first chat to delete")
    expect(page.get_by_test_id("assistant-message").last).to_have_attribute("data-status", "done")
    expect(page).to_have_url(re.compile(r"session="))
    session_id = page.url.split("session=")[1]
    page.get_by_test_id("new-chat").click()
    expect(page.get_by_test_id("message-list").locator("li")).to_have_count(0)

    item = page.get_by_test_id("session-item").filter(has_text="first chat to delete")
    item.get_by_role("link").click()
    expect(page).to_have_url(re.compile(f"session={session_id}"))
    expect(page.get_by_test_id("user-message")).to_have_text(["first chat to delete"])

    page.once("dialog", lambda dialog: dialog.accept())
    item.get_by_test_id("delete-session").click()
    expect(item).to_have_count(0)
    expect(page).to_have_url(f"{fresh.web.url}/chat")
    assert requests.get(f"{fresh.api.url}/sessions/{session_id}", timeout=5).status_code == 404


def test_parameters_are_sent(page: Page, fresh: Stack) -> None:
    new_chat(page, fresh)
    page.get_by_test_id("params-toggle").click()
    temperature = page.get_by_test_id("param-temperature")
    temperature.focus()
    for _ in range(4):
        temperature.press("ArrowRight")  # 0.70 -> 0.90 in 0.05 steps, by keyboard
    page.get_by_label("System prompt (optional)").fill("Be brief.")
    send(page, "with parameters")
    expect(page.get_by_test_id("assistant-message").last).to_have_attribute("data-status", "done")
    body = fresh.ollama.chat_requests()[-1]["body"]
    assert body["options"]["temperature"] == pytest.approx(0.9)
    assert body["options"]["top_p"] == pytest.approx(0.9)
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}



TALL_PROMPT = "\n\n".join(f"Paragraph {i}." for i in range(40))  # the double echoes it: ~120 tokens, 40 paragraphs
SCROLL_GAP = "(() => { const s = document.querySelector('[data-follow-scroll]');" \
    " return [s.scrollHeight - s.scrollTop - s.clientHeight, s.scrollHeight / s.clientHeight, s.scrollTop]; })()"


def test_a_long_answer_is_followed_to_its_end(page: Page, fresh: Stack) -> None:
    """The message list scrolls with a streaming answer (it scrolled the wrong element before, and stayed put)."""
    page.set_viewport_size({"width": 900, "height": 500})
    fresh.ollama.set(token_delay_s=0.01)
    new_chat(page, fresh)
    send(page, TALL_PROMPT)
    answer = page.get_by_test_id("assistant-message").last
    expect(answer).to_have_attribute("data-status", "done", timeout=30_000)
    expect(answer.get_by_test_id("answer-text")).to_contain_text("Paragraph 39.")
    page.wait_for_function(f"(() => {{ const [gap, ratio] = {SCROLL_GAP}; return ratio > 2 && gap < 80; }})()",
                           timeout=10_000)


def test_scrolling_up_during_an_answer_stops_following_it(page: Page, fresh: Stack) -> None:
    page.set_viewport_size({"width": 900, "height": 500})
    fresh.ollama.set(token_delay_s=0.05)
    new_chat(page, fresh)
    send(page, TALL_PROMPT)
    answer = page.get_by_test_id("assistant-message").last
    expect(answer.get_by_test_id("answer-text")).to_contain_text("Paragraph 5.")
    # Scroll to the top as a reader would; a render racing the first scroll event may win once, so settle it.
    for _ in range(5):
        page.evaluate("document.querySelector('[data-follow-scroll]').scrollTop = 0")
        page.wait_for_timeout(200)
        if page.evaluate(SCROLL_GAP)[2] < 40:
            break
    assert answer.get_attribute("data-status") == "streaming", "the answer finished before the reader scrolled up"
    expect(answer).to_have_attribute("data-status", "done", timeout=30_000)
    gap, ratio, top = page.evaluate(SCROLL_GAP)
    assert ratio > 2 and top < 40 and gap > 200, (gap, ratio, top)
