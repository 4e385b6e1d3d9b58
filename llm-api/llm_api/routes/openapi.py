"""`GET /openapi.json`: the llm-api's OpenAPI 3.1 document, `llm_api/openapi.json` as the package ships it.

Public like `/healthz` (`app.PUBLIC_PATHS`): it describes the API (docs/api.md in machine-readable form) and holds
no data. The tests check it against the app's routes and fuzz every operation from it (tests/llm_api/test_fuzz.py).
"""

from __future__ import annotations

from importlib import resources

from flask import Blueprint, Response

bp = Blueprint("openapi", __name__)
# Read once, at import: a package without its document fails at startup, not on the first request.
DOCUMENT = resources.files("llm_api").joinpath("openapi.json").read_bytes()


@bp.get("/openapi.json")
def openapi():
    return Response(DOCUMENT, mimetype="application/json")
