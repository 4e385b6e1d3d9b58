"""Azure's side of azure-identity and azure-ai-ml (both send through azure-core's RequestsTransport): Microsoft
Entra ID's OpenID configuration and token endpoint for a service principal, and Azure Resource Manager's
Machine Learning workspace resources with ARM's asynchronous operations (201/202 + Azure-AsyncOperation, polled to
Succeeded or Failed), its `{"error": {"code", "message"}}` errors, the endpoint keys, and the scoring URI."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import responses

from tests.deploy.cloud_support import FAKE_AZURE_TOKEN, FAKE_ENDPOINT_KEY
from tests.deploy.fake_http import Call, Recorder, Reply, json_reply

TENANT = "7f0c2d6e-0000-4000-8000-00000000a11e"
CLIENT = "3b9a1c55-0000-4000-8000-0000000c11e7"
SUBSCRIPTION = "5a1b2c3d-0000-4000-8000-00000000005b"
GROUP = "forms-rg"
WORKSPACE = "forms-ws"
LOCATION = "eastus"
CREATED_AT = "2026-11-21T10:00:00.000000Z"
LOGIN = "login.microsoftonline.com"
ARM = "management.azure.com"
WORKSPACE_PATH = (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}/providers/"
                  f"Microsoft.MachineLearningServices/workspaces/{WORKSPACE}")


def scoring_uri(endpoint: str) -> str:
    return f"https://{endpoint}.{LOCATION}.inference.ml.azure.com/score"


class FakeAzure:
    """`failures` maps `PUT deployments` / `PUT onlineEndpoints` to an error: (`http`, status, code, message) is
    answered at once; (`async`, code, message) fails the operation when polled, as ARM reports a failed deployment.
    `score(call)` answers a scoring request that carried the endpoint's key."""

    def __init__(self, recorder: Recorder, score: Callable[[Call], tuple[int, Any]]):
        self.recorder = recorder
        self.score = score
        self.failures: dict[str, tuple] = {}
        self.operations: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)

    def register(self, mock: responses.RequestsMock) -> None:
        self.recorder.serve(mock, LOGIN, self._login)
        self.recorder.serve(mock, ARM, self._arm)
        mock.add_callback(responses.POST, re.compile(r"https://[a-z0-9-]+\.eastus\.inference\.ml\.azure\.com/score"),
                          callback=self._scoring)

    def kinds(self) -> dict[str, list[str]]:
        """What the workspace holds, by kind (`onlineEndpoints`, `deployments`, `environments`)."""
        found: dict[str, list[str]] = {}
        for path in self.recorder.resources:
            kind = path.removeprefix(WORKSPACE_PATH.lower()).split("/")[-2]
            found.setdefault(kind, []).append(path)
        return found

    # -- Entra ID --------------------------------------------------------------------------------------------
    def _login(self, call: Call) -> Reply:
        base = f"https://{LOGIN}/{TENANT}"
        if call.path.endswith("/.well-known/openid-configuration"):
            return json_reply(200, {
                "token_endpoint": f"{base}/oauth2/v2.0/token", "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            })
        if call.method == "POST" and call.path == f"/{TENANT}/oauth2/v2.0/token":
            form = dict(item.split("=", 1) for item in call.body.decode().split("&"))
            if form.get("client_id") != CLIENT or "client_secret" not in form:
                return json_reply(401, {"error": "invalid_client", "error_description": "AADSTS7000215"})
            return json_reply(200, {"access_token": FAKE_AZURE_TOKEN, "expires_in": 3600, "token_type": "Bearer"})
        return json_reply(404, {"error": "not_found"})

    # -- Azure Resource Manager ------------------------------------------------------------------------------
    def _arm(self, call: Call) -> Reply:
        if call.headers.get("Authorization") != f"Bearer {FAKE_AZURE_TOKEN}":
            return self._error(401, "AuthenticationFailed", "Authentication failed.")
        path = call.path.lower()
        store = self.recorder.resources
        if path.startswith("/operations/"):
            return json_reply(200, self.operations[path])
        if path == WORKSPACE_PATH.lower():
            return json_reply(200, {"id": WORKSPACE_PATH, "name": WORKSPACE, "location": LOCATION,
                                    "type": "Microsoft.MachineLearningServices/workspaces", "properties": {}})
        kind = path.split("/")[-2]
        failure = self.failures.pop(f"{call.method} {kind}", None)
        if failure and failure[0] == "http":
            return self._error(*failure[1:])
        if call.method == "PUT":
            return self._put(call, path, kind, failure)
        if call.method == "POST" and path.endswith("/listkeys"):
            return json_reply(200, {"primaryKey": FAKE_ENDPOINT_KEY, "secondaryKey": FAKE_ENDPOINT_KEY[::-1]})
        if call.method == "GET" and path.endswith("/deployments"):
            prefix = path + "/"
            return json_reply(200, {"value": [body for name, body in store.items() if name.startswith(prefix)]})
        if path not in store:
            return self._error(404, "UserError", f"Resource {path.rsplit('/', 1)[-1]} not found.")
        if call.method == "GET":
            return json_reply(200, store[path])
        if call.method == "DELETE":
            for name in [name for name in store if name == path or name.startswith(path + "/")]:
                del store[name]  # an endpoint takes its deployments with it
            return self._accepted(202, None, {"status": "Succeeded"})
        return self._error(400, "BadRequest", f"unexpected {call.method} {path}")

    def _put(self, call: Call, path: str, kind: str, failure: tuple | None) -> Reply:
        body = call.json
        properties = {**body.get("properties", {}), "provisioningState": "Succeeded"}
        name = call.path.rsplit("/", 1)[1]
        if kind == "onlineendpoints":
            properties.update(scoringUri=scoring_uri(name), swaggerUri=None)
        if kind == "deployments":
            properties.setdefault("scaleSettings", {"scaleType": "Default"})
            properties.setdefault("endpointComputeType", "Managed")
        resource = {**body, "id": call.path, "name": name, "properties": properties,
                    "systemData": {"createdAt": CREATED_AT, "createdBy": CLIENT, "createdByType": "Application",
                                   "lastModifiedAt": CREATED_AT, "lastModifiedBy": CLIENT,
                                   "lastModifiedByType": "Application"}}
        if failure:  # ARM accepted the request; the operation fails (the resource is left in the Failed state)
            resource["properties"]["provisioningState"] = "Failed"
            self.recorder.resources[path] = resource
            return self._accepted(201, resource, {"status": "Failed", "error": {"code": failure[1],
                                                                                 "message": failure[2]}})
        self.recorder.resources[path] = resource
        if kind == "versions":  # assets are created synchronously
            return json_reply(201, resource)
        return self._accepted(201, resource, {"status": "Succeeded"})

    def _accepted(self, status: int, body: dict | None, outcome: dict[str, Any]) -> Reply:
        operation = f"/operations/{next(self._ids)}"
        self.operations[operation] = outcome
        url = f"https://{ARM}{operation}?api-version=2023-04-01-preview"
        headers = {"Azure-AsyncOperation": url, "Location": url, "Retry-After": "0"}
        return json_reply(status, body or {}, headers) if body else (status, headers, "")

    @staticmethod
    def _error(status: int, code: str, message: str) -> Reply:
        return json_reply(status, {"error": {"code": code, "message": message}})

    # -- scoring -----------------------------------------------------------------------------------------------
    def _scoring(self, request) -> Reply:
        call = self.recorder.record(request)
        host = urlsplit(call.url).hostname or ""
        endpoint = self.recorder.resources.get(f"{WORKSPACE_PATH.lower()}/onlineendpoints/{host.split('.')[0]}")
        if endpoint is None:
            return 404, {}, "no such endpoint"
        if call.headers.get("Authorization") != f"Bearer {FAKE_ENDPOINT_KEY}":
            return 401, {}, "key_auth_access_denied"
        status, body = self.score(call)
        return status, {"Content-Type": "application/json"}, json.dumps(body)
