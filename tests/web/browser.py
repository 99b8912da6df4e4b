"""Headless Debian Chromium driven by selenium/chromedriver, with what the UI tests check besides the page:
every network request the page made (from the DevTools performance log), console errors, screenshots."""

from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver as ChromeDriver
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# Flags this machine needs (docs: the machine's notes): no sandbox as root, no GPU, and nothing Chromium would
# fetch on its own (updates, sync, field trials) — the tests assert that the page alone makes requests.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--disable-extensions",
    "--lang=en-US",
)
SCREENSHOTS_ENV = "CHARGEBUS_UI_SCREENSHOTS"
SCREENSHOT_DIR = Path(__file__).parents[2] / "docs" / "ui"
DESKTOP = (1280, 900)
MOBILE = (390, 844)

T = TypeVar("T")


def available() -> bool:
    return Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()


@dataclass
class Request:
    url: str
    method: str
    status: int | None = None
    kind: str = ""
    expected_failure: bool = False
    """a 4xx/5xx a test provoked on purpose"""


@dataclass
class Browser:
    driver: ChromeDriver
    base_url: str
    profile: str
    requests: dict[str, Request] = field(default_factory=dict)
    console_errors: list[str] = field(default_factory=list)

    # --- lifecycle ------------------------------------------------------------------------------------

    @classmethod
    def start(cls, base_url: str) -> Browser:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in FLAGS:
            options.add_argument(flag)
        profile = tempfile.mkdtemp(prefix="chargebus-chromium-")
        options.add_argument(f"--user-data-dir={profile}")
        options.add_argument(f"--window-size={DESKTOP[0]},{DESKTOP[1]}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
        driver.set_page_load_timeout(20)
        return cls(driver, base_url, profile)

    def quit(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

    # --- navigation and waiting -----------------------------------------------------------------------

    def open(self, path: str) -> None:
        self.driver.get(self.base_url + path)

    def wait(self, condition: Callable[[WebDriver], T], timeout: float = 20.0) -> T:
        self.collect()
        result: T = WebDriverWait(self.driver, timeout, poll_frequency=0.05).until(condition)
        return result

    def find(self, css: str, timeout: float = 20.0) -> WebElement:
        def visible(driver: WebDriver) -> WebElement | None:
            for element in driver.find_elements("css selector", css):
                if element.is_displayed():
                    return element
            return None

        found = self.wait(visible, timeout)
        assert found is not None
        return found

    def testid(self, name: str, timeout: float = 20.0) -> WebElement:
        return self.find(f'[data-testid="{name}"]', timeout)

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def set_input(self, element: WebElement, value: str) -> None:
        """Type into inputs selenium cannot type into (datetime-local): set the value, fire input/change."""
        self.js(
            "const [el, v] = arguments; el.value = v;"
            "el.dispatchEvent(new Event('input', {bubbles: true}));"
            "el.dispatchEvent(new Event('change', {bubbles: true}));",
            element,
            value,
        )

    # --- what the page did -----------------------------------------------------------------------------

    def _log(self, kind: str) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = self.driver.get_log(kind)  # type: ignore[no-untyped-call]
        return entries

    def collect(self) -> None:
        """Drain the DevTools and console logs into ``requests`` / ``console_errors``."""
        for entry in self._log("performance"):
            message = json.loads(entry["message"])["message"]
            params = message.get("params", {})
            method = message.get("method", "")
            if method == "Network.requestWillBeSent":
                request = params["request"]
                self.requests[params["requestId"]] = Request(
                    request["url"], request["method"], kind=params.get("type", "")
                )
            elif method == "Network.webSocketCreated":
                self.requests[params["requestId"]] = Request(params["url"], "GET", kind="WebSocket")
            elif method == "Network.responseReceived" and params["requestId"] in self.requests:
                self.requests[params["requestId"]].status = params["response"]["status"]
        for entry in self._log("browser"):
            if entry["level"] == "SEVERE":
                self.console_errors.append(f"{entry.get('source', '')}: {entry['message']}")

    def expect_failures(self, status: int, *paths: str) -> None:
        """Mark the ``status`` answers to ``paths`` so far as provoked on purpose."""
        self.collect()
        for request in self.requests.values():
            if request.status == status and urlsplit(request.url).path in paths:
                request.expected_failure = True

    # --- screenshots -------------------------------------------------------------------------------------

    def emulate(self, size: tuple[int, int], mobile: bool = False) -> None:
        width, height = size
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
        )

    def screenshot(self, name: str, size: tuple[int, int] = DESKTOP, mobile: bool = False) -> None:
        """The whole page as ``docs/ui/<name>.png`` when CHARGEBUS_UI_SCREENSHOTS=1 (docs/ui.md)."""
        if os.environ.get(SCREENSHOTS_ENV) != "1":
            return
        self.js("document.activeElement && document.activeElement.blur && document.activeElement.blur()")
        height = int(self.js("return Math.ceil(document.documentElement.scrollHeight)"))
        self.emulate((size[0], max(size[1], min(height, 4000))), mobile)
        self.js("return new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
        shot = self.driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        (SCREENSHOT_DIR / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))
        self.emulate(size, mobile)
