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
from playwright.sync_api import BrowserContext, Locator, Page, Playwright, Response, expect

from tests.web.conftest import WorkerStack, axe_violations, launch_with_microphone, open_tab

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
    context = launch_with_microphone(playwright, root, speech_like_wav(root / "speech.wav"))
    yield context
    context.close()


@pytest.fixture()
def mic_page(mic_browser: BrowserContext) -> Iterator[Page]:
    yield from open_tab(mic_browser)


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
    # The tiny random talker never emits its end code, so its answer always reaches the speech limit: said so.
    expect(page.get_by_test_id("voice-reply-truncated")).to_be_visible()
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
    expect(page.get_by_test_id("voice-reply-truncated")).to_have_count(0)


def is_detect_call(response: Response) -> bool:
    return response.request.method == "POST" and response.url.endswith("/api/detect-fields")


def settle(element: Locator) -> None:
    """Wait until the element's colour transition has finished, so a screenshot shows the highlight itself."""
    element.evaluate("el => Promise.all(el.getAnimations().map(a => a.finished))")


def assert_boxes_on_their_fields(page: Page, detection: dict) -> None:
    """Every drawn box covers its `bbox_pixel`, scaled from `image_size` to the image as displayed now."""
    img = page.get_by_test_id("detect-image").locator("img").bounding_box()
    assert img is not None
    scale_x = img["width"] / detection["image_size"]["width"]
    scale_y = img["height"] / detection["image_size"]["height"]
    for index, box in enumerate(detection["bboxes"]):
        drawn = page.get_by_test_id("detect-box").nth(index).bounding_box()
        x1, y1, x2, y2 = box["bbox_pixel"]
        assert drawn is not None
        assert drawn["x"] == pytest.approx(img["x"] + x1 * scale_x, abs=1.5), (index, box)
        assert drawn["y"] == pytest.approx(img["y"] + y1 * scale_y, abs=1.5), (index, box)
        assert drawn["width"] == pytest.approx((x2 - x1) * scale_x, abs=1.5), (index, box)
        assert drawn["height"] == pytest.approx((y2 - y1) * scale_y, abs=1.5), (index, box)


def test_detect_fields_on_an_uploaded_form(mic_page: Page, worker_stack: WorkerStack, shot) -> None:
    """A drawn form through the real web server and llm-api to the REAL worker, whose tiny LoRA answers boxes
    (tests/worker/tiny_models.py): every box of the worker's answer is listed, drawn on its place in the image at
    any display size, linked to its list entry by hover both ways, and saved by the JSON download."""
    page = mic_page
    page.goto(f"{worker_stack.web.url}/detect")
    page.get_by_test_id("image-file").set_input_files(files=[{
        "name": "form.png", "mimeType": "image/png", "buffer": form_png()}])
    expect(page.get_by_test_id("detect-image").locator("img")).to_be_visible()
    with page.expect_response(is_detect_call, timeout=MODEL_CALL_TIMEOUT_MS) as answer:
        page.get_by_test_id("detect-submit").click()
    assert answer.value.status == 200, answer.value.text()
    detection = answer.value.json()
    boxes = detection["bboxes"]
    assert detection["image_size"] == {"width": 900, "height": 600}
    assert boxes, f"the worker found no fields; its raw output: {detection['raw_output']!r}"

    result = page.get_by_test_id("detect-result")
    expect(result).to_be_visible()
    expect(result).to_contain_text("900 × 600")
    expect(page.get_by_test_id("detect-response-time")).not_to_be_empty()
    count = detection["count"]
    expect(page.get_by_test_id("detect-count")).to_have_text("1 field found" if count == 1 else f"{count} fields found")
    expect(page.get_by_test_id("detect-box")).to_have_count(len(boxes))
    items = page.get_by_test_id("field-item")
    expect(items).to_have_count(len(boxes))
    for index, box in enumerate(boxes):
        x1, y1, x2, y2 = box["bbox_pixel"]
        expect(items.nth(index)).to_contain_text(f"({x1}, {y1}) – ({x2}, {y2})")

    for width, height in ((1280, 900), (700, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        # The image (and the result beside or below it) fits the window: nothing scrolls sideways.
        main = page.evaluate("[document.querySelector('main').scrollWidth, document.querySelector('main').clientWidth]")
        assert main[0] <= main[1], f"the result is wider than a {width} px window: {main}"
        assert_boxes_on_their_fields(page, detection)
    page.get_by_test_id("detect-image").scroll_into_view_if_needed()
    shot(page, "detect-boxes-phone")
    page.set_viewport_size({"width": 1280, "height": 860})

    with page.expect_download() as download:
        page.get_by_test_id("detect-download").click()
    assert json.loads(Path(download.value.path()).read_text()) == {"file": "form.png", **detection}

    # Hovering a list entry highlights its box, and hovering a box highlights its entry (and only that one).
    last = len(boxes) - 1
    items.nth(0).hover()
    expect(page.get_by_test_id("detect-box").nth(0)).to_have_attribute("data-active", "true")
    settle(page.get_by_test_id("detect-box").nth(0))
    result.scroll_into_view_if_needed()
    shot(page, "detect-real-worker")
    assert axe_violations(page) == []
    page.get_by_test_id("detect-box").nth(last).hover()
    expect(items.nth(last)).to_have_attribute("data-active", "true")
    expect(page.locator("[data-testid=field-item][data-active=true]")).to_have_count(1)
    expect(page.locator("[data-testid=detect-box][data-active=true]")).to_have_count(1)
    settle(page.get_by_test_id("detect-box").nth(last))
    shot(page, "detect-boxes")
