"""The web app in a real browser on the demo stack: it renders fast and light, every control reaches the REST
API (mode, limit, plan, battery settings, sessions), it speaks German, and it loads nothing from elsewhere.

The tests share one stack and one browser and run in file order (the mode test produces the session the
sessions test lists). Set CHARGEBUS_UI_SCREENSHOTS=1 to refresh the screenshots in docs/ui/.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import pytest
from selenium.webdriver.common.keys import Keys

from tests.e2e.stack import Stack, api_result
from tests.web.browser import MOBILE, Browser
from tests.web.conftest import ADMIN_PASSWORD

pytestmark = pytest.mark.e2e
T = TypeVar("T")
PAGE_BUDGET_BYTES = 300 * 1024
RENDER_BUDGET_MS = 2500
"""The target is 1 s (bench/web_render.py measures it); the test allows for a loaded CI machine."""


def poll(check: Callable[[], T | None], timeout: float = 20.0, what: str = "condition") -> T:
    """Wait for another process's observable state (REST) to become what the UI asked for."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def state(api: httpx.Client) -> dict[str, Any]:
    """/api/state, or {} while the gateway answers 503 (its tree not complete yet, e.g. after a restart)."""
    response = api.get("/api/state")
    return dict(api_result(response)) if response.status_code == 200 else {}


def loadpoint(api: httpx.Client) -> dict[str, Any]:
    loadpoints = state(api).get("loadpoints") or [{}]
    return dict(loadpoints[0])


def test_home_renders_fast_and_light(browser: Browser) -> None:
    browser.open("/")
    browser.testid("loadpoint-1")
    browser.testid("energyflow")
    assert "Garage" in browser.testid("loadpoint-1").text
    assert browser.testid("connection").get_attribute("data-status") == "live"
    timing = browser.js(
        "const nav = performance.getEntriesByType('navigation')[0];"
        "const ready = performance.getEntriesByName('chargebus:ready')[0];"
        "const entries = [nav, ...performance.getEntriesByType('resource')];"
        "const bytes = entries.reduce((n, e) => n + e.transferSize, 0);"
        "return {ready: ready && ready.startTime, bytes};"
    )
    print(f"first meaningful render {timing['ready']:.0f} ms, {timing['bytes'] / 1024:.1f} KB transferred")
    assert timing["ready"] is not None and timing["ready"] <= RENDER_BUDGET_MS
    assert 0 < timing["bytes"] <= PAGE_BUDGET_BYTES
    flow = browser.testid("energyflow").get_attribute("innerHTML") or ""
    assert "Solar" in flow and "Grid" in flow and "House" in flow and "Battery" in flow
    browser.screenshot("home-desktop")


def test_a_protected_setter_asks_for_the_admin_login(browser: Browser, api: httpx.Client) -> None:
    browser.open("/")
    browser.find('[data-testid="mode-1"] button[data-value="minpv"]').click()
    browser.testid("login")  # the setter answered 401: evcc's login flow, then the same request again
    browser.testid("login-password").send_keys("wrong")
    browser.testid("login-submit").click()
    browser.wait(lambda _d: "Invalid password" in browser.testid("login").text)
    field = browser.testid("login-password")
    # select and overwrite as a user would: clear() fires no input event, and the next live re-render
    # would put the old text back
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(ADMIN_PASSWORD, Keys.ENTER)
    poll(lambda: loadpoint(api).get("mode") == "minpv", what="mode minpv after the login")
    assert not browser.driver.find_elements("css selector", '[data-testid="login"]')
    browser.expect_failures(401, "/api/loadpoints/1/mode/minpv", "/api/auth/login")


def test_every_mode_button_changes_the_state(browser: Browser, api: httpx.Client) -> None:
    browser.open("/")
    for mode in ("now", "minpv", "pv", "off", "now"):
        selector = f'[data-testid="mode-1"] button[data-value="{mode}"]'
        browser.find(selector).click()

        def in_state(wanted: str = mode) -> bool:
            return bool(loadpoint(api).get("mode") == wanted)

        def pressed(_driver: object, css: str = selector) -> bool:
            return browser.find(css).get_attribute("aria-pressed") == "true"

        poll(in_state, what=f"mode {mode} in /api/state")
        browser.wait(pressed)
    # Fast mode: the car charges a few simulated minutes; Off ends the charge and the session is written
    poll(lambda: loadpoint(api).get("chargePower", 0) > 5000, timeout=30, what="fast charging")
    poll(lambda: loadpoint(api).get("sessionEnergy", 0) > 300, timeout=30, what="session energy")
    reasons = browser.testid("reasons-1").text
    assert "Fast" in reasons, reasons
    browser.find('[data-testid="mode-1"] button[data-value="off"]').click()
    poll(lambda: loadpoint(api).get("mode") == "off", what="mode off")
    browser.wait(lambda _d: "switched off" in browser.testid("reasons-1").text)


def test_limit_slider_sets_limit_soc_by_keyboard(
    browser: Browser, api: httpx.Client, ui_stack: Stack
) -> None:
    slider = browser.testid("limit-soc-1")
    start = int(slider.get_attribute("value") or 0)
    slider.send_keys(Keys.ARROW_LEFT, Keys.ARROW_LEFT)
    poll(lambda: loadpoint(api).get("limitSoc") == start - 10, what=f"limitSoc {start - 10}")
    browser.wait(lambda _d: slider.get_attribute("value") == str(start - 10))
    slider.send_keys(Keys.ARROW_RIGHT)
    control = slider.find_element("xpath", "ancestor::div[contains(@class, 'control')]")
    try:
        poll(lambda: loadpoint(api).get("limitSoc") == start - 5, what=f"limitSoc {start - 5}")
    except AssertionError as error:
        shown = slider.get_attribute("value")
        browser.collect()
        posted = [
            (r.url.rsplit("/", 1)[-1], r.status) for r in browser.requests.values() if "limitsoc" in r.url
        ]
        keys = ("limitSoc", "effectiveLimitSoc", "connected", "vehicleName", "chargerStatusReason")
        lp = {key: loadpoint(api).get(key) for key in keys}
        log = (ui_stack.data_dir.parent / "demo.log").read_text(errors="replace").splitlines()
        said = [line for line in log if "limit" in line.lower() or "connected" in line or "vehicle" in line]
        raise AssertionError(
            f"{error}; the slider shows {shown}, its control says {control.text!r}; the page posted {posted};"
            f" the loadpoint: {lp}; the demo said: {said[-15:]}"
        ) from None


def _plan_target(api: httpx.Client) -> datetime:
    """Tomorrow 07:00, or earlier where the known prices end: beyond them the planner (as evcc's) leaves
    the goal to the unknown hours and plans nothing, and the demo publishes tomorrow's prices only from
    13:00 — so a fixed target would make this test depend on the time of day."""
    wanted = (datetime.now() + timedelta(days=1)).replace(hour=7, minute=0, second=0, microsecond=0)
    rates = api_result(api.get("/api/tariff/planner"))["rates"]
    known_until = datetime.fromisoformat(rates[-1]["end"].replace("Z", "+00:00")).astimezone()
    known_until = known_until.replace(tzinfo=None, second=0, microsecond=0)
    if known_until - datetime.now() < timedelta(minutes=30):
        # the last half hour of a day: a goal an hour away needs more than the hour beyond the prices
        return (datetime.now() + timedelta(hours=1)).replace(second=0, microsecond=0)
    return min(wanted, known_until)


def test_a_plan_saved_in_the_ui_reaches_the_planner(browser: Browser, api: httpx.Client) -> None:
    assert (api.post("/api/loadpoints/1/mode/pv")).status_code == 200
    browser.testid("plan-open-1").click()
    dialog = browser.testid("plan-dialog-1")
    target = _plan_target(api)
    browser.set_input(browser.testid("plan-time"), target.strftime("%Y-%m-%dT%H:%M"))
    soc = browser.testid("plan-soc")
    soc.send_keys("80")
    facts = browser.testid("plan-preview-facts")  # the planner's preview, before anything is saved
    assert "Charging time" in facts.text
    browser.screenshot("plan-desktop")
    browser.testid("plan-save").click()

    def saved() -> dict[str, Any] | None:
        plan = api_result(api.get("/api/loadpoints/1/plan"))
        when = plan.get("planTime") if isinstance(plan, dict) else None
        if when and datetime.fromisoformat(when.replace("Z", "+00:00")) == target.astimezone():
            return dict(plan)
        return None

    plan = poll(saved, what="the plan in /api/loadpoints/1/plan")
    assert plan["plan"], "the planner chose slots for the saved goal"
    browser.wait(lambda _d: "80 %" in browser.testid("plan-summary-1").text)
    dialog.find_element("css selector", "button.icon-button").click()


def test_repeating_plans_and_errors_next_to_the_control(browser: Browser, api: httpx.Client) -> None:
    browser.testid("plan-open-1").click()
    browser.testid("tab-repeating").click()
    browser.testid("repeating-add").click()
    browser.testid("repeating-save").click()

    def weekly() -> list[dict[str, Any]]:
        vehicle = state(api).get("vehicles", {}).get("ev", {})
        return list(vehicle.get("repeatingPlans") or [])

    plans = poll(weekly, what="a repeating plan on the vehicle")
    assert plans[0]["weekdays"] == [1, 2, 3, 4, 5] and plans[0]["time"] == "07:00" and plans[0]["soc"] == 80
    browser.testid("plan-dialog-1").find_element("css selector", "button.icon-button").click()

    # a value the API refuses: its message appears right below the field that sent it
    browser.testid("settings-1").find_element("css selector", "summary").click()
    field = browser.testid("max-current-1")
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys("-5", Keys.ENTER)
    control = field.find_element("xpath", "ancestor::div[contains(@class, 'control')]")
    browser.wait(lambda _d: "invalid" in control.text)
    assert loadpoint(api).get("maxCurrent") == 16
    browser.expect_failures(400, "/api/loadpoints/1/maxcurrent/-5")


def test_the_sessions_view_lists_the_session_the_stack_produced(browser: Browser, api: httpx.Client) -> None:
    sessions = poll(
        lambda: api_result(api.get("/api/sessions")), timeout=20, what="a session in /api/sessions"
    )
    session = sessions[0]
    browser.testid("nav-sessions").click()
    row = browser.find(f'tr[data-session="{session["id"]}"]')
    assert "Garage" in row.text and "Demo EV" in row.text
    assert browser.testid("total-energy").text.endswith("Wh")
    csv = api.get(browser.testid("csv-de").get_attribute("href") or "")
    assert csv.status_code == 200 and "Ladepunkt" in csv.text  # the German export
    browser.screenshot("sessions-desktop")

    browser.testid(f"session-edit-{session['id']}").click()
    field = browser.testid("session-vehicle-input")
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys("Guest Tesla")
    browser.testid("session-vehicle-save").click()

    def by_id() -> dict[str, Any]:
        return next(s for s in api_result(api.get("/api/sessions")) if s["id"] == session["id"])

    poll(lambda: by_id()["vehicle"] == "Guest Tesla", what="edited vehicle")
    browser.wait(lambda _d: "Guest Tesla" in browser.find(f'tr[data-session="{session["id"]}"]').text)

    browser.testid(f"session-delete-{session['id']}").click()
    browser.testid("session-delete-confirm").click()
    poll(
        lambda: all(s["id"] != session["id"] for s in api_result(api.get("/api/sessions"))),
        what="deleted session",
    )
    browser.wait(
        lambda _d: not browser.driver.find_elements("css selector", f'tr[data-session="{session["id"]}"]')
    )


def test_prices_and_battery_settings(browser: Browser, api: httpx.Client) -> None:
    browser.testid("nav-prices").click()
    browser.testid("price-chart")
    bars = browser.driver.find_elements("css selector", '[data-testid="price-chart"] rect.bar')
    assert len(bars) > 40  # 15-minute slots of the demo's day-ahead curve
    bars[len(bars) // 2].click()  # a click offers that slot's price as the limit
    browser.testid("smart-cost-save").click()
    poll(lambda: loadpoint(api).get("smartCostLimit") is not None, what="smartCostLimit")
    browser.testid("limit-line")
    browser.screenshot("prices-desktop")
    browser.testid("smart-cost-remove").click()
    poll(lambda: loadpoint(api).get("smartCostLimit") is None, what="smartCostLimit removed")

    browser.testid("nav-settings").click()
    slider = browser.testid("priority-soc")
    slider.send_keys(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
    poll(lambda: state(api).get("prioritySoc") == 10, what="prioritySoc 10")
    field = browser.testid("grid-export-limit")
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys("4000", Keys.ENTER)
    poll(lambda: state(api).get("gridExportLimit") == 4000, what="gridExportLimit 4000")
    browser.testid("discharge-control").click()
    poll(lambda: state(api).get("batteryDischargeControl") is True, what="discharge control")
    browser.screenshot("settings-desktop")


def test_why_texts_from_evcc_keys(browser: Browser) -> None:
    """The status derivation (static/app/status.js) for states the demo does not reach by itself."""
    results = browser.driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        import('/assets/app/status.js').then(({ reasons, chargerStatus }) => {
          const now = new Date('2026-06-01T12:00:00');
          const base = { connected: true, enabled: false, charging: false, mode: 'pv' };
          const text = (lp, site = {}) =>
            reasons({ ...base, ...lp }, { currency: 'EUR', ...site }, now).map((r) => r.text);
          done({
            pvTimer: text({ pvAction: 'enable', pvRemaining: 23 }),
            cheap: text({ smartCostActive: true, smartCostLimit: 0.2, charging: true }, { tariffGrid: 0.18 }),
            plan: text({ planActive: true, effectivePlanSoc: 80, effectivePlanTime: '2026-06-02T07:00:00' }),
            offline: text({ chargerError: 'modbus: connection refused' }),
            offlineHeadline: chargerStatus({ ...base, chargerError: 'x' }).text,
          });
        });
        """
    )
    assert "Waiting for surplus — starts in 23 s." in results["pvTimer"]
    assert "Cheap grid price 18 ct/kWh below the limit of 20 ct/kWh." in results["cheap"]
    assert "Plan: 80 % by tomorrow 07:00 AM — charging now." in results["plan"]
    assert any("Charger offline" in r and "connection refused" in r for r in results["offline"])
    assert results["offlineHeadline"] == "Charger problem"


def test_chart_draws_co2_solar_and_plan_slots(browser: Browser) -> None:
    """The price chart with series the demo has no provider for (CO2, solar forecast), drawn off-screen."""
    drawn = browser.driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        Promise.all([import('/assets/app/ui.js'), import('/assets/app/chart.js')]).then(([ui, chart]) => {
          const from = Date.parse('2026-06-01T00:00:00Z') / 1000;
          const slot = (i, v) => [from + i * 900, from + (i + 1) * 900, v];
          const site = { forecast: {
            grid: Array.from({ length: 96 }, (_, i) => slot(i, 0.2 + (i % 24) / 100)),
            co2: Array.from({ length: 96 }, (_, i) => slot(i, 300 + i)),
            solar: {
              timeseries: Array.from({ length: 25 }, (_, h) => [from + h * 3600, h > 6 && h < 20 ? 5e3 : 0]),
            },
          } };
          const root = document.createElement('div');
          root.style.width = '800px';
          document.body.append(root);
          const planned = [{ start: (from + 7200) * 1000, end: (from + 9000) * 1000 }];
          ui.render(ui.html`<${chart.PriceChart} forecast=${chart.forecastOf(site)} from=${from * 1000}
            to=${(from + 86400) * 1000} planned=${planned} limit=${0.25} currency="EUR" />`, root);
          requestAnimationFrame(() => {
            const q = (css) => root.querySelectorAll(css).length;
            done({ bars: q('rect.bar'), planned: q('rect.bar.planned'), cheap: q('rect.bar.cheap'),
                   co2: q('.co2-line'), solar: q('.solar-area'), limit: q('.limit-line') });
            root.remove();
          });
        });
        """
    )
    assert drawn == {"bars": 96, "planned": 2, "cheap": 24, "co2": 1, "solar": 1, "limit": 1}


def test_german_dark_and_mobile(browser: Browser) -> None:
    browser.testid("nav-settings").click()
    browser.testid("pref-language").send_keys("Deutsch")
    browser.wait(lambda _d: browser.testid("nav-home").text == "Übersicht")
    browser.testid("pref-theme").send_keys("Dark")  # option texts are now German: pick by value
    browser.js(
        "const s = document.querySelector('[data-testid=pref-theme]'); s.value = 'dark';"
        "s.dispatchEvent(new Event('change', {bubbles: true}));"
    )
    browser.wait(lambda _d: browser.js("return document.documentElement.dataset.theme") == "dark")
    assert browser.js("return document.documentElement.lang") == "de"
    browser.testid("nav-home").click()
    browser.wait(lambda _d: "Lademodus" in (browser.testid("mode-1").get_attribute("aria-label") or ""))
    browser.screenshot("home-mobile-dark-de", MOBILE, mobile=True)
    browser.js(
        "localStorage.setItem('chargebus.theme', 'light'); localStorage.setItem('chargebus.lang', 'en');"
    )
    browser.open("/")
    browser.testid("loadpoint-1")
    browser.screenshot("home-mobile", MOBILE, mobile=True)
    browser.testid("nav-sessions").click()
    browser.testid("view-sessions")
    browser.screenshot("sessions-mobile", MOBILE, mobile=True)
    browser.emulate((1280, 900))


def _gateway_child(stack: Stack) -> int:
    """The pid of the demo's gateway process (a child of the demo supervisor this test session started)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == stack.proc.pid and b"gateway" in cmdline:
            return int(entry.name)
    raise AssertionError("no gateway child process found")


def test_offline_is_visible_and_the_page_reconnects(browser: Browser, ui_stack: Stack) -> None:
    browser.open("/")
    browser.wait(lambda _d: browser.testid("connection").get_attribute("data-status") == "live")
    browser.collect()
    before = len(browser.console_errors)
    os.kill(_gateway_child(ui_stack), signal.SIGTERM)  # the demo supervisor starts a new one
    banner = browser.testid("offline-banner", timeout=10)
    assert "out of date" in banner.text
    assert browser.testid("connection").get_attribute("data-status") in ("offline", "reconnecting")
    browser.wait(lambda _d: browser.testid("connection").get_attribute("data-status") == "live", timeout=40)
    assert not browser.driver.find_elements("css selector", '[data-testid="offline-banner"]')
    browser.collect()
    # while the gateway was away the browser logged its refused websocket attempts; nothing else
    during = browser.console_errors[before:]
    assert all("WebSocket connection" in e for e in during), during
    del browser.console_errors[before:]


def test_api_docs_work_offline(browser: Browser) -> None:
    browser.open("/docs")
    browser.find(".swagger-ui .info .title")
    browser.find(".opblock-tag", timeout=20)
    browser.open("/redoc")
    browser.find("redoc h1, .api-content h1", timeout=30)


def test_nothing_left_the_origin_and_no_console_errors(browser: Browser, ui_stack: Stack) -> None:
    browser.collect()
    origin = urlsplit(ui_stack.base_url).netloc
    requested = list(browser.requests.values())
    assert any(r.kind == "WebSocket" for r in requested)
    network = [r for r in requested if urlsplit(r.url).scheme in ("http", "https", "ws", "wss")]
    assert len(network) > 20  # the page, its modules, the API calls, /docs, /redoc
    foreign = [r.url for r in network if urlsplit(r.url).netloc != origin]
    assert foreign == [], foreign
    # only the 401s the login test provoked may have failed
    failed = [
        f"{r.method} {r.url} → {r.status}"
        for r in network
        if r.status is not None and r.status >= 400 and not r.expected_failure
    ]
    assert failed == [], failed
    provoked = [r.url for r in network if r.expected_failure]
    errors = [e for e in browser.console_errors if not any(url in e for url in provoked)]
    assert errors == [], errors
