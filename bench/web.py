"""The web app's first meaningful render and page weight on the demo stack, in headless Chromium.

Each run opens ``/`` in the same browser with the cache disabled (as a first visit) and reads the page's own
timing: navigation start → ``performance.mark("chargebus:ready")`` (the first render with live values from
``/ws``), ``domContentLoaded``, and the bytes transferred (gzip) for the page and everything it loaded.

    python -m bench.web --runs 20
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.stats import emit, summary_ms
from tests.e2e.stack import demo_stack, healthy, stack_config, wait_until
from tests.web.browser import Browser, available

TIMING = """
const nav = performance.getEntriesByType('navigation')[0];
const ready = performance.getEntriesByName('chargebus:ready')[0];
const entries = [nav, ...performance.getEntriesByType('resource')];
return {ready: ready ? ready.startTime : null, dcl: nav.domContentLoadedEventEnd,
        bytes: entries.reduce((n, e) => n + e.transferSize, 0),
        decoded: entries.reduce((n, e) => n + e.decodedBodySize, 0), files: entries.length};
"""


def _quiet(config: dict[str, Any]) -> None:
    config["log"] = {"level": "warning"}


def measure(browser: Browser, runs: int) -> dict[str, list[float]]:
    browser.driver.execute_cdp_cmd("Network.enable", {})
    browser.driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
    samples: dict[str, list[float]] = {"ready": [], "dcl": [], "bytes": [], "decoded": [], "files": []}
    for _ in range(runs):
        browser.open("/")
        browser.testid("loadpoint-1")
        deadline = time.monotonic() + 10
        timing = browser.js(TIMING)
        while timing["ready"] is None and time.monotonic() < deadline:
            timing = browser.js(TIMING)
        for key in samples:
            samples[key].append(float(timing[key]))
    return samples


async def main(runs: int) -> None:
    if not available():
        raise SystemExit(
            "needs /usr/bin/chromium and /usr/bin/chromedriver (apt-get install chromium chromium-driver)"
        )
    with tempfile.TemporaryDirectory() as tmp:
        async with demo_stack(Path(tmp), stack_config(_quiet)) as stack:
            async with httpx.AsyncClient(base_url=stack.base_url, timeout=5) as http:
                await wait_until(lambda: healthy(http), timeout=60)
            browser = Browser.start(stack.base_url)
            try:
                samples = measure(browser, runs)
            finally:
                browser.quit()
    emit(
        "web: first meaningful render (navigation → live values)",
        summary_ms([v / 1000 for v in samples["ready"]]),
    )
    emit("web: DOMContentLoaded", summary_ms([v / 1000 for v in samples["dcl"]]))
    emit(
        "web: page weight",
        {
            "transferred_kb": round(max(samples["bytes"]) / 1024, 1),
            "decoded_kb": round(max(samples["decoded"]) / 1024, 1),
            "files": int(max(samples["files"])),
        },
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    asyncio.run(main(parser.parse_args().runs))
