"""Browser helpers for the web tests: a page probe capturing console errors, screenshots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


class PageProbe:
    """A browser context with console-error and CSP-violation capture."""

    def __init__(self, browser: Any, base: str) -> None:
        self.base = base
        self.context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="vi-VN",
                                           accept_downloads=True)
        self.context.set_default_timeout(10_000)
        self.errors: list[str] = []
        self.pages: list[Any] = []

    def new_page(self) -> Any:
        page = self.context.new_page()
        page.on("console", lambda msg: self.errors.append(f"console {msg.type}: {msg.text}")
                if msg.type == "error" else None)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        self.pages.append(page)
        return page

    def login(self, page: Any, who: str) -> None:
        from web_seed import PASSWORD

        page.goto(self.base + "/auth/login")
        page.get_by_label("E-mail").fill(f"{who}@demo.vn")
        page.get_by_label("Mật khẩu").fill(PASSWORD)
        page.get_by_role("button", name="Đăng nhập").click()
        page.wait_for_url("**/inbox**")

    def close(self) -> None:
        self.context.close()


def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path
