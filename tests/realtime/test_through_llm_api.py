"""The real-time voice WebSocket through the llm-api (gunicorn, gevent), the way the browser reaches it: the relay,
`/realtime/status`, and the API's rules (API_KEY, browser origins) applied to the upgrade."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
import requests

from tests.doubles.stack import llm_api_service
from tests.support.procs import free_port

from .moshi_client import converse, converse_async, tone
from .stack import realtime_service

pytestmark = pytest.mark.timeout(240)
KEY = "realtime-test-key"
ORIGIN = "http://localhost:3000"


@pytest.fixture(scope="module")
def realtime():
    with realtime_service("through-llm-api") as service:
        yield service


@pytest.fixture(scope="module")
def api(realtime, tmp_path_factory):
    closed = f"http://127.0.0.1:{free_port()}"
    env = {"REALTIME_URL": realtime.url, "API_KEY": KEY, "CORS_ORIGINS": ORIGIN}
    with llm_api_service(closed, closed, tmp_path_factory.mktemp("db") / "h.sqlite3", env=env) as service:
        yield service


def ws_url(api) -> str:
    return api.url.replace("http://", "ws://") + "/realtime/api/chat"


AUTH = {"Authorization": f"Bearer {KEY}"}


def wait_idle(realtime, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while requests.get(realtime.url + "/healthz", timeout=5).json()["conversations"]["active"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def upgrade_status(url: str, headers: dict[str, str]) -> tuple[int, dict]:
    """The HTTP answer to a WebSocket upgrade the llm-api refuses (before any 101)."""
    async def attempt():
        async with aiohttp.ClientSession() as session:
            try:
                async with session.ws_connect(url, headers=headers):
                    return 101, {}
            except aiohttp.WSServerHandshakeError as exc:
                answer = await session.get(url.replace("ws://", "http://"), headers={
                    **headers, "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
                    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
                return exc.status, await answer.json()
    return asyncio.run(attempt())


def test_a_conversation_through_the_llm_api(api, realtime):
    wait_idle(realtime)
    result = converse(ws_url(api), tone(3.0), headers={**AUTH, "Origin": ORIGIN})
    assert result.handshake and result.errors == [] and result.close_code == 1000
    assert result.audio_samples >= 30 * 1920 and result.text
    assert result.first_audio_s is not None and result.first_audio_s < 5.0
    wait_idle(realtime)
    assert "realtime relay ended after" in api.log()


def test_status_says_ready_with_what_the_page_needs(api):
    answer = requests.get(api.url + "/realtime/status", headers=AUTH, timeout=10)
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "ready" and body["sample_rate"] == 24000 and body["frame_ms"] == 80
    assert body["conversations"]["max"] == 1 and "totals" not in body


def test_the_key_is_required_and_never_passed_on(api, realtime):
    status, body = upgrade_status(ws_url(api), {"Origin": ORIGIN})
    assert status == 401 and body["error"]["code"] == "unauthorized"
    assert requests.get(api.url + "/realtime/status", timeout=5).status_code == 401
    wait_idle(realtime)
    assert converse(ws_url(api), tone(0.5), headers=AUTH).handshake  # no Origin: a non-browser client
    assert KEY not in realtime.log()


def test_an_origin_not_listed_is_forbidden(api):
    status, body = upgrade_status(ws_url(api), {**AUTH, "Origin": "http://evil.example"})
    assert status == 403 and body["error"]["code"] == "forbidden"
    assert "CORS_ORIGINS" in body["error"]["message"]


def test_a_plain_get_is_told_to_use_a_websocket(api):
    answer = requests.get(ws_url(api).replace("ws://", "http://"), headers=AUTH, timeout=5)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "bad_request"
    assert "WebSocket" in answer.json()["error"]["message"]


def test_one_too_many_through_the_relay_is_refused(api, realtime):
    wait_idle(realtime)

    async def both():
        talking = asyncio.create_task(converse_async(ws_url(api), tone(2.5), headers=AUTH))
        await asyncio.sleep(1.0)
        refused = await converse_async(ws_url(api), tone(0.5), headers=AUTH)
        return await talking, refused

    talking, refused = asyncio.run(both())
    assert talking.handshake and talking.audio_samples > 0
    assert refused.close_code == 1013 and refused.errors[0].startswith("busy:")


def test_leaving_through_the_relay_frees_the_service(api, realtime):
    wait_idle(realtime)
    left = converse(ws_url(api), tone(4.0), headers=AUTH, stop_after_s=0.6)
    assert left.handshake
    wait_idle(realtime)  # the service saw the close through the relay
    assert requests.get(api.url + "/healthz", timeout=5).status_code == 200


def test_not_running_and_switched_off_are_clear_503s(tmp_path):
    closed = f"http://127.0.0.1:{free_port()}"
    with llm_api_service(closed, closed, tmp_path / "a.sqlite3", env={"REALTIME_URL": closed}) as down:
        answer = requests.get(down.url + "/realtime/status", timeout=10)
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
        assert answer.json()["error"]["code"] == "backend_unavailable"
        assert "docker compose --profile realtime up" in answer.json()["error"]["message"]
        status, body = upgrade_status(down.url.replace("http://", "ws://") + "/realtime/api/chat", {})
        assert status == 503 and body["error"]["code"] == "backend_unavailable"
    with llm_api_service(closed, closed, tmp_path / "b.sqlite3") as off:  # REALTIME_URL=none
        answer = requests.get(off.url + "/realtime/status", timeout=10)
        assert answer.status_code == 503 and "REALTIME_URL=none" in answer.json()["error"]["message"]
