"""Google Cloud's side of the REST transports, as the services answer: OAuth 2.0 tokens for a service account (an
access token, and ID tokens for Cloud Run), long-running operations (`google.longrunning.Operation` JSON), the errors'
`{"error": {"code", "message", "status"}}` shape, and the Vertex AI and Cloud Run v2 resources the tool touches."""

from __future__ import annotations

import base64
import functools
import itertools
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import crypt, jwt

from tests.deploy.cloud_support import FAKE_GOOGLE_TOKEN
from tests.deploy.fake_http import Call, Recorder, Reply, json_reply

PROJECT = "forms-project"
TOKEN_URI = "https://oauth2.googleapis.com/token"
STATUS_CODES = {"PERMISSION_DENIED": (403, 7), "RESOURCE_EXHAUSTED": (429, 8), "NOT_FOUND": (404, 5)}


@functools.lru_cache(maxsize=1)
def _private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@functools.lru_cache(maxsize=1)
def _public_key_pem() -> str:
    key = serialization.load_pem_private_key(_private_key_pem().encode(), password=None)
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def service_account_info() -> dict[str, str]:
    return {
        "type": "service_account", "project_id": PROJECT, "private_key_id": "fake-key-1",
        "private_key": _private_key_pem(), "client_email": f"deployer@{PROJECT}.iam.gserviceaccount.com",
        "client_id": "1234567890", "token_uri": TOKEN_URI,
    }


def write_service_account_file(folder: Path) -> Path:
    path = folder / "service-account.json"
    path.write_text(json.dumps(service_account_info()))
    return path


def error_reply(status: str, message: str) -> Reply:
    http_status = STATUS_CODES[status][0]
    return json_reply(http_status, {"error": {"code": http_status, "message": message, "status": status}})


def operation(response_type: str | None, response: dict[str, Any] | None = None,
              error: tuple[str, str] | None = None) -> dict[str, Any]:
    """A finished long-running operation: its response (with its `@type`) or its error."""
    done: dict[str, Any] = {"name": f"projects/{PROJECT}/locations/us-central1/operations/{time.monotonic_ns()}",
                            "done": True}
    if error:
        done["error"] = {"code": STATUS_CODES[error[0]][1], "message": error[1]}
    else:
        done["response"] = {"@type": f"type.googleapis.com/{response_type}", **(response or {})}
    return done


class OAuth:
    """The token endpoint: a JWT-bearer grant gets FAKE_GOOGLE_TOKEN, or an ID token when it asks for an audience."""

    def __init__(self, recorder: Recorder):
        self.recorder = recorder
        self.id_tokens: list[str] = []

    def register(self, mock: responses.RequestsMock) -> None:
        mock.add_callback(responses.POST, TOKEN_URI, callback=self._token)

    def _token(self, request) -> Reply:
        form = parse_qs(request.body if isinstance(request.body, str) else request.body.decode())
        assertion = form["assertion"][0]
        claims = json.loads(base64.urlsafe_b64decode(assertion.split(".")[1] + "=="))
        if "target_audience" in claims:
            signer = crypt.RSASigner.from_service_account_info(service_account_info())
            now = int(time.time())
            token = jwt.encode(signer, {"aud": claims["target_audience"], "iat": now, "exp": now + 3600,
                                        "iss": "https://accounts.google.com", "sub": "1234567890"}).decode()
            self.id_tokens.append(token)
            return json_reply(200, {"id_token": token})
        return json_reply(200, {"access_token": FAKE_GOOGLE_TOKEN, "expires_in": 3600, "token_type": "Bearer"})


def bearer_tokens(recorder: Recorder) -> set[str]:
    """Every credential the SDKs sent (access tokens, self-signed JWTs): none may appear in the tool's output."""
    return {call.headers["Authorization"].removeprefix("Bearer ") for call in recorder.calls
            if call.headers.get("Authorization", "").startswith("Bearer ")}


def _authorized(call: Call) -> bool:
    """An access token from the token endpoint, or the self-signed JWT google-auth makes for a service account
    (signed with the service account's key, as Google verifies it)."""
    token = call.headers.get("Authorization", "").removeprefix("Bearer ")
    if token == FAKE_GOOGLE_TOKEN:
        return True
    try:
        claims = jwt.decode(token, certs=_public_key_pem(), verify=True)
    except ValueError:
        return False
    return claims.get("iss") == service_account_info()["client_email"]


class FakeVertex:
    """Vertex AI's v1 REST API for models, endpoints and predict, in one region. `failures` maps an operation
    (`upload`, `deployModel`, ...) to an HTTP error or an operation error; `predict` answers a predict body."""

    HOST = "us-central1-aiplatform.googleapis.com"

    def __init__(self, recorder: Recorder, predict: Callable[[bytes], tuple[int, Any]]):
        self.recorder = recorder
        self.predict = predict
        self.http_failures: dict[str, tuple[str, str]] = {}
        self.operation_failures: dict[str, tuple[str, str]] = {}
        self._ids = itertools.count(1000)
        self.parent = f"projects/{PROJECT}/locations/us-central1"

    def register(self, mock: responses.RequestsMock) -> None:
        self.recorder.serve(mock, self.HOST, self._handle)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [body for name, body in self.recorder.resources.items() if f"/{kind}/" in name]

    def _handle(self, call: Call) -> Reply:
        if not _authorized(call):
            return json_reply(401, {"error": {"code": 401, "message": "no token", "status": "UNAUTHENTICATED"}})
        path = call.path.removeprefix("/v1/")
        verb = path.rsplit(":", 1)[1] if ":" in path.rsplit("/", 1)[-1] else call.method
        if verb in self.http_failures:
            return error_reply(*self.http_failures.pop(verb))
        store = self.recorder.resources
        if verb == "upload":
            name = f"{self.parent}/models/{next(self._ids)}"
            store[name] = {**call.json["model"], "name": name}
            return self._operation("upload", "google.cloud.aiplatform.v1.UploadModelResponse", {"model": name})
        if call.method == "POST" and path.endswith("/endpoints"):
            name = f"{self.parent}/endpoints/{next(self._ids)}"
            store[name] = {**call.json, "name": name, "deployedModels": []}
            return self._operation("createEndpoint", "google.cloud.aiplatform.v1.Endpoint", store[name])
        if verb == "deployModel":
            endpoint = store[path.rsplit(":", 1)[0]]
            failure = self.operation_failures.pop("deployModel", None)
            if failure:
                return json_reply(200, operation(None, error=failure))
            deployed = {**call.json["deployedModel"], "id": str(next(self._ids))}
            endpoint["deployedModels"].append(deployed)
            endpoint["trafficSplit"] = {deployed["id"]: 100}
            return json_reply(200, operation("google.cloud.aiplatform.v1.DeployModelResponse",
                                             {"deployedModel": deployed}))
        if verb == "undeployModel":
            endpoint = store[path.rsplit(":", 1)[0]]
            endpoint["deployedModels"] = [d for d in endpoint["deployedModels"]
                                          if d["id"] != call.json["deployedModelId"]]
            return json_reply(200, operation("google.cloud.aiplatform.v1.UndeployModelResponse"))
        if verb == "predict":
            endpoint = store[path.rsplit(":", 1)[0]]
            if not endpoint["deployedModels"]:
                return error_reply("NOT_FOUND", "The endpoint has no deployed model.")
            status, body = self.predict(call.body)
            return json_reply(status, {**body, "deployedModelId": endpoint["deployedModels"][0]["id"]})
        if call.method == "GET" and path.endswith(("/endpoints", "/models")):
            kind = path.rsplit("/", 1)[1]
            wanted = re.fullmatch(r'display_name="(.*)"', call.query.get("filter", [""])[0])
            found = [body for body in self.of_kind(kind) if not wanted or body.get("displayName") == wanted[1]]
            return json_reply(200, {kind: found} if found else {})
        if path not in store:
            return error_reply("NOT_FOUND", f"{path} not found")
        if call.method == "GET":
            return json_reply(200, store[path])
        if call.method == "DELETE":
            if store[path].get("deployedModels"):
                return json_reply(400, {"error": {"code": 400, "status": "FAILED_PRECONDITION",
                                                  "message": "The endpoint has deployed models."}})
            del store[path]
            return json_reply(200, operation("google.protobuf.Empty"))
        return json_reply(400, {"error": {"code": 400, "message": f"unexpected {call.method} {path}"}})

    def _operation(self, verb: str, response_type: str, response: dict[str, Any]) -> Reply:
        failure = self.operation_failures.pop(verb, None)
        return json_reply(200, operation(None, error=failure) if failure else operation(response_type, response))


class FakeCloudRun:
    """Cloud Run Admin API v2 services, and each service's URL, which answers `POST /omni/feedback` through `serve`
    for a request carrying a valid ID token for that URL."""

    HOST = "run.googleapis.com"

    def __init__(self, recorder: Recorder, oauth: OAuth, serve: Callable[[Call], tuple[int, Any]]):
        self.recorder = recorder
        self.oauth = oauth
        self.serve_feedback = serve
        self.operation_failures: dict[str, tuple[str, str]] = {}
        self.http_failures: dict[str, tuple[str, str]] = {}

    def register(self, mock: responses.RequestsMock) -> None:
        self.recorder.serve(mock, self.HOST, self._admin)
        mock.add_callback(responses.POST, re.compile(r"https://[a-z0-9-]+\.a\.run\.app/.*"), callback=self._url)

    @staticmethod
    def uri(service_id: str) -> str:
        return f"https://{service_id}-abc123-uc.a.run.app"

    def _admin(self, call: Call) -> Reply:
        if not _authorized(call):
            return json_reply(401, {"error": {"code": 401, "message": "no token", "status": "UNAUTHENTICATED"}})
        path = call.path.removeprefix("/v2/")
        store = self.recorder.resources
        if call.method in self.http_failures:
            return error_reply(*self.http_failures.pop(call.method))
        if call.method == "POST" and path.endswith("/services"):
            service_id = call.query["serviceId"][0]
            name = f"{path}/{service_id}"
            store[name] = {**call.json, "name": name, "uri": self.uri(service_id), "urls": [self.uri(service_id)],
                           "terminalCondition": {"type": "Ready", "state": "CONDITION_SUCCEEDED"}}
            failure = self.operation_failures.pop("create", None)
            if failure:  # the service exists; its first revision did not become ready
                store[name]["terminalCondition"] = {"type": "Ready", "state": "CONDITION_FAILED",
                                                    "message": failure[1]}
                return json_reply(200, operation(None, error=failure))
            return json_reply(200, operation("google.cloud.run.v2.Service", store[name]))
        if path not in store:
            return error_reply("NOT_FOUND", f"Resource '{path.rsplit('/', 1)[-1]}' of kind 'SERVICE' does not exist.")
        if call.method == "GET":
            return json_reply(200, store[path])
        if call.method == "DELETE":
            return json_reply(200, operation("google.cloud.run.v2.Service", store.pop(path)))
        return json_reply(400, {"error": {"code": 400, "message": f"unexpected {call.method} {path}"}})

    def _url(self, request) -> Reply:
        call = self.recorder.record(request)
        base = f"https://{request.url.split('/')[2]}"
        service = next((s for s in self.recorder.resources.values() if s["uri"] == base), None)
        if service is None:
            return 404, {}, "not found"
        if not service.get("invokerIamDisabled"):
            token = call.headers.get("Authorization", "").removeprefix("Bearer ")
            if token not in self.oauth.id_tokens or jwt.decode(token, verify=False)["aud"] != base:
                return 403, {}, "Forbidden: the request needs an ID token for this service"
        status, body = self.serve_feedback(call)
        return json_reply(status, body)
