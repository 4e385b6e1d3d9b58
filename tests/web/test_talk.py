"""The Talk page end to end: headless Chromium with a fake microphone, the REAL web server (its Dockerfile's CMD,
with the /realtime/* WebSocket pass-through), the REAL llm-api (API_KEY and CORS_ORIGINS on, so the upgrade goes
through its auth and origin rules) and the REAL real-time voice service on a tiny random Moshi model
(tests/realtime/stack.py). The page Opus-encodes the microphone with WebCodecs, the service decodes it with
libopus (sphn), and what comes back is decoded and played through the page's AudioWorklet. After each of the
person's turns the page POSTs its audio (a 16 kHz WAV) to /api/transcribe: with no worker that fails once and the
page says so; with the REAL model-worker on tiny checkpoints (tests/worker) the turn gets its words."""

from __future__ import annotations

import contextlib
import math
import re
import struct
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import BrowserContext, Page, Playwright, Request, expect

from tests.doubles.stack import llm_api_service
from tests.realtime.stack import realtime_service
from tests.support.procs import Service, free_port

from .conftest import (
    ARTIFACTS,
    Stack,
    axe_violations,
    launch,
    launch_with_microphone,
    open_tab,
    require_tools,
    web_service,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]

KEY = "talk-e2e-key"
# A tiny model on a shared CPU may run slower than real time: give the first reply room.
REPLY_TIMEOUT_MS = 90_000
# The tiny Omni model transcribing a turn on a shared CPU (its first call also warms it up).
TRANSCRIBE_TIMEOUT_MS = 120_000


def bursts_wav(path: Path, seconds: float = 4.0, rate: int = 16_000) -> Path:
    """Mono 16-bit: 1.2 s of a gliding tone, 0.8 s of silence, repeated (Chromium loops the file), so the
    level meter moves and the page's speech-activity detector sees turns begin and end."""
    frames = bytearray()
    for i in range(int(seconds * rate)):
        t = i / rate
        on = (t % 2.0) < 1.2
        sample = 0.5 * math.sin(2 * math.pi * (200 + 60 * math.sin(2 * math.pi * t)) * t) if on else 0.0
        frames += struct.pack("<h", int(sample * 32767))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(frames))
    return path


@pytest.fixture(scope="module")
def talk_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, Service, Service]]:
    """Real-time service + llm-api (REALTIME_URL, API_KEY, CORS_ORIGINS) + web server (LLM_API_KEY)."""
    require_tools()
    web_port = free_port()
    closed = f"http://127.0.0.1:{free_port()}"  # no Ollama or worker: this page needs neither
    env = {"REALTIME_URL": "", "API_KEY": KEY, "CORS_ORIGINS": f"http://127.0.0.1:{web_port}"}
    with realtime_service("talk-e2e", log_dir=ARTIFACTS) as realtime:
        env["REALTIME_URL"] = realtime.url
        with llm_api_service(closed, closed, tmp_path_factory.mktemp("talk") / "llm-api.sqlite3", env=env,
                             log_dir=ARTIFACTS) as api, \
                web_service(api.url, "web-talk", port=web_port, LLM_API_KEY=KEY) as web:
            yield realtime, api, web


@pytest.fixture(scope="module")
def mic_browser(playwright: Playwright, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    """Chromium with a fake microphone playing `bursts_wav`, permission granted."""
    root = tmp_path_factory.mktemp("talk-chromium")
    context = launch_with_microphone(playwright, root, bursts_wav(root / "speech.wav"))
    yield context
    context.close()


@pytest.fixture()
def mic_page(mic_browser: BrowserContext) -> Iterator[Page]:
    yield from open_tab(mic_browser)


def value(page: Page, test_id: str) -> str:
    return page.get_by_test_id(test_id).get_attribute("data-value") or ""


def wait_value_above(page: Page, test_id: str, minimum: float, timeout_ms: float) -> None:
    page.wait_for_function(
        "([id, min]) => Number(document.querySelector(`[data-testid=${id}]`)?.dataset.value || 0) > min",
        arg=[test_id, minimum], timeout=timeout_ms)


def transcribe_requests(page: Page) -> list[Request]:
    """Every POST /api/transcribe the page makes from now on (a live list)."""
    seen: list[Request] = []
    page.on("request", lambda r: seen.append(r) if r.method == "POST" and r.url.endswith("/api/transcribe") else None)
    return seen


# Chromium does not report a multipart body with a file to Playwright: record what the page hands to fetch.
RECORD_UPLOADS = """
(() => {
  const original = window.fetch;
  window.__transcribeUploads = [];
  window.fetch = async (input, init) => {
    const body = init && init.body;
    if (String(input).endsWith("/api/transcribe") && body instanceof FormData) {
      const audio = body.get("audio");
      const header = Array.from(new Uint8Array(await audio.slice(0, 44).arrayBuffer()));
      window.__transcribeUploads.push({name: audio.name, type: audio.type, size: audio.size, header,
                                       language: body.get("language")});
    }
    return original(input, init);
  };
})();
"""


def healthz(realtime: Service) -> dict:
    return requests.get(realtime.url + "/healthz", timeout=5).json()


def wait_idle(realtime: Service, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while healthz(realtime)["conversations"]["active"]:
        assert time.monotonic() < deadline, healthz(realtime)
        time.sleep(0.1)


def test_talk_sends_audio_and_plays_the_reply(mic_page: Page, talk_stack, shot) -> None:
    realtime, _api, web = talk_stack
    page = mic_page
    posts = transcribe_requests(page)
    conversations_before = healthz(realtime)["totals"]["conversations"]
    page.goto(f"{web.url}/talk")
    # The status came through /api/realtime/status (the llm-api's /realtime/status).
    expect(page.get_by_test_id("talk-status")).to_have_attribute("data-state", "ready")
    expect(page.get_by_test_id("talk-problem")).to_have_count(0)

    page.get_by_test_id("talk-start").click()
    # The handshake (0x00) arrived over ws://<page origin>/realtime/api/chat → web → llm-api → service.
    expect(page.get_by_test_id("talk-state")).to_have_attribute("data-state", "live", timeout=REPLY_TIMEOUT_MS)
    assert healthz(realtime)["conversations"]["active"] == 1

    # The page sent Ogg Opus pages (the service decoded them: it answers only to audio it could read).
    wait_value_above(page, "talk-sent-pages", 5, 20_000)
    # Audio came back, was decoded and played by the worklet; the first-reply latency is a number.
    wait_value_above(page, "talk-played-ms", 500, REPLY_TIMEOUT_MS)
    assert re.fullmatch(r"\d+", value(page, "talk-latency-ms")), value(page, "talk-latency-ms")
    expect(page.get_by_test_id("talk-latency-ms")).to_have_text(re.compile(r"^\d+(\.\d+)? m?s$"))
    # The person's turns: the first one's audio went to /api/transcribe, which has no worker behind it here
    # (a closed port: 503 backend_unavailable). The page says so ONCE, sends nothing more in this conversation,
    # and the turns show when and how long the person spoke.
    expect(page.get_by_test_id("talk-user-turn").first).to_be_visible(timeout=20_000)
    off = page.get_by_test_id("talk-words-off")
    expect(off).to_have_count(1, timeout=30_000)
    expect(off).to_have_attribute("data-reason", "backend_unavailable")
    expect(off).to_contain_text("Your words are not transcribed")
    expect(off).to_contain_text("not running")
    expect(page.get_by_test_id("talk-user-turn").last).to_contain_text(re.compile(r"spoke \d+\.\d s"), timeout=20_000)
    expect(page.locator("[data-testid=talk-user-turn][data-words=transcribing]")).to_have_count(0)
    page.wait_for_timeout(4_000)  # two more turns of the looping microphone file
    assert len(posts) == 1, [r.url for r in posts]
    expect(off).to_have_count(1)
    page.wait_for_function(
        "() => Number(document.querySelector('[data-testid=talk-mic-level]')?.getAttribute('aria-valuenow')) > 0")
    shot(page, "talk-live")

    # A second tab while the service's one slot is taken: the service says busy (0x05, then close 1013).
    second = mic_page.context.new_page()
    try:
        second.goto(f"{web.url}/talk")
        second.get_by_test_id("talk-start").click()
        expect(second.get_by_test_id("talk-problem")).to_have_attribute("data-problem", "busy")
        expect(second.get_by_test_id("talk-problem")).to_contain_text("busy")  # the service's own words
        expect(second.get_by_test_id("talk-state")).to_have_attribute("data-state", "idle")
    finally:
        second.close()
    expect(page.get_by_test_id("talk-state")).to_have_attribute("data-state", "live")

    page.get_by_test_id("talk-stop").click()
    expect(page.get_by_test_id("talk-state")).to_have_attribute("data-state", "idle")
    expect(page.get_by_test_id("talk-problem")).to_have_count(0)
    assert int(value(page, "talk-played-ms")) > 500  # the figures stay after Stop
    # The service saw the conversation and its normal end.
    wait_idle(realtime)
    assert healthz(realtime)["totals"]["conversations"] == conversations_before + 1

    # Leaving the page in the middle of a conversation ends it too (and releases the microphone).
    page.get_by_test_id("talk-start").click()
    expect(page.get_by_test_id("talk-state")).to_have_attribute("data-state", "live", timeout=REPLY_TIMEOUT_MS)
    expect(page.get_by_test_id("talk-status")).to_contain_text("1 of 1")
    page.get_by_role("link", name="Chat", exact=True).click()
    expect(page).to_have_url(re.compile(r"/chat"))
    wait_idle(realtime)
    assert healthz(realtime)["totals"]["conversations"] == conversations_before + 2


def test_talk_says_when_the_service_goes_away(mic_page: Page, tmp_path: Path) -> None:
    """A voice service of its own, stopped in the middle of a conversation: it closes with 1001 (going away),
    which crosses the llm-api's relay and the web server's pass-through; the page says so, asks the status again
    and shows the service as not running."""
    page = mic_page
    web_port = free_port()
    closed = f"http://127.0.0.1:{free_port()}"
    voice = contextlib.ExitStack()  # closed in the middle of the test (and again, harmlessly, at the end)
    realtime = voice.enter_context(realtime_service("talk-e2e-drop", log_dir=ARTIFACTS))
    env = {"REALTIME_URL": realtime.url, "CORS_ORIGINS": f"http://127.0.0.1:{web_port}"}
    try:
        with llm_api_service(closed, closed, tmp_path / "llm-api.sqlite3", env=env, log_dir=ARTIFACTS) as api, \
                web_service(api.url, "web-talk-drop", port=web_port) as web:
            page.goto(f"{web.url}/talk")
            page.get_by_test_id("talk-start").click()
            expect(page.get_by_test_id("talk-state")).to_have_attribute("data-state", "live", timeout=REPLY_TIMEOUT_MS)
            wait_value_above(page, "talk-played-ms", 0, REPLY_TIMEOUT_MS)
            voice.close()
            problem = page.get_by_test_id("talk-problem")
            expect(problem).to_have_attribute("data-problem", "going_away")
            expect(page.get_by_test_id("talk-state")).to_have_attribute("data-state", "idle")
            expect(page.get_by_test_id("talk-status")).to_have_attribute("data-state", "not_running")
            expect(page.get_by_test_id("talk-start")).to_be_enabled()
    finally:
        voice.close()


def test_talk_says_when_the_service_is_not_running(mic_page: Page, stack: Stack, shot) -> None:
    """conftest's stack: its llm-api has no real-time service configured (REALTIME_URL none)."""
    page = mic_page
    page.goto(f"{stack.web.url}/talk")
    expect(page.get_by_test_id("talk-status")).to_have_attribute("data-state", "not_running")
    problem = page.get_by_test_id("talk-problem")
    expect(problem).to_have_attribute("data-problem", "not_running")
    expect(problem).to_contain_text("docker compose --profile realtime up")
    assert axe_violations(page) == []
    # Trying anyway: the upgrade is refused, the page asks the status again and says the same.
    page.get_by_test_id("talk-start").click()
    expect(page.get_by_test_id("talk-state")).to_have_attribute("data-state", "idle")
    expect(problem).to_have_attribute("data-problem", "not_running")
    expect(page.get_by_test_id("talk-start")).to_be_enabled()
    shot(page, "talk-not-running")
    # On a phone the page does not scroll sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth,"
                           " document.querySelector('main').scrollWidth, document.querySelector('main').clientWidth]")
    assert widths[0] <= widths[1] and widths[2] <= widths[3], widths
    shot(page, "phone-talk")


def test_talk_says_when_the_microphone_is_refused(playwright: Playwright, stack: Stack, tmp_path: Path) -> None:
    """No fake-UI flag and no permission granted: getUserMedia fails with NotAllowedError."""
    context = launch(playwright, tmp_path / "profile", extra_args=["--use-fake-device-for-media-stream"],
                     permissions=[])
    try:
        page = context.new_page()
        page.goto(f"{stack.web.url}/talk")
        page.get_by_test_id("talk-start").click()
        problem = page.get_by_test_id("talk-problem")
        expect(problem).to_have_attribute("data-problem", "mic_denied")
        expect(problem).to_contain_text("Microphone access was denied")
        expect(page.get_by_test_id("talk-state")).to_have_attribute("data-state", "idle")
    finally:
        context.close()


@pytest.fixture(scope="module")
def words_stack(request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, Service]]:
    """The talk stack with a REAL model-worker behind the llm-api (WORKER_URL): its Omni model (tiny checkpoints)
    transcribes the person's turns. The worker of test_worker_pages.py is reused when this run includes it
    (conftest starts it in the background); otherwise one is started here. Yields (llm-api, web)."""
    require_tools()
    with contextlib.ExitStack() as services:
        starter = request.getfixturevalue("worker_stack_starter")
        if starter is not None:
            worker = starter.get(timeout_s=600).worker
        else:
            from tests.worker.stack import model_worker_service
            from tests.worker.tiny_models import build_tiny_checkpoints

            checkpoints = build_tiny_checkpoints(tmp_path_factory.mktemp("talk-worker") / "checkpoints")
            worker = services.enter_context(model_worker_service(checkpoints, log_dir=ARTIFACTS, name="talk-worker"))
        web_port = free_port()
        closed = f"http://127.0.0.1:{free_port()}"  # no Ollama: this page does not chat
        realtime = services.enter_context(realtime_service("talk-e2e-words", log_dir=ARTIFACTS))
        env = {"REALTIME_URL": realtime.url, "API_KEY": KEY, "CORS_ORIGINS": f"http://127.0.0.1:{web_port}"}
        api = services.enter_context(llm_api_service(closed, worker.url, tmp_path_factory.mktemp("talk-words")
                                                     / "llm-api.sqlite3", env=env, log_dir=ARTIFACTS))
        web = services.enter_context(web_service(api.url, "web-talk-words", port=web_port, LLM_API_KEY=KEY))
        yield api, web


def test_talk_shows_the_persons_words(mic_page: Page, words_stack, shot) -> None:
    """Each ended turn's audio goes, as a 16 kHz WAV, through web → llm-api → the worker's Omni model, and its
    transcript appears in that turn (the tiny random model says arbitrary things, or nothing)."""
    api, web = words_stack
    page = mic_page
    posts = transcribe_requests(page)
    page.add_init_script(RECORD_UPLOADS)
    page.goto(f"{web.url}/talk")
    page.get_by_test_id("talk-start").click()
    expect(page.get_by_test_id("talk-state")).to_have_attribute("data-state", "live", timeout=REPLY_TIMEOUT_MS)
    expect(page.get_by_test_id("talk-user-turn").first).to_be_visible(timeout=20_000)

    transcribed = page.locator("[data-testid=talk-user-turn]:is([data-words=words], [data-words=nothing])").first
    expect(transcribed).to_be_visible(timeout=TRANSCRIBE_TIMEOUT_MS)
    words = transcribed.get_by_test_id("talk-user-words")
    if transcribed.get_attribute("data-words") == "nothing":
        expect(words).to_have_text("(nothing heard)")
    else:
        assert words.inner_text().strip(), transcribed.inner_html()
    expect(page.get_by_test_id("talk-words-off")).to_have_count(0)
    shot(page, "talk-words")

    # What the page sent: a multipart WAV named turn.wav (16-bit mono 16 kHz, whole) and the UI language.
    assert posts, "no POST /api/transcribe"
    upload = page.evaluate("() => window.__transcribeUploads[0]")
    assert (upload["name"], upload["type"], upload["language"]) == ("turn.wav", "audio/wav", "en"), upload
    header = bytes(upload["header"])
    assert header[:4] == b"RIFF" and header[8:16] == b"WAVEfmt " and header[36:40] == b"data", header
    fmt, channels, rate, _byte_rate, _align, bits, data_bytes = struct.unpack("<HHIIHHxxxxI", header[20:44])
    assert (fmt, channels, rate, bits) == (1, 1, 16_000, 16)
    assert data_bytes == upload["size"] - 44 and data_bytes >= 0.4 * 16_000 * 2  # a turn of at least 0.4 s
    response = posts[0].response()
    assert response is not None and response.status == 200, response and response.text()
    assert isinstance(response.json()["transcript"], str)
    assert '"POST /transcribe HTTP/1.1" 200' in api.log()

    page.get_by_test_id("talk-stop").click()
    expect(page.get_by_test_id("talk-state")).to_have_attribute("data-state", "idle")
