"""The bundled demo city pack (synthetic data around Sóc Trăng): ``city.yaml`` + ``wards.geojson``.

Load it with ``phananh city load backend/demo/city.yaml`` or ``services.city.load_demo(session=...)``.
"""

from pathlib import Path

PACK = Path(__file__).resolve().parent / "city.yaml"
