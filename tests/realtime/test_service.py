"""The real-time voice service over real WebSockets, on the tiny random Moshi checkpoint, spoken to by a client of
the Moshi protocol: handshake, Opus in at real time, Opus and text out; leaving mid-conversation; one too many
conversations; malformed messages; the idle limit; a model that fails to load."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
import requests
import sphn

from .moshi_client import converse, converse_async, ogg_opus, tone
from .stack import realtime_service, wait_until_ready

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def realtime():
    with realtime_service("service", env={"IDLE_TIMEOUT_S": "2"}) as service:
        yield service


def chat_url(service) -> str:
    """The chat URL once the service is idle (a slot is given back just after the client sees the close)."""
    wait_idle(service)
    return ws_url(service)


def ws_url(service) -> str:
    return service.url.replace("http://", "ws://") + "/api/chat"


def health(service) -> dict:
    return requests.get(service.url + "/healthz", timeout=5).json()


def wait_idle(service, timeout_s: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while (body := health(service))["conversations"]["active"] and time.monotonic() < deadline:
        time.sleep(0.05)
    return body


def test_a_conversation_answers_with_opus_audio_and_text(realtime):
    result = converse(chat_url(realtime), tone(3.0))
    assert result.handshake and result.errors == [] and result.close_code == 1000
    # About one 80 ms frame out per frame in (the first input frame is the model's past): 36 of 37 frames.
    assert result.audio_samples >= 30 * 1920, result
    assert result.audio_bytes.startswith(b"OggS") and b"OpusHead" in result.audio_bytes[:200]
    assert np.isfinite(result.pcm).all() and float(np.abs(result.pcm).max()) > 0
    # The real sphn decoder reads the whole answer as one Ogg Opus stream.
    assert sphn.OpusStreamReader(24000).append_bytes(result.audio_bytes).size == result.audio_samples
    assert result.text and all(isinstance(piece, str) and piece for piece in result.text)
    assert result.first_audio_s is not None and result.first_audio_s < 5.0
    assert wait_idle(realtime)["conversations"] == {"active": 0, "max": 1}


def test_health_says_what_is_loaded(realtime):
    body = requests.get(realtime.url + "/readyz", timeout=5).json()
    assert body["status"] == "ready" and body["sample_rate"] == 24000 and body["frame_ms"] == 80
    assert body["model"].endswith("tiny-moshi") and body["device"] == "cpu"


def test_leaving_mid_conversation_frees_the_slot_and_leaves_no_state(realtime):
    audio = tone(2.0)
    first = converse(chat_url(realtime), audio, realtime=False, linger_s=1.5)
    left = converse(chat_url(realtime), tone(4.0, hz=330), stop_after_s=0.8)  # the client leaves after 10 frames
    assert left.handshake and left.close_code == 1000
    assert wait_idle(realtime)["conversations"]["active"] == 0
    # The next conversation starts from a clean state: the same input (and SEED) gives the same answer as before
    # the interrupted one.
    again = converse(chat_url(realtime), audio, realtime=False, linger_s=1.5)
    assert again.audio_samples == first.audio_samples and again.text == first.text
    assert np.array_equal(again.pcm, first.pcm)


def test_one_too_many_conversations_is_refused_at_once(realtime):
    async def both():
        talking = asyncio.create_task(converse_async(chat_url(realtime), tone(3.0)))
        await asyncio.sleep(1.0)
        started = time.perf_counter()
        refused = await converse_async(ws_url(realtime), tone(1.0))
        refused_s = time.perf_counter() - started
        return await talking, refused, refused_s

    talking, refused, refused_s = asyncio.run(both())
    assert not refused.handshake and refused.close_code == 1013, refused
    assert refused.errors and refused.errors[0].startswith("busy: 1 of 1 conversations")
    assert refused_s < 2.0  # a refusal, not a queue
    assert talking.handshake and talking.errors == [] and talking.audio_samples >= 30 * 1920
    assert health(realtime)["totals"]["refused"] >= 1


@pytest.mark.parametrize(("messages", "code", "error"), [
    (["hello"], 1003, "only binary messages"),
    ([b"\x07abc"], 1003, "unknown message kind 0x07"),
    ([b"\x01" + b"not an ogg stream at all, not even close"], 1007, "the audio is not Ogg Opus"),
], ids=["text-message", "unknown-kind", "not-ogg"])
def test_malformed_messages_end_the_conversation_cleanly(realtime, messages, code, error):
    result = converse(chat_url(realtime), messages=messages, linger_s=2.0)
    assert result.handshake and result.close_code == code, result
    assert result.errors and result.errors[0].startswith(error)
    assert wait_idle(realtime)["conversations"]["active"] == 0
    assert converse(chat_url(realtime), tone(0.5)).audio_samples > 0  # the service goes on


def test_an_oversized_message_is_closed_with_1009(realtime):
    result = converse(chat_url(realtime), messages=[b"\x01" + b"x" * (65 * 1024)], linger_s=2.0)
    assert result.handshake and result.close_code == 1009
    assert wait_idle(realtime)["conversations"]["active"] == 0


def test_empty_messages_are_ignored(realtime):
    chunks = ogg_opus(tone(1.0))
    messages = [b""] + [b"\x01" + chunk for chunk in chunks]
    result = converse(chat_url(realtime), messages=messages)
    assert result.errors == [] and result.audio_samples > 0


def test_a_silent_client_is_ended_after_the_idle_limit(realtime):
    started = time.perf_counter()
    result = converse(chat_url(realtime), messages=[], linger_s=6.0)
    assert result.handshake and result.close_code == 1000
    assert result.errors == ["no audio for 2 s: the conversation ended"]
    assert 1.5 < time.perf_counter() - started < 6.0


def test_two_slots_hold_two_conversations_at_once_on_shared_weights():
    with realtime_service("two-slots", env={"MAX_CONVERSATIONS": "2"}) as service:
        async def both():
            return await asyncio.gather(converse_async(chat_url(service), tone(2.0)),
                                        converse_async(chat_url(service), tone(2.0, hz=330)))

        first, second = asyncio.run(both())
        third = converse(chat_url(service), tone(0.5))
    for result in (first, second, third):
        assert result.handshake and result.errors == [] and result.audio_samples > 0


def test_a_model_that_fails_to_load_is_reported_and_refused(tmp_path):
    (tmp_path / "config.json").write_text("{}")  # names model.safetensors, which is not there
    with realtime_service("broken", env={"MOSHI_MODEL_DIR": str(tmp_path)}, wait_ready=False) as service:
        with pytest.raises(AssertionError, match="did not become ready"):
            wait_until_ready(service, 30)
        body = requests.get(service.url + "/readyz", timeout=5)
        assert body.status_code == 503 and body.json()["status"] == "error"
        assert "has no Moshi weights file model.safetensors" in body.json()["error"]
        result = converse(chat_url(service), tone(0.5))
    assert not result.handshake and result.close_code == 1013
    assert result.errors[0].startswith("the model failed to load")


def test_http_errors_are_the_contracts_json(realtime):
    answer = requests.get(realtime.url + "/nope", timeout=5, headers={"X-Request-ID": "probe-1"})
    assert answer.status_code == 404 and answer.json()["error"] == {
        "code": "not_found", "request_id": "probe-1",
        "message": "No such route: the service serves /api/chat (WebSocket), /healthz, /readyz and /metrics."}
    plain = requests.get(realtime.url + "/api/chat", timeout=5)  # not a WebSocket upgrade
    assert plain.status_code == 400 and plain.json()["error"]["code"] == "bad_request"
    assert "connect to /api/chat with a WebSocket client" in plain.json()["error"]["message"]
    assert plain.json()["error"]["request_id"] == plain.headers["X-Request-ID"]
    posted = requests.post(realtime.url + "/healthz", timeout=5)
    assert posted.status_code == 405 and posted.json()["error"]["code"] == "method_not_allowed"
    assert "GET" in posted.headers["Allow"]


def test_conversations_one_after_another_leave_nothing_behind(realtime):
    """Each conversation's state is wiped and reused: memory and threads stay flat across many of them, and every
    client connection is gone from the service once it ends."""
    from tests.support.linux_procs import connections_to_port, rss_bytes

    pid = realtime.process.pid
    for _ in range(2):  # warm: allocator pools, Opus codecs
        converse(chat_url(realtime), tone(1.0), realtime=False, linger_s=0.5)
    before, connected = rss_bytes(pid), connections_to_port(pid, realtime.port)  # the harness's health probe
    for _ in range(8):
        result = converse(chat_url(realtime), tone(1.0), realtime=False, linger_s=0.5)
        assert result.audio_samples > 0 and result.errors == []
    wait_idle(realtime)
    growth_mib = (rss_bytes(pid) - before) / 2**20
    print(f"service RSS growth over 8 conversations: {growth_mib:.1f} MiB")
    assert growth_mib < 24
    deadline = time.monotonic() + 5
    while connections_to_port(pid, realtime.port) > connected and time.monotonic() < deadline:
        time.sleep(0.1)
    assert connections_to_port(pid, realtime.port) <= connected


def test_metrics_count_conversations_frames_and_refusals(realtime):
    from prometheus_client.parser import text_string_to_metric_families

    def sample(name: str, **labels: str) -> float:
        answer = requests.get(realtime.url + "/metrics", timeout=5)
        assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/plain")
        for family in text_string_to_metric_families(answer.text):
            for s in family.samples:
                if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                    return s.value
        raise AssertionError(f"{name} {labels} not exported")

    before_left = sample("realtime_conversations_total", reason="client_left")
    before_in = sample("realtime_frames_total", direction="in")
    before_steps = sample("realtime_frame_step_seconds_count")
    result = converse(chat_url(realtime), tone(1.0), realtime=False, linger_s=0.5)
    wait_idle(realtime)
    assert sample("realtime_conversations_total", reason="client_left") == before_left + 1
    frames_in = sample("realtime_frames_total", direction="in") - before_in
    assert frames_in >= 11 and sample("realtime_frame_step_seconds_count") - before_steps == frames_in
    assert sample("realtime_frames_total", direction="out") >= result.audio_messages
    assert sample("realtime_conversations_active") == 0
    assert sample("realtime_model_state", state="ready") == 1 and sample("realtime_model_state", state="error") == 0
    converse(chat_url(realtime), messages=["text"], linger_s=1.0)
    wait_idle(realtime)
    assert sample("realtime_conversations_total", reason="unsupported_message") >= 1
    assert sample("realtime_refused_total", reason="loading") == 0
