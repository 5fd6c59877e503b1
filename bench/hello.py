"""The bare Flask "hello" app: the throughput reference of DESIGN §14 (same gunicorn settings as ours).

``gunicorn bench.hello:app``. ``POST /hello`` reads the (JSON) body and answers a small JSON object,
``GET /hello`` answers the same without a body: the cost of Flask + gunicorn alone.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, request

app = Flask("hello")


@app.route("/hello", methods=["GET", "POST"])
def hello() -> Any:
    request.get_data()
    return jsonify(status="ok")


@app.get("/healthz")
def healthz() -> Any:
    return jsonify(status="ok")
