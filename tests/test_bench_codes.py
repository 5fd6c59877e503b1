"""The benchmark database uses the product's report codes: every generated code is one residents can type
back (``reports.normalize_code`` accepts it unchanged), so ``bench/report_page.py`` measures real pages."""

from __future__ import annotations

from backend.services.reports import normalize_code

from bench.generate import report_code


def test_generated_codes_are_product_codes_and_unique() -> None:
    codes = [report_code(rid) for rid in range(1, 50_001)] + [report_code(1_000_000)]
    assert all(normalize_code(code) == code for code in codes)
    assert len(set(codes)) == len(codes)
