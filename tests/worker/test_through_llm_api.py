"""End to end: the real llm-api (gunicorn) in front of the real model-worker (gunicorn) on the tiny checkpoints.

One worker with both models ready serves this module (QUEUE_SIZE=1, so a held stream plus two requests fills the
omni queue; RETRY_AFTER_S=7, so a pass-through `Retry-After` is told apart from the llm-api's own default). Workers in
other states (model disabled, failed, loading, down, timing out) are in test_llm_api_worker_states.py."""

import base64
import concurrent.futures
import json

import pypdfium2 as pdfium
import pytest
import requests

from tests.doubles.stack import llm_api_service, ollama_double
from tests.worker.media_samples import encode_audio, form_image, image_bytes
from tests.worker.stack import model_worker_service, wait_for_log

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(tiny_checkpoints, tmp_path_factory, llamacpp_url):
    db = tmp_path_factory.mktemp("llm-api-db") / "llm-api.sqlite3"
    worker_env = {"QUEUE_SIZE": "1", "RETRY_AFTER_S": "7"}
    # One gevent process is enough for the concurrent requests here, and stops faster than two.
    with model_worker_service(tiny_checkpoints, name="e2e-worker", env=worker_env) as worker, \
            ollama_double() as ollama, \
            llm_api_service(ollama.url, worker.url, db, env={"WEB_CONCURRENCY": "1",
                                                             "OPENAI_BACKENDS": f"local={llamacpp_url}"}) as api:
        yield api, worker


def test_voice_feedback_through_the_llm_api(stack):
    api, worker = stack
    response = requests.post(
        api.url + "/voice-feedback",
        files={"audio": ("recording.webm", encode_audio("webm_opus", 1.5), "audio/webm;codecs=opus")},
        data={"return_audio": "true", "prompt": "How was my pronunciation?"},
        headers={"X-Request-ID": "e2e-voice-1"}, timeout=180,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body["feedback"], str)
    assert body["audio"]["format"] == "wav" and body["audio"]["sample_rate"] == 24000
    assert base64.b64decode(body["audio"]["base64"])[:4] == b"RIFF"
    assert body["duration_s"] == pytest.approx(1.5, abs=0.05)
    assert {"total_ms", "decode_ms", "inference_ms"} <= set(body["timings"])
    assert wait_for_log(worker, "request_id=e2e-voice-1")  # the llm-api forwarded the request id


def test_corrupt_audio_is_422_through_the_llm_api(stack):
    api, _ = stack
    response = requests.post(api.url + "/voice-feedback",
                             files={"audio": ("broken.ogg", b"OggS" + bytes(300), "audio/ogg")}, timeout=60)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "unprocessable_media"


def test_ogg_declared_application_ogg_gets_feedback_through_the_llm_api(stack):
    """Both services take `application/ogg` (the worker always did; the llm-api answered it 415)."""
    api, _ = stack
    response = requests.post(api.url + "/voice-feedback", timeout=180,
                             files={"audio": ("clip.oga", encode_audio("ogg_opus", 1.0), "application/ogg")})
    assert response.status_code == 200, response.text
    assert isinstance(response.json()["feedback"], str)
    assert response.json()["duration_s"] == pytest.approx(1.0, abs=0.05)


def test_detect_fields_through_the_llm_api(stack):
    api, _ = stack
    png = image_bytes(form_image(1200, 800), "PNG")
    multipart = requests.post(api.url + "/detect-fields", files={"image": ("form.png", png, "image/png")},
                              timeout=120)
    assert multipart.status_code == 200, multipart.text
    body = multipart.json()
    assert body["image_size"] == {"width": 1200, "height": 800}
    assert body["count"] == len(body["bboxes"]) and isinstance(body["raw_output"], str)
    assert body["count"] >= 1, body["raw_output"]  # the tiny adapter answers boxes in the real adapter's format
    for box in body["bboxes"]:
        x1, y1, x2, y2 = box["bbox_pixel"]
        assert 0 <= x1 < x2 <= 1200 and 0 <= y1 < y2 <= 800
    as_json = requests.post(api.url + "/detect-fields",
                            json={"image_base64": base64.b64encode(png).decode()}, timeout=120)
    assert as_json.status_code == 200 and as_json.json()["image_size"] == {"width": 1200, "height": 800}


def test_ask_llm_with_model_omni(stack):
    api, _ = stack
    response = requests.post(api.url + "/ask-llm", json={"prompt": "Hello Omni", "model": "omni",
                                                         "options": {"max_tokens": 6, "temperature": 0}},
                             timeout=120)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "omni" and isinstance(body["answer"], str)
    with requests.post(api.url + "/ask-llm", stream=True, timeout=120,
                       json={"prompt": "Again", "model": "omni", "session_id": body["session_id"],
                             "stream": True, "options": {"max_tokens": 6, "temperature": 0}}) as streamed:
        assert streamed.status_code == 200
        lines = [json.loads(line) for line in streamed.iter_lines() if line]
    assert lines[0]["type"] == "start" and lines[-1]["type"] == "done"
    assert lines[-1]["answer"] == "".join(line["text"] for line in lines if line["type"] == "token")


def test_models_lists_omni_as_ready(stack):
    api, _ = stack
    models = requests.get(api.url + "/models", timeout=30).json()["models"]
    omni = [m for m in models if m["name"] == "omni"]
    assert omni and omni[0]["backend"] == "worker" and omni[0]["state"] == "ready"


def test_readyz_is_ready_when_the_worker_is(stack):
    api, _ = stack
    response = requests.get(api.url + "/readyz", timeout=30)
    assert (response.status_code, response.json()["status"]) == (200, "ready")
    worker = response.json()["checks"]["worker"]
    assert worker["status"] == "up" and worker["models"] == {"omni": "ready", "detector": "ready"}


# Sampling with a fixed seed: the tiny model's answer is a deterministic function of exactly what it was sent.
SEEDED = {"temperature": 1.0, "seed": 11, "max_tokens": 8}


def _direct_chat(worker, messages):
    response = requests.post(worker.url + "/omni/chat", json={"messages": messages, "options": SEEDED}, timeout=120)
    assert response.status_code == 200, response.text
    return response.json()


def test_omni_chat_sends_the_session_history_in_order_and_stores_the_exchange(stack):
    api, worker = stack
    first = requests.post(api.url + "/ask-llm", json={"prompt": "hello", "model": "omni", "options": SEEDED},
                          headers={"X-Request-ID": "e2e-omni-chat-1"}, timeout=120)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["model"] == "omni" and isinstance(body["answer"], str) and body["message_id"]
    assert body["timings"]["prompt_tokens"] > 0 and body["timings"]["completion_tokens"] > 0
    assert body["timings"]["load_ms"] is None
    assert wait_for_log(worker, "request_id=e2e-omni-chat-1")
    sid = body["session_id"]
    second = requests.post(api.url + "/ask-llm", timeout=120,
                           json={"prompt": "again", "model": "omni", "session_id": sid, "options": SEEDED})
    assert second.status_code == 200, second.text
    history = [{"role": "user", "content": "hello"}, {"role": "assistant", "content": body["answer"]},
               {"role": "user", "content": "again"}]
    # The worker, sent that history itself, answers the same from the same number of prompt tokens, which the
    # prompt alone would not. (The tiny random model barely reacts to message order, so the order itself is checked
    # where the llm-api builds this list for both backends: tests/llm_api/test_service_chat.py, via Ollama.)
    direct = _direct_chat(worker, history)
    assert second.json()["answer"] == direct["answer"]
    assert second.json()["timings"]["prompt_tokens"] == direct["timings"]["prompt_tokens"]
    assert _direct_chat(worker, history[2:])["timings"]["prompt_tokens"] < direct["timings"]["prompt_tokens"]

    session = requests.get(f"{api.url}/sessions/{sid}", timeout=30).json()
    assert [(m["role"], m["content"], m["model"]) for m in session["messages"]] == [
        ("user", "hello", "omni"), ("assistant", body["answer"], "omni"),
        ("user", "again", "omni"), ("assistant", second.json()["answer"], "omni")]
    assert session["messages"][1]["id"] == body["message_id"]


def test_a_session_goes_from_ollama_to_llamacpp_to_omni_and_omni_gets_the_whole_history(stack):
    api, worker = stack
    turns = [("7shi/ezo-gemma-2-jpn:2b-instruct-q8_0", "hello", {}),
             ("local/smollm2", "and you?", {"max_tokens": 6, "temperature": 0}),
             ("omni", "last one", SEEDED)]
    sid, history = None, []
    for model, prompt, options in turns:
        response = requests.post(api.url + "/ask-llm", timeout=120, json={
            "prompt": prompt, "model": model, "options": options, **({"session_id": sid} if sid else {})})
        assert response.status_code == 200, response.text
        body = response.json()
        sid = body["session_id"]
        history += [{"role": "user", "content": prompt}, {"role": "assistant", "content": body["answer"]}]
    # Omni, sent the five messages itself, answers the same from the same prompt: it was sent all of them.
    direct = _direct_chat(worker, history[:5])
    assert body["answer"] == direct["answer"]
    assert body["timings"]["prompt_tokens"] == direct["timings"]["prompt_tokens"]
    stored = requests.get(f"{api.url}/sessions/{sid}", timeout=30).json()["messages"]
    assert [m["content"] for m in stored] == [m["content"] for m in history]
    assert [m["model"] for m in stored[::2]] == [model for model, _, _ in turns]


def test_omni_stream_lines_follow_the_contract(stack):
    api, _ = stack
    with requests.post(api.url + "/ask-llm", stream=True, timeout=120,
                       json={"prompt": "Stream, please", "model": "omni", "stream": True,
                             "options": {"max_tokens": 6, "temperature": 0}}) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("application/x-ndjson")
        assert response.headers["Cache-Control"] == "no-cache" and response.headers["X-Accel-Buffering"] == "no"
        lines = [json.loads(line) for line in response.iter_lines() if line]
    start, tokens, done = lines[0], lines[1:-1], lines[-1]
    assert start["type"] == "start" and start["model"] == "omni" and start["session_id"] and start["message_id"]
    assert tokens and all(line["type"] == "token" and line["text"] for line in tokens)
    assert done["type"] == "done" and done["answer"] == "".join(line["text"] for line in tokens)
    timings = done["timings"]
    assert timings["first_token_ms"] is not None and 0 < timings["first_token_ms"] <= timings["total_ms"]
    assert timings["completion_tokens"] == 6 and timings["prompt_tokens"] > 0
    messages = requests.get(f"{api.url}/sessions/{start['session_id']}", timeout=30).json()["messages"]
    assert [(m["role"], m["content"]) for m in messages] == [("user", "Stream, please"), ("assistant", done["answer"])]
    assert messages[1]["id"] == start["message_id"]


def _sessions(api):
    return requests.get(api.url + "/sessions", params={"limit": 200}, timeout=30).json()["sessions"]


def test_voice_feedback_with_a_session_stores_the_exchange(stack):
    api, _ = stack
    sid = requests.post(api.url + "/ask-llm", json={"prompt": "start"}, timeout=60).json()["session_id"]  # Ollama
    response = requests.post(api.url + "/voice-feedback", timeout=180,
                             files={"audio": ("clip.wav", encode_audio("wav", 1.0), "audio/wav")},
                             data={"prompt": "評価して", "return_audio": "false", "session_id": sid})
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body["feedback"], str) and body["audio"] is None and body["model"]  # the worker's OMNI_MODEL
    messages = requests.get(f"{api.url}/sessions/{sid}", timeout=30).json()["messages"]
    assert [(m["role"], m["content"]) for m in messages[2:]] == [("user", "[audio] 評価して"),
                                                                 ("assistant", body["feedback"])]
    # Stored under the API's name for the model, the same as an omni chat turn in that session.
    assert messages[2]["model"] == messages[3]["model"] == "omni" and messages[3]["timings"] == body["timings"]


def test_voice_feedback_without_a_session_stores_nothing(stack):
    api, _ = stack
    before = _sessions(api)
    response = requests.post(api.url + "/voice-feedback", timeout=180,
                             files={"audio": ("clip.flac", encode_audio("flac", 0.5), "audio/flac")})
    assert response.status_code == 200, response.text
    assert _sessions(api) == before


def _pdf_page(width_pt: int, height_pt: int) -> bytes:
    """A one-page PDF of the drawn form, `width_pt` x `height_pt` points (Pillow writes it at 72 dpi)."""
    return image_bytes(form_image(width_pt, height_pt), "PDF", resolution=72.0)


def test_detect_fields_on_a_pdf_first_page_through_the_llm_api(stack):
    api, _ = stack
    pdf = _pdf_page(1200, 800)
    document = pdfium.PdfDocument(pdf)
    assert len(document) == 1 and document[0].get_size() == (1200, 800)
    document.close()
    multipart = requests.post(api.url + "/detect-fields", files={"image": ("form.pdf", pdf, "application/pdf")},
                              timeout=120)
    assert multipart.status_code == 200, multipart.text
    body = multipart.json()
    # The first page rendered with its long side at 2000 px; boxes are in pixels of that rendering.
    size = body["image_size"]
    assert size["width"] == 2000 and abs(size["height"] - 2000 * 800 / 1200) <= 1
    assert body["count"] == len(body["bboxes"]) >= 1, body["raw_output"]
    for box in body["bboxes"]:
        x1, y1, x2, y2 = box["bbox_pixel"]
        assert 0 <= x1 < x2 <= size["width"] and 0 <= y1 < y2 <= size["height"]
    as_json = requests.post(api.url + "/detect-fields", json={"image_base64": base64.b64encode(pdf).decode()},
                            timeout=120)
    assert as_json.status_code == 200, as_json.text
    assert as_json.json()["image_size"] == size


@pytest.mark.parametrize("data", [b"%PDF-1.7\n" + bytes(400), _pdf_page(300, 200)[:400]],
                         ids=["garbage", "truncated"])
def test_corrupt_pdf_is_422_through_the_llm_api(stack, data):
    api, _ = stack
    response = requests.post(api.url + "/detect-fields", files={"image": ("bad.pdf", data, "application/pdf")},
                             timeout=60)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "unprocessable_media" and "PDF" in response.json()["error"]["message"]
    as_json = requests.post(api.url + "/detect-fields", json={"image_base64": base64.b64encode(data).decode()},
                            timeout=60)
    assert as_json.status_code == 422 and as_json.json()["error"]["code"] == "unprocessable_media"


def test_full_worker_queue_is_429_with_retry_after_through_the_llm_api(stack):
    """A stream held open on the worker runs the omni model; QUEUE_SIZE=1 lets one more request wait, so of two
    concurrent requests exactly one is refused at once with 429 and the other is answered once the model is free."""
    api, worker = stack
    hold = requests.post(worker.url + "/omni/chat", stream=True, timeout=120,
                         json={"messages": [{"role": "user", "content": "hold"}], "stream": True,
                               "options": {"max_tokens": 8192, "temperature": 0}})
    try:
        assert hold.status_code == 200, hold.text
        held = hold.iter_lines(chunk_size=1)
        assert json.loads(next(held))["type"] == "start"
        assert json.loads(next(held))["type"] == "token"  # generating now, for thousands of tokens

        def ask(n):
            return requests.post(api.url + "/ask-llm", timeout=120, json={
                "prompt": f"queued {n}", "model": "omni", "options": {"max_tokens": 2}})

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            futures = [pool.submit(ask, n) for n in range(2)]
            done, _pending = concurrent.futures.wait(futures, return_when=concurrent.futures.FIRST_COMPLETED)
            first = done.pop()
            refused = first.result()
            assert refused.status_code == 429, refused.text
            assert refused.headers["Retry-After"] == "7"  # the worker's RETRY_AFTER_S, passed through
            error = refused.json()["error"]
            assert error["code"] == "overloaded" and "queue" in error["message"]
            assert error["request_id"] == refused.headers["X-Request-ID"]
            waiting = next(f for f in futures if f is not first)
            assert not waiting.done()  # still queued behind the held stream
            hold.close()  # the client goes away: the worker stops generating and frees the model
            answered = waiting.result(timeout=120)
        assert answered.status_code == 200, answered.text
        assert answered.json()["model"] == "omni"
    finally:
        hold.close()
