// The app: header with navigation and the connection state, the four views (hash routes as evcc's UI),
// the admin login when a protected call needs it, notifications from the server's log messages.
import { html, render, useState, useEffect, useCallback, useTicker } from "./ui.js";
import { t, onLangChange, getLang } from "./i18n.js";
import { connect, connection, getState, subscribe, loadpointsOf } from "./store.js";
import { onLoginRequired } from "./api.js";
import { EnergyFlow, SiteSummary } from "./flow.js";
import { LoadpointCard } from "./loadpoint.js";
import { PricesView } from "./prices.js";
import { SessionsView } from "./sessions.js";
import { SettingsView, LoginDialog } from "./settings.js";

const ROUTES = ["", "prices", "sessions", "settings"];
const THEME_KEY = "chargebus.theme";

function route() {
  const name = location.hash.replace(/^#\/?/, "").split("?")[0];
  return ROUTES.includes(name) ? name : "";
}

function applyTheme(theme) {
  if (theme === "auto") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
}

function ConnectionBadge() {
  useTicker(1000);
  const { status, retryAt } = connection;
  const seconds = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
  const text =
    status === "live"
      ? t("conn.live")
      : status === "offline"
        ? seconds > 0
          ? t("conn.offlineRetry", { s: seconds })
          : t("conn.reconnecting")
        : t(`conn.${status}`);
  return html`<span class=${`conn conn-${status}`} role="status" data-testid="connection" data-status=${status}>
    <span class="dot" aria-hidden="true"></span>${text}</span>`;
}

function OfflineBanner() {
  if (connection.status === "live" || connection.status === "connecting") return null;
  return html`<div class="banner" role="alert" data-testid="offline-banner">
    <span>${t("conn.banner")}</span>
    <button type="button" class="secondary small" onClick=${connect}>${t("conn.retryNow")}</button>
  </div>`;
}

function Notifications() {
  const [items, setItems] = useState([]);
  useEffect(() => {
    const onLog = (event) => {
      const entry = event.detail || {};
      const message = typeof entry === "string" ? entry : entry.message || entry.msg || JSON.stringify(entry);
      const id = `${Date.now()}-${Math.random()}`;
      setItems((list) => [...list.slice(-4), { id, message, level: entry.level || "warn" }]);
    };
    window.addEventListener("chargebus-log", onLog);
    return () => window.removeEventListener("chargebus-log", onLog);
  }, []);
  if (items.length === 0) return null;
  return html`<ul class="toasts" aria-live="polite">
    ${items.map(
      (item) => html`<li class=${`toast tone-${item.level === "error" ? "bad" : "warn"}`}>
        <span>${item.message}</span>
        <button type="button" class="icon-button" aria-label=${t("close")} onClick=${() => setItems((l) => l.filter((i) => i.id !== item.id))}>×</button>
      </li>`,
    )}
  </ul>`;
}

function Home({ site }) {
  const loadpoints = loadpointsOf(site);
  return html`<div class="view home" data-testid="view-home">
    <section class="card flow-card" aria-labelledby="flow-heading">
      <h2 id="flow-heading">${t("flow.title")}</h2>
      <${EnergyFlow} site=${site} loadpoints=${loadpoints} />
      <${SiteSummary} site=${site} loadpoints=${loadpoints} />
    </section>
    ${loadpoints.map((lp) => html`<${LoadpointCard} key=${lp.id} lp=${lp} site=${site} />`)}
    ${loadpoints.length === 0 && html`<section class="card"><p class="muted">${t("loadpoint.none")}</p></section>`}
  </div>`;
}

function App() {
  const [site, setSite] = useState(getState());
  const [view, setView] = useState(route());
  const [, setLangTick] = useState(0);
  const [theme, setThemeState] = useState(localStorage.getItem(THEME_KEY) || "auto");
  const [login, setLogin] = useState(null);

  const [, setConnState] = useState("");
  useEffect(
    () =>
      subscribe((s) => {
        setSite(s);
        setConnState(`${connection.status}@${connection.since}`);
      }),
    [],
  );
  useEffect(() => {
    const onHash = () => {
      setView(route());
      window.scrollTo(0, 0);
    };
    window.addEventListener("hashchange", onHash);
    return () => window.removeEventListener("hashchange", onHash);
  }, []);
  useEffect(() => onLangChange(() => setLangTick((n) => n + 1)), []);
  useEffect(() => {
    document.documentElement.lang = getLang();
  });
  useEffect(() => {
    const title = site.siteTitle ? `${site.siteTitle} · chargebus` : "chargebus";
    if (document.title !== title) document.title = title;
  }, [site.siteTitle]);

  const setTheme = (value) => {
    localStorage.setItem(THEME_KEY, value);
    applyTheme(value);
    setThemeState(value);
  };
  const requestLogin = useCallback(
    () =>
      new Promise((resolve) => {
        setLogin({ resolve });
      }),
    [],
  );
  useEffect(() => onLoginRequired(requestLogin), [requestLogin]);
  const loginDone = (ok) => {
    login?.resolve(ok);
    setLogin(null);
  };

  const ready = Object.keys(site).length > 0;
  useEffect(() => {
    // the first render with live values: what "first meaningful render" is measured by
    if (ready && performance.getEntriesByName("chargebus:ready").length === 0) performance.mark("chargebus:ready");
  }, [ready]);
  const nav = [
    ["", t("nav.home")],
    ["prices", t("nav.prices")],
    ["sessions", t("nav.sessions")],
    ["settings", t("nav.settings")],
  ];
  let content;
  if (!ready) content = html`<p class="boot" data-testid="waiting">${t("conn.waiting")}</p>`;
  else if (view === "prices") content = html`<${PricesView} site=${site} />`;
  else if (view === "sessions") content = html`<${SessionsView} site=${site} />`;
  else if (view === "settings") content = html`<${SettingsView} site=${site} theme=${theme} setTheme=${setTheme} requestLogin=${requestLogin} />`;
  else content = html`<${Home} site=${site} />`;

  return html`<a class="skip" href="#main">${t("skip")}</a>
    <header class="top">
      <a class="brand" href="#/"><img src="/assets/icon.svg" alt="" width="28" height="28" />
        <span>${site.siteTitle || "chargebus"}</span></a>
      <nav aria-label=${t("nav.label")}>
        ${nav.map(
          ([name, label]) => html`<a href=${`#/${name}`} aria-current=${view === name ? "page" : undefined}
            data-testid=${`nav-${name || "home"}`}>${label}</a>`,
        )}
      </nav>
      <${ConnectionBadge} />
    </header>
    <${OfflineBanner} />
    <main id="main" tabindex="-1">${content}</main>
    <footer class="foot">
      <span>chargebus ${site.version || ""}</span>
      <a href="/docs">${t("prefs.apiDocs")}</a>
    </footer>
    <${Notifications} />
    ${login && html`<${LoginDialog} onDone=${loginDone} />`}`;
}

applyTheme(localStorage.getItem(THEME_KEY) || "auto");
connect();
const root = document.getElementById("app");
root.textContent = "";
render(html`<${App} />`, root);
