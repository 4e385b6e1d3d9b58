"""What a person sees when things are not fine: the stack status, llm-api errors, an llm-api that cannot be reached,
no microphone, a page that does not exist; and the interface language."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.doubles.stack import llm_api_service
from tests.support.procs import Service, free_port
from tests.web.conftest import ARTIFACTS, Stack, axe_violations, web_service

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def orphan_web() -> Iterator[Service]:
    """A web server whose LLM_API_URL points where nothing listens."""
    with web_service(f"http://127.0.0.1:{free_port()}", "web-orphan", WEB_STATUS_POLL_S="1") as web:
        yield web


@pytest.fixture(scope="module")
def keyed_api(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """An llm-api that requires `Authorization: Bearer secret-key` (API_KEY) and takes uploads up to 1 MB."""
    db = tmp_path_factory.mktemp("keyed") / "llm-api.sqlite3"
    with llm_api_service(stack.ollama.url, f"http://127.0.0.1:{free_port()}", db,
                         env={"API_KEY": "secret-key", "MAX_UPLOAD_MB": "1"}, log_dir=ARTIFACTS) as api:
        yield api


@pytest.fixture(scope="module")
def keyed_web(keyed_api: Service) -> Iterator[Service]:
    with web_service(keyed_api.url, "web-keyed", LLM_API_KEY="secret-key") as web:
        yield web


def test_api_key_is_added_by_the_web_server(page: Page, stack: Stack, keyed_web: Service) -> None:
    page.goto(f"{keyed_web.url}/chat")
    page.get_by_test_id("chat-input").fill("with a key")
    page.get_by_test_id("chat-input").press("Enter")
    expect(page.get_by_test_id("assistant-message").last).to_have_attribute("data-status", "done")


def test_big_upload_is_refused_early_through_the_proxy(keyed_web: Service) -> None:
    """The upload's Content-Length reaches the llm-api, which answers 413 with the contract's body."""
    import requests

    audio = b"RIFF" + b"\0" * (3 * 1024 * 1024)
    r = requests.post(f"{keyed_web.url}/api/voice-feedback", files={"audio": ("big.wav", audio, "audio/wav")},
                      timeout=30)
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "payload_too_large"


def test_missing_api_key_is_explained(page: Page, stack: Stack, keyed_api: Service) -> None:
    with web_service(keyed_api.url, "web-unkeyed") as web:
        page.goto(f"{web.url}/chat")
        page.get_by_test_id("new-chat").click()
        page.get_by_test_id("chat-input").fill("without a key")
        page.get_by_test_id("chat-input").press("Enter")
        notice = page.get_by_test_id("assistant-message").last.get_by_test_id("error-notice")
        expect(notice).to_have_attribute("data-code", "unauthorized")
        expect(notice).to_contain_text("LLM_API_KEY")


def test_timeout_is_read_at_run_time_and_shown(page: Page, fresh: Stack, shot) -> None:
    """WEB_MODEL_TIMEOUT_S=2 (read when the server runs, not at build): an answer that stalls for 2 s is stopped."""
    fresh.ollama.set(stall_after_tokens=2)
    with web_service(fresh.api.url, "web-timeout", WEB_MODEL_TIMEOUT_S="2") as web:
        page.goto(f"{web.url}/chat")
        page.get_by_test_id("new-chat").click()
        page.get_by_test_id("chat-input").fill("one two three four")
        page.get_by_test_id("chat-input").press("Enter")
        last = page.get_by_test_id("assistant-message").last
        expect(last.get_by_test_id("answer-text")).to_contain_text("You said:")
        notice = last.get_by_test_id("error-notice")
        expect(notice).to_have_attribute("data-code", "timeout", timeout=10_000)
        expect(notice).to_contain_text("No answer within 2.00 s")
        expect(page.get_by_test_id("send-button")).to_be_visible()
        shot(page, "chat-timeout")


def test_status_shows_each_part(page: Page, stack: Stack, shot) -> None:
    page.goto(f"{stack.web.url}/chat")
    indicator = page.get_by_test_id("status-indicator")
    # Ollama and the database are up, the worker is not running here: "degraded".
    expect(indicator).to_have_attribute("data-status", "degraded")
    expect(indicator).to_contain_text("Partly ready")
    indicator.click()
    details = page.get_by_role("region", name="Service status details")
    expect(details).to_contain_text("Ollama (chat models)")
    expect(details.locator("li").filter(has_text="Model worker")).to_contain_text("down")
    expect(details.locator("li").filter(has_text="Chat history database")).to_contain_text("ready")
    shot(page, "status-details")
    page.keyboard.press("Escape")
    expect(details).to_be_hidden()


def test_ollama_error_is_shown_with_code_and_advice(page: Page, fresh: Stack, shot) -> None:
    fresh.ollama.set(fail_status=500)
    page.goto(f"{fresh.web.url}/chat")
    page.get_by_test_id("new-chat").click()
    page.get_by_test_id("chat-input").fill("this will fail")
    page.get_by_test_id("chat-input").press("Enter")
    notice = page.get_by_test_id("assistant-message").last.get_by_test_id("error-notice")
    expect(notice).to_be_visible()
    expect(notice).to_have_attribute("data-code", "backend_error")
    expect(notice).to_contain_text("backend_error")
    expect(notice).to_contain_text("Request ID")
    expect(notice).to_contain_text("Try again")
    assert axe_violations(page) == []
    shot(page, "chat-error")

    fresh.ollama.set(fail_status=None)
    notice.get_by_role("button", name="Try again").click()
    last = page.get_by_test_id("assistant-message").last
    expect(last).to_have_attribute("data-status", "done")
    expect(page.get_by_test_id("user-message")).to_have_count(1)


def test_stream_error_after_tokens_is_shown(page: Page, fresh: Stack) -> None:
    fresh.ollama.set(error_after_tokens=2)
    page.goto(f"{fresh.web.url}/chat")
    page.get_by_test_id("new-chat").click()
    page.get_by_test_id("chat-input").fill("one two three four five")
    page.get_by_test_id("chat-input").press("Enter")
    last = page.get_by_test_id("assistant-message").last
    expect(last).to_have_attribute("data-status", "error")
    expect(last.get_by_test_id("error-notice")).to_have_attribute("data-code", "backend_error")


def test_unreachable_llm_api(page: Page, orphan_web: Service, shot) -> None:
    page.goto(f"{orphan_web.url}/chat")
    expect(page.get_by_test_id("status-indicator")).to_have_attribute("data-status", "unreachable")
    expect(page.get_by_test_id("status-indicator")).to_contain_text("API unreachable")
    # The model list and the history say why they are empty.
    expect(page.get_by_test_id("error-notice").first).to_contain_text("backend_unavailable")
    page.get_by_test_id("chat-input").fill("hello?")
    page.get_by_test_id("send-button").click()
    notice = page.get_by_test_id("assistant-message").last.get_by_test_id("error-notice")
    expect(notice).to_have_attribute("data-code", "backend_unavailable")
    expect(notice).to_contain_text("cannot be reached")
    expect(notice).to_contain_text("docker compose up -d")  # the advice for a missing llm-api, not "loading"
    shot(page, "chat-llm-api-unreachable")


def test_worker_pages_warn_when_the_worker_is_down(page: Page, stack: Stack, shot) -> None:
    page.goto(f"{stack.web.url}/detect")
    expect(page.get_by_test_id("worker-notice")).to_contain_text("model worker is not available")
    page.get_by_test_id("image-file").set_input_files(files=[{
        "name": "form.png", "mimeType": "image/png", "buffer": PNG_1x1}])
    page.get_by_test_id("detect-submit").click()
    notice = page.get_by_test_id("error-notice")
    expect(notice).to_have_attribute("data-code", "backend_unavailable")
    shot(page, "detect-worker-down")


def test_microphone_unavailable_is_explained(page: Page, stack: Stack, shot) -> None:
    # This browser has no fake microphone and no permission: recording must fail with a clear message.
    page.goto(f"{stack.web.url}/voice")
    page.get_by_test_id("record-start").click()
    message = page.get_by_test_id("mic-error")
    expect(message).to_be_visible()
    expect(message).to_contain_text(re.compile(r"Microphone access was denied|No microphone was found"))
    expect(message).to_contain_text("upload a file")
    shot(page, "voice-no-microphone")


def test_language_switch_is_remembered(page: Page, stack: Stack, shot) -> None:
    page.goto(f"{stack.web.url}/chat")
    nav = page.get_by_role("navigation")
    expect(nav).to_contain_text("Voice feedback")
    page.get_by_role("button", name="日本語").click()
    expect(nav).to_contain_text("音声フィードバック")
    expect(page.get_by_test_id("send-button")).to_have_text("送信")
    assert page.evaluate("document.documentElement.lang") == "ja"
    page.reload()
    expect(nav).to_contain_text("音声フィードバック")
    assert page.evaluate("document.documentElement.lang") == "ja"
    page.goto(f"{stack.web.url}/detect")
    expect(page.get_by_role("heading", level=1)).to_have_text("帳票項目の検出")
    shot(page, "detect-japanese")
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Form field detection")
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text("Form field detection")


def test_browser_language_picks_japanese(page: Page, stack: Stack) -> None:
    # Forget any earlier choice (cookie and localStorage), then come with a Japanese browser.
    page.goto(f"{stack.web.url}/api/health")
    page.evaluate("localStorage.removeItem('lang')")
    page.context.clear_cookies()
    # (The context's locale wins over extra headers, so the page request itself is rewritten.)
    page.route("**/voice", lambda route: route.continue_(
        headers={**route.request.headers, "accept-language": "ja-JP,ja;q=0.9,en;q=0.5"}))
    page.goto(f"{stack.web.url}/voice")
    expect(page.get_by_role("heading", level=1)).to_have_text("音声フィードバック")
    assert page.evaluate("document.documentElement.lang") == "ja"


def test_unknown_page_is_not_blank(page: Page, stack: Stack) -> None:
    response = page.goto(f"{stack.web.url}/no-such-page")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    page.get_by_role("link", name="Go to chat").click()
    expect(page).to_have_url(re.compile(r"/chat"))


def test_web_health_and_proxy_headers(stack: Stack) -> None:
    import requests

    health = requests.get(f"{stack.web.url}/api/health", timeout=5)
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    r = requests.get(f"{stack.web.url}/api/sessions/does-not-exist", headers={"X-Request-ID": "e2e-42"}, timeout=5)
    assert r.status_code == 404
    assert r.headers["X-Request-ID"] == "e2e-42"
    assert "total;dur=" in r.headers["Server-Timing"]
    assert r.json()["error"] == {"code": "not_found", "message": r.json()["error"]["message"], "request_id": "e2e-42"}


# A valid 1x1 PNG.
PNG_1x1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e5273ede0000000049454e44ae426082"
)
