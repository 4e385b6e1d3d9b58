"""Voice feedback and form detection in a real browser, through the real web server and llm-api to the REAL
model worker running tiny random checkpoints on CPU (tests/worker). The microphone is Chromium's fake device
playing a WAV generated here."""

from __future__ import annotations

import io
import json
import math
import re
import struct
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, Playwright, expect

from tests.web.conftest import WorkerStack, axe_violations, launch

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MODEL_CALL_TIMEOUT_MS = 120_000


def speech_like_wav(path: Path, seconds: float = 3.0, rate: int = 16_000) -> Path:
    """A mono 16-bit WAV with a loud, changing tone (so the level meter moves)."""
    frames = bytearray()
    for i in range(int(seconds * rate)):
        t = i / rate
        envelope = 0.5 + 0.5 * math.sin(2 * math.pi * 3 * t)
        sample = 0.6 * envelope * math.sin(2 * math.pi * (220 + 80 * math.sin(2 * math.pi * t)) * t)
        frames += struct.pack("<h", int(sample * 32767))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(frames))
    return path


def form_png(width: int = 900, height: int = 600) -> bytes:
    """A drawn form: labels and empty boxes (PIL comes with the worker's requirements)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    for row in range(4):
        y = 80 + row * 120
        draw.text((40, y + 12), f"Field {row + 1}", fill="black")
        draw.rectangle((200, y, width - 60, y + 50), outline="black", width=3)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def worker_stack(worker_stack_starter) -> WorkerStack:
    """Started in the background when the session began (see conftest), ready here."""
    assert worker_stack_starter is not None
    return worker_stack_starter.get(timeout_s=600)


@pytest.fixture(scope="module")
def mic_browser(playwright: Playwright, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    """Chromium with a fake microphone that plays a generated WAV, permission granted."""
    root = tmp_path_factory.mktemp("mic-chromium")
    wav = speech_like_wav(root / "speech.wav")
    context = launch(playwright, root / "profile", extra_args=[
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}",
    ])
    context.set_default_timeout(15_000)
    yield context
    context.close()


@pytest.fixture()
def mic_page(mic_browser: BrowserContext) -> Iterator[Page]:
    tab = mic_browser.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    tab.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def test_record_and_get_spoken_feedback(mic_page: Page, worker_stack: WorkerStack, shot) -> None:
    page = mic_page
    page.goto(f"{worker_stack.web.url}/voice")
    expect(page.get_by_test_id("status-indicator")).to_have_attribute("data-status", "ready", timeout=60_000)
    page.get_by_test_id("record-start").click()
    expect(page.get_by_test_id("record-stop")).to_be_visible()
    # The level meter follows the (fake) microphone and the timer runs.
    meter = page.get_by_test_id("level-meter")
    page.wait_for_function(
        "el => Number(el.getAttribute('aria-valuenow')) > 5", arg=meter.element_handle(), timeout=10_000)
    expect(page.get_by_test_id("record-timer")).to_contain_text("00:01", timeout=5_000)
    shot(page, "voice-recording")
    page.get_by_test_id("record-stop").click()

    preview = page.get_by_test_id("audio-preview")
    expect(preview).to_contain_text("recording.webm")
    # What was recorded can be played back: the browser reads the recording's metadata.
    page.wait_for_function("document.querySelector('[data-testid=audio-preview] audio').readyState >= 1")

    page.get_by_test_id("return-audio").check()
    page.get_by_label("Instruction (optional)").fill("Check my pronunciation.")
    page.get_by_test_id("voice-submit").click()
    result = page.get_by_test_id("voice-result")
    expect(result).to_be_visible(timeout=MODEL_CALL_TIMEOUT_MS)
    expect(page.get_by_test_id("voice-feedback")).not_to_be_empty()
    expect(page.get_by_test_id("voice-response-time")).to_have_text(re.compile(r"^\d+(\.\d+)? (ms|s)|\d+ min"))
    reply = page.get_by_test_id("voice-reply-audio")
    expect(reply).to_have_attribute("src", re.compile(r"^data:audio/wav;base64,UklGR"))  # "RIFF"
    page.wait_for_function("document.querySelector('[data-testid=voice-reply-audio]').readyState >= 1")
    result.scroll_into_view_if_needed()
    shot(page, "voice-feedback")
    assert axe_violations(page) == []


def test_upload_audio_file_for_text_feedback(mic_page: Page, worker_stack: WorkerStack, tmp_path: Path) -> None:
    page = mic_page
    page.goto(f"{worker_stack.web.url}/voice")
    page.get_by_test_id("audio-file").set_input_files(str(speech_like_wav(tmp_path / "upload.wav", seconds=1.5)))
    expect(page.get_by_test_id("audio-preview")).to_contain_text("upload.wav")
    page.get_by_test_id("voice-submit").click()
    expect(page.get_by_test_id("voice-result")).to_be_visible(timeout=MODEL_CALL_TIMEOUT_MS)
    expect(page.get_by_test_id("voice-feedback")).not_to_be_empty()
    expect(page.get_by_test_id("voice-reply-audio")).to_have_count(0)


def test_detect_fields_on_an_uploaded_form(mic_page: Page, worker_stack: WorkerStack, shot) -> None:
    page = mic_page
    page.goto(f"{worker_stack.web.url}/detect")
    page.get_by_test_id("image-file").set_input_files(files=[{
        "name": "form.png", "mimeType": "image/png", "buffer": form_png()}])
    expect(page.get_by_test_id("detect-image").locator("img")).to_be_visible()
    page.get_by_test_id("detect-submit").click()
    result = page.get_by_test_id("detect-result")
    expect(result).to_be_visible(timeout=MODEL_CALL_TIMEOUT_MS)
    expect(result).to_contain_text("900 × 600")
    expect(page.get_by_test_id("detect-response-time")).not_to_be_empty()
    # Random tiny weights may or may not produce parsable boxes: whatever the worker found is drawn and listed.
    count_text = page.get_by_test_id("detect-count").inner_text()
    drawn = page.get_by_test_id("detect-box").count()
    assert page.get_by_test_id("field-item").count() == drawn
    assert (drawn == 0 and "No fields" in count_text) or f"{drawn} fields" in count_text
    with page.expect_download() as info:
        page.get_by_test_id("detect-download").click()
    saved = json.loads(Path(info.value.path()).read_text())
    assert saved["image_size"] == {"width": 900, "height": 600}
    assert saved["count"] == drawn
    result.scroll_into_view_if_needed()
    shot(page, "detect-real-worker")


DETECTION = {
    "bboxes": [
        {"bbox_normalized": [222, 133, 933, 217], "bbox_pixel": [200, 80, 840, 130]},
        {"bbox_normalized": [222, 333, 933, 417], "bbox_pixel": [200, 200, 840, 250]},
        {"bbox_normalized": [222, 533, 600, 617], "bbox_pixel": [200, 320, 540, 370]},
    ],
    "count": 3, "raw_output": '{"applicant_fields": [...]}', "image_size": {"width": 900, "height": 600},
    "model": "detector", "timings": {"total_ms": 1234.5},
}


def test_boxes_stay_on_their_fields_at_any_size(mic_page: Page, worker_stack: WorkerStack, shot) -> None:
    """The drawing itself, checked against known boxes: the detection answer is fixed here (the tiny model's
    boxes are random), everything else is the real page."""
    page = mic_page
    page.route("**/api/detect-fields", lambda route: route.fulfill(json=DETECTION))
    page.goto(f"{worker_stack.web.url}/detect")
    page.get_by_test_id("image-file").set_input_files(files=[{
        "name": "form.png", "mimeType": "image/png", "buffer": form_png()}])
    page.get_by_test_id("detect-submit").click()
    expect(page.get_by_test_id("detect-box")).to_have_count(3)
    expect(page.get_by_test_id("field-item")).to_have_count(3)

    for width, height in ((1280, 900), (700, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        img = page.get_by_test_id("detect-image").locator("img").bounding_box()
        assert img is not None
        scale_x, scale_y = img["width"] / 900, img["height"] / 600
        for index, box in enumerate(DETECTION["bboxes"]):
            drawn = page.get_by_test_id("detect-box").nth(index).bounding_box()
            x1, y1, x2, y2 = box["bbox_pixel"]
            assert drawn is not None
            assert drawn["x"] == pytest.approx(img["x"] + x1 * scale_x, abs=1.5)
            assert drawn["y"] == pytest.approx(img["y"] + y1 * scale_y, abs=1.5)
            assert drawn["width"] == pytest.approx((x2 - x1) * scale_x, abs=1.5)
            assert drawn["height"] == pytest.approx((y2 - y1) * scale_y, abs=1.5)
    page.set_viewport_size({"width": 1280, "height": 860})

    # Hovering a list entry highlights its box, and hovering a box highlights its entry.
    page.get_by_test_id("field-item").nth(1).hover()
    expect(page.get_by_test_id("detect-box").nth(1)).to_have_attribute("data-active", "true")
    shot(page, "detect-boxes")
    assert axe_violations(page) == []
    page.get_by_test_id("detect-box").nth(2).hover()
    expect(page.get_by_test_id("field-item").nth(2)).to_have_attribute("data-active", "true")
    expect(page.get_by_test_id("field-item").nth(1)).to_have_attribute("data-active", "false")
    page.unroute("**/api/detect-fields")
