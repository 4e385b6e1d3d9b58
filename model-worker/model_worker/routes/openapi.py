"""`GET /openapi.json`: the worker's OpenAPI 3.1 document, `model_worker/openapi.json` as the package ships it, with
the Vertex AI routes this worker serves added at their configured paths (`AIP_HEALTH_ROUTE`, `AIP_PREDICT_ROUTE`:
see routes/cloud.py) from the document's `components.pathItems` templates.

The tests check it against the app's routes and fuzz every operation from it (tests/worker/test_fuzz.py).
"""

from __future__ import annotations

import json
from importlib import resources

from flask import Blueprint, Response, current_app, jsonify

bp = Blueprint("openapi", __name__)
# Read once, at import: a package without its document fails at startup, not on the first request.
DOCUMENT = resources.files("model_worker").joinpath("openapi.json").read_bytes()
# The endpoint of each route registered at a configured path, and the template that describes it.
CONFIGURED_ROUTES = {"cloud.vertex_health": "VertexHealth", "cloud.vertex_predict": "VertexPredict"}


@bp.get("/openapi.json")
def openapi():
    configured = {rule.rule: CONFIGURED_ROUTES[rule.endpoint] for rule in current_app.url_map.iter_rules()
                  if rule.endpoint in CONFIGURED_ROUTES}
    if not configured:
        return Response(DOCUMENT, mimetype="application/json")
    document = json.loads(DOCUMENT)
    templates = document["components"]["pathItems"]
    document["paths"].update({path: templates[name] for path, name in sorted(configured.items())})
    return jsonify(document)
