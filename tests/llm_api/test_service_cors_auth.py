"""CORS preflights and headers on every route (allowed and disallowed origins), and the optional API key."""

from __future__ import annotations

import pytest
import requests

from tests.llm_api.conftest import API_KEY, assert_error

ROUTES = [
    ("POST", "/ask-llm"), ("GET", "/models"), ("POST", "/models/pull"), ("GET", "/sessions"),
    ("GET", "/sessions/abc"), ("DELETE", "/sessions/abc"), ("GET", "/healthz"), ("GET", "/readyz"),
    ("POST", "/voice-feedback"), ("POST", "/detect-fields"), ("GET", "/no/such/route"),
]
ALLOWED = ["http://localhost:3000", "http://127.0.0.1:3000"]


def preflight(url: str, path: str, method: str, origin: str) -> requests.Response:
    return requests.options(url + path, timeout=5, headers={
        "Origin": origin, "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "content-type,authorization,x-request-id"})


def check_allowed(response: requests.Response, origin: str) -> None:
    assert response.status_code == 204, response.text
    headers = response.headers
    assert headers["Access-Control-Allow-Origin"] == origin
    methods = {m.strip() for m in headers["Access-Control-Allow-Methods"].split(",")}
    assert {"GET", "POST", "DELETE", "OPTIONS"} <= methods
    allowed_headers = {h.strip().lower() for h in headers["Access-Control-Allow-Headers"].split(",")}
    assert {"content-type", "authorization", "x-request-id"} <= allowed_headers
    assert int(headers["Access-Control-Max-Age"]) > 0
    assert "origin" in headers["Vary"].lower()


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize("origin", ALLOWED)
def test_preflight_from_allowed_origin(api, method, path, origin):
    check_allowed(preflight(api.url, path, method, origin), origin)


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_preflight_from_allowed_origin_needs_no_api_key(api_auth, method, path):
    check_allowed(preflight(api_auth.url, path, method, ALLOWED[0]), ALLOWED[0])


def test_preflight_asking_for_one_header_still_lists_all(api):
    response = requests.options(api.url + "/ask-llm", timeout=5, headers={
        "Origin": ALLOWED[0], "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    check_allowed(response, ALLOWED[0])


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_preflight_from_other_origin_gets_no_allow_origin(api, method, path):
    response = preflight(api.url, path, method, "http://evil.example:3000")
    assert response.status_code in (200, 204)
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "origin" in response.headers["Vary"].lower()


def test_simple_requests_expose_request_id_and_server_timing(api, ollama):
    response = requests.get(api.url + "/sessions", headers={"Origin": ALLOWED[1]}, timeout=5)
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED[1]
    exposed = {h.strip().lower() for h in response.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"x-request-id", "server-timing"} <= exposed
    other = requests.get(api.url + "/sessions", headers={"Origin": "http://evil.example"}, timeout=5)
    assert other.status_code == 200 and "Access-Control-Allow-Origin" not in other.headers
    error = requests.get(api.url + "/nowhere", headers={"Origin": ALLOWED[0]}, timeout=5)
    assert error.status_code == 404 and error.headers["Access-Control-Allow-Origin"] == ALLOWED[0]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": API_KEY},
                                     {"Authorization": f"Basic {API_KEY}"}, {"Authorization": "Bearer "}])
def test_api_key_required(api_auth, headers):
    for method, path in (("GET", "/sessions"), ("GET", "/models"), ("POST", "/ask-llm"), ("GET", "/sessions/x"),
                         ("POST", "/voice-feedback"), ("POST", "/detect-fields"), ("POST", "/models/pull")):
        response = requests.request(method, api_auth.url + path, headers={"Origin": ALLOWED[0], **headers},
                                    json={}, timeout=5)
        assert_error(response, 401, "unauthorized")
        assert response.headers["Access-Control-Allow-Origin"] == ALLOWED[0]  # the browser can read the 401


def test_api_key_accepted_and_health_is_open(api_auth, ollama):
    auth = {"Authorization": f"Bearer {API_KEY}"}
    assert requests.get(api_auth.url + "/sessions", headers=auth, timeout=5).status_code == 200
    assert requests.get(api_auth.url + "/sessions", headers={"Authorization": f"bearer {API_KEY}"},
                        timeout=5).status_code == 200
    answer = requests.post(api_auth.url + "/ask-llm", headers=auth, json={"prompt": "hi"}, timeout=10)
    assert answer.status_code == 200, answer.text
    assert requests.get(api_auth.url + "/healthz", timeout=5).status_code == 200
    assert requests.get(api_auth.url + "/readyz", timeout=10).status_code == 200
