"""A loopback base-map tile server: ``GET /tiles/<z>/<x>/<y>.png`` answers a 256×256 PNG (a light
"map" with a grid and the tile's z/x/y drawn on it), so browser screenshots show real tiles without
the internet. ``requests`` records the tiles asked for; ``url_template`` is the ``TILE_URL`` to set.
"""

from __future__ import annotations

import functools
import io
import threading
from typing import Any

from flask import Flask, Response
from PIL import Image, ImageDraw
from werkzeug.serving import make_server


@functools.lru_cache(maxsize=512)
def tile_png(z: int, x: int, y: int) -> bytes:
    """A recognisable tile: pale green land, a blue "river" band, grid lines and its coordinates."""
    img = Image.new("RGB", (256, 256), (232, 240, 226))
    draw = ImageDraw.Draw(img)
    if (x + y) % 3 == 0:
        draw.rectangle((0, 110, 255, 140), fill=(170, 205, 235))
    for i in range(0, 256, 64):
        draw.line((i, 0, i, 255), fill=(205, 210, 200))
        draw.line((0, i, 255, i), fill=(205, 210, 200))
    draw.rectangle((0, 0, 255, 255), outline=(150, 160, 150))
    draw.text((8, 8), f"{z}/{x}/{y}", fill=(60, 70, 60))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


class FakeTiles:
    """``with FakeTiles() as tiles:`` a running tile server on 127.0.0.1 (a free port)."""

    def __init__(self) -> None:
        self.requests: list[tuple[int, int, int]] = []
        app = Flask("fake-tiles")

        @app.get("/tiles/<int:z>/<int:x>/<int:y>.png")
        def tile(z: int, x: int, y: int) -> Any:
            self.requests.append((z, x, y))
            return Response(tile_png(z, x, y), mimetype="image/png",
                            headers={"Cache-Control": "max-age=3600", "Access-Control-Allow-Origin": "*"})

        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.origin = f"http://127.0.0.1:{self._server.server_port}"
        self.url_template = self.origin + "/tiles/{z}/{x}/{y}.png"

    def __enter__(self) -> FakeTiles:
        self._thread.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self._server.shutdown()
        self._thread.join(5)
