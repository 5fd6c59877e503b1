"""Photo pipeline benchmark (DESIGN §14): our pipeline vs the naive Pillow path, same run, same photo.

    python bench/photos.py [--runs 9] [--megapixels 12]

A 12 MP photo-like JPEG (gradients, shapes, sensor-like noise, EXIF with GPS and orientation) is
generated in memory. "Ours" = everything the upload check and the worker do: validation (sniff,
polyglot, limits, completeness), sha256, JPEG draft-mode decode, reduce-before-resize, orientation,
sRGB, stripped public copy <= 2048 px, two thumbnails, perceptual hash. "Naive" = full decode ->
``thumbnail((2048, 2048))`` -> save JPEG. Prints both medians, the ratio (budget: <= 0.40), the peak
RSS of a worker-like process running our pipeline (budget: <= 200 MB), and the thumbnail format
measurements (WebP vs JPEG: bytes and encode time).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from PIL import Image, ImageDraw

from backend.services.photos import imaging


def make_photo(megapixels: float = 12.0, seed: int = 1) -> bytes:
    """A 4:3 photo-like JPEG (quality 92, 4:2:0, EXIF orientation 6 + GPS) of about ``megapixels``."""
    height = int((megapixels * 1e6 * 3 / 4) ** 0.5)
    width = height * 4 // 3
    rng = np.random.default_rng(seed)
    yy, _xx = np.mgrid[0:height, 0:width].astype(np.float32)
    sky = np.stack([90 + 80 * yy / height, 140 + 60 * yy / height, 230 - 60 * yy / height], -1)
    im = Image.fromarray(sky.clip(0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(im)
    for _ in range(120):
        x, y = int(rng.integers(0, width)), int(rng.integers(height // 3, height))
        w, h = int(rng.integers(40, width // 6)), int(rng.integers(40, height // 5))
        draw.rectangle((x, y, x + w, y + h), fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    arr = np.asarray(im, dtype=np.int16) + rng.normal(0, 4, (height, width, 1)).astype(np.int16)
    im = Image.fromarray(arr.clip(0, 255).astype(np.uint8), "RGB")
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x8825] = {1: "N", 2: (21.0, 1.0, 42.6), 3: "E", 4: (105.0, 51.0, 15.1)}
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=92, exif=exif)
    return buf.getvalue()


def ours(data: bytes) -> imaging.Rendered:
    imaging.probe(data)
    hashlib.sha256(data).hexdigest()
    return imaging.render(data)


def naive(data: bytes) -> bytes:
    im = Image.open(io.BytesIO(data))
    im.load()
    im.thumbnail((2048, 2048))
    out = io.BytesIO()
    im.save(out, "JPEG")
    return out.getvalue()


def timed(fn, data: bytes, clock=time.perf_counter) -> float:
    started = clock()
    fn(data)
    return clock() - started


RSS_PROBE = """
import sys
sys.path.insert(0, {bench!r})
import photos as b

def hwm():  # VmHWM belongs to this process's address space (ru_maxrss would inherit the parent's)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

data = open({photo!r}, "rb").read()
base = hwm()
for _ in range({runs}):
    getattr(b, {which!r})(data)
print(base, hwm())
"""


def peak_rss_mb(which: str, photo: Path, runs: int) -> tuple[float, float]:
    """(after imports, peak) RSS in MB of a fresh process that imports the pipeline, then runs ``which``."""
    code = RSS_PROBE.format(bench=str(Path(__file__).parent), photo=str(photo), runs=runs, which=which)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    base, peak = (float(v) for v in out.stdout.strip().splitlines()[-1].split())
    return base, peak


def thumb_formats(data: bytes) -> dict[str, dict[str, float]]:
    """Bytes and encode time of the 640 and 160 px thumbnails as WebP (our settings) and JPEG."""
    public = Image.open(io.BytesIO(imaging.render(data).public))
    public.load()
    results: dict[str, dict[str, float]] = {}
    for size in imaging.THUMB_SIZES:
        thumb = imaging._fit(public, size, gap=imaging.THUMB_REDUCING_GAP)
        for fmt in ("WEBP", "JPEG"):
            times, blob = [], b""
            for _ in range(7):
                started = time.perf_counter()
                blob = imaging.save_clean(thumb, fmt, imaging.THUMB_QUALITY)
                times.append(time.perf_counter() - started)
            results[f"{fmt.lower()}-{size}"] = {"bytes": len(blob), "ms": round(statistics.median(times) * 1000, 2)}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--megapixels", type=float, default=12.0)
    parser.add_argument("--json", action="store_true", help="print one JSON line instead of text")
    args = parser.parse_args()

    data = make_photo(args.megapixels)
    size = Image.open(io.BytesIO(data)).size
    out = ours(data)
    assert max(out.width, out.height) <= 2048 and out.exif.lat is not None
    ours(data), naive(data)  # warm-up
    t_ours, t_naive, c_ours, c_naive = [], [], [], []
    for _ in range(args.runs):  # interleaved so both see the same machine state
        t_ours.append(timed(ours, data))
        t_naive.append(timed(naive, data))
        c_ours.append(timed(ours, data, time.process_time))
        c_naive.append(timed(naive, data, time.process_time))
    m_ours, m_naive = statistics.median(t_ours), statistics.median(t_naive)
    cpu_ratio = statistics.median(c_ours) / statistics.median(c_naive)
    ratio = m_ours / m_naive
    with tempfile.NamedTemporaryFile(suffix=".jpg") as tmp:
        tmp.write(data)
        tmp.flush()
        base_ours, rss_ours = peak_rss_mb("ours", Path(tmp.name), 3)
        _, rss_naive = peak_rss_mb("naive", Path(tmp.name), 3)
    thumbs = thumb_formats(data)
    result = {"photo": f"{size[0]}x{size[1]} JPEG, {len(data) / 1e6:.1f} MB", "runs": args.runs,
              "ours_median_ms": round(m_ours * 1000, 1), "naive_median_ms": round(m_naive * 1000, 1),
              "ratio": round(ratio, 3), "cpu_ratio": round(cpu_ratio, 3), "budget_ratio": 0.40,
              "within_budget": ratio <= 0.40, "public_copy": f"{out.width}x{out.height}",
              "peak_rss_worker_mb": round(rss_ours, 1), "peak_rss_naive_mb": round(rss_naive, 1),
              "rss_after_imports_mb": round(base_ours, 1), "rss_budget_mb": 200, "thumbnails": thumbs}
    if args.json:
        print(json.dumps(result))
        return
    print(f"photo: {result['photo']}, {args.runs} interleaved runs")
    print(f"ours  (validate + sha256 + draft decode + orient + public {result['public_copy']} + 2 thumbs + phash): "
          f"median {result['ours_median_ms']} ms")
    print(f"naive (full decode -> thumbnail((2048, 2048)) -> save): median {result['naive_median_ms']} ms")
    print(f"ratio ours/naive (wall): {ratio:.3f}  (budget <= 0.40: {'OK' if ratio <= 0.40 else 'OVER'}); "
          f"CPU-time ratio: {cpu_ratio:.3f}")
    print(f"peak RSS, worker process running our pipeline: {rss_ours:.1f} MB (after imports {base_ours:.1f} MB; "
          f"naive path: {rss_naive:.1f} MB; budget <= 200 MB)")
    print("thumbnails (bytes, encode ms):")
    for name, figures in thumbs.items():
        print(f"  {name:10s} {figures['bytes']:>8d} B  {figures['ms']:>6.2f} ms")


if __name__ == "__main__":
    main()
