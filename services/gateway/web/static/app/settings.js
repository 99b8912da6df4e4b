// Home battery and site settings, the admin login, and the page's own preferences (language, theme).
import { html, useState, useEffect, useAction, ErrorText, Range, NumberInput, Toggle, Select, Dialog, useId } from "./ui.js";
import { t, fmt, getLangSetting, setLang } from "./i18n.js";
import { api, authStatus } from "./api.js";

function SocSetting({ label, hint, path, value, testid }) {
  const action = useAction();
  return html`<div class="control">
    <${Range} label=${label} hint=${hint} value=${value ?? 0} min=${0} max=${100} step=${5} format=${(v) => fmt.percent(v)}
      testid=${testid} onCommit=${(soc) => action.run(() => api.post(`${path}/${soc}`))} />
    <${ErrorText} error=${action.error} />
  </div>`;
}

function BatterySettings({ site }) {
  const discharge = useAction();
  const gridCharge = useAction();
  const isCo2 = site.smartCostType === "co2";
  const limit = site.batteryGridChargeLimit;
  return html`<section class="card" aria-labelledby="battery-title" data-testid="battery-settings">
    <h2 id="battery-title">${t("battery.title")}</h2>
    ${site.battery?.soc != null &&
    html`<p class="muted">${t("battery.now", {
      soc: fmt.percent(site.battery.soc),
      power: fmt.power(Math.abs(site.battery.power || 0)),
      state: (site.battery.power || 0) < -10 ? t("flow.charging") : (site.battery.power || 0) > 10 ? t("flow.discharging") : t("flow.idle"),
    })}${site.batteryMode && site.batteryMode !== "unknown" ? ` · ${t("battery.mode")}: ${t(`battery.modes.${site.batteryMode}`)}` : ""}</p>`}
    <${SocSetting} label=${t("battery.prioritySoc")} hint=${t("battery.prioritySocHint")} path="prioritysoc"
      value=${site.prioritySoc} testid="priority-soc" />
    <${SocSetting} label=${t("battery.bufferSoc")} hint=${t("battery.bufferSocHint")} path="buffersoc"
      value=${site.bufferSoc} testid="buffer-soc" />
    <${SocSetting} label=${t("battery.bufferStartSoc")} hint=${t("battery.bufferStartSocHint")} path="bufferstartsoc"
      value=${site.bufferStartSoc} testid="buffer-start-soc" />
    <div class="control">
      <${Toggle} label=${t("battery.dischargeControl")} hint=${t("battery.dischargeControlHint")} checked=${site.batteryDischargeControl}
        disabled=${discharge.busy} testid="discharge-control"
        onChange=${(on) => discharge.run(() => api.post(`batterydischargecontrol/${on}`))} />
      <${ErrorText} error=${discharge.error} />
    </div>
    <div class="control">
      <${NumberInput} label=${isCo2 ? t("battery.gridChargeLimitCo2") : t("battery.gridChargeLimit")} value=${limit ?? ""}
        unit=${isCo2 ? "g/kWh" : `${site.currency || ""}/kWh`} step=${isCo2 ? 1 : 0.01} hint=${t("battery.gridChargeLimitHint")}
        testid="grid-charge-limit" disabled=${gridCharge.busy}
        onCommit=${(v) => gridCharge.run(() => api.post(`batterygridchargelimit/${v}`))} />
      ${limit != null && limit !== "" &&
      html`<button type="button" class="secondary small" disabled=${gridCharge.busy}
        onClick=${() => gridCharge.run(() => api.del("batterygridchargelimit"))}>${t("battery.gridChargeOff")}</button>`}
      <${ErrorText} error=${gridCharge.error} />
    </div>
  </section>
  <${SiteSettings} site=${site} />`;
}

function SiteToggle({ label, hint, path, checked, testid }) {
  const action = useAction();
  return html`<div class="control">
    <${Toggle} label=${label} hint=${hint} checked=${checked} disabled=${action.busy} testid=${testid}
      onChange=${(on) => action.run(() => api.post(`${path}/${on}`))} />
    <${ErrorText} error=${action.error} />
  </div>`;
}

function SiteNumber({ label, hint, path, value, unit, step, testid, removable }) {
  const action = useAction();
  return html`<div class="control">
    <${NumberInput} label=${label} value=${value ?? ""} unit=${unit} step=${step} hint=${hint} testid=${testid}
      disabled=${action.busy} onCommit=${(v) => action.run(() => api.post(`${path}/${v}`))} />
    ${removable && value != null && value !== "" &&
    html`<button type="button" class="secondary small" disabled=${action.busy}
      onClick=${() => action.run(() => api.del(path))}>${t("site.remove")}</button>`}
    <${ErrorText} error=${action.error} />
  </div>`;
}

function SiteSettings({ site }) {
  const hasSolarForecast = !!site.forecast?.solar;
  return html`<section class="card" aria-labelledby="site-title" data-testid="site-settings">
    <h2 id="site-title">${t("site.title")}</h2>
    <${SiteNumber} label=${t("site.residualPower")} hint=${t("site.residualPowerHint")} path="residualpower"
      value=${site.residualPower} unit="W" step=${50} testid="residual-power" />
    <${SiteNumber} label=${t("site.gridExportLimit")} hint=${t("site.gridExportLimitHint")} path="gridexportlimit"
      value=${site.gridExportLimit} unit="W" step=${100} testid="grid-export-limit" />
    ${site.battery != null &&
    html`<${SiteToggle} label=${t("site.batteryGridDischarge")} hint=${t("site.batteryGridDischargeHint")}
      path="batterygriddischarge" checked=${site.batteryGridDischarge} testid="battery-grid-discharge" />`}
    ${site.smartFeedInPriorityAvailable &&
    html`<${SiteNumber} label=${t("site.feedInPriority")} hint=${t("site.feedInPriorityHint")}
      path="smartfeedinprioritylimit" value=${site.loadpoints?.[0]?.smartFeedInPriorityLimit ?? site.smartFeedInPriorityLimit}
      unit=${`${site.currency || ""}/kWh`} step=${0.01} removable testid="feedin-priority" />`}
    ${hasSolarForecast &&
    html`<${SiteToggle} label=${t("site.solarAdjusted")} hint=${t("site.solarAdjustedHint")} path="solaradjusted"
      checked=${site.solarAdjusted} testid="solar-adjusted" />`}
  </section>`;
}

export function LoginDialog({ onDone }) {
  const [status, setStatus] = useState(null);
  const [password, setPassword] = useState("");
  const [repeat, setRepeat] = useState("");
  const action = useAction();
  const pwId = useId("pw");
  const repeatId = useId("pw2");
  useEffect(() => {
    authStatus().then(setStatus, () => setStatus("false"));
  }, []);
  const first = status === "none";
  const submit = (event) => {
    event.preventDefault();
    action.run(async () => {
      if (first) {
        if (password !== repeat) throw new Error(t("login.mismatch"));
        await api.put("auth/password", { new: password });
      } else {
        await api.post("auth/login", { password });
      }
      onDone(true);
    });
  };
  return html`<${Dialog} title=${first ? t("login.setTitle") : t("login.title")} onClose=${() => onDone(false)} testid="login">
    <form onSubmit=${submit}>
      <p class="muted">${first ? t("login.setHint") : t("login.hint")}</p>
      <div class="field">
        <label for=${pwId}>${first ? t("login.newPassword") : t("login.password")}</label>
        <input id=${pwId} type="password" required autofocus autocomplete=${first ? "new-password" : "current-password"}
          value=${password} data-testid="login-password" onInput=${(e) => setPassword(e.currentTarget.value)} />
      </div>
      ${first &&
      html`<div class="field"><label for=${repeatId}>${t("login.repeat")}</label>
        <input id=${repeatId} type="password" required autocomplete="new-password" value=${repeat}
          onInput=${(e) => setRepeat(e.currentTarget.value)} /></div>`}
      <div class="actions">
        <button type="button" class="secondary" onClick=${() => onDone(false)}>${t("cancel")}</button>
        <button type="submit" disabled=${action.busy} data-testid="login-submit">
          ${first ? t("login.set") : t("login.submit")}</button>
      </div>
      <${ErrorText} error=${action.error} />
    </form>
  <//>`;
}

function AdminCard({ requestLogin }) {
  const [status, setStatus] = useState(null);
  const action = useAction();
  const refresh = () => authStatus().then(setStatus, () => setStatus(null));
  useEffect(() => {
    refresh();
  }, []);
  const logout = () =>
    action.run(async () => {
      await api.post("auth/logout");
      await refresh();
    });
  const login = async () => {
    await requestLogin();
    await refresh();
  };
  const text = status === "true" ? t("admin.loggedIn") : status === "false" ? t("admin.loggedOut") : status === "none" ? t("admin.noPassword") : "…";
  return html`<section class="card" aria-labelledby="admin-title" data-testid="admin">
    <h2 id="admin-title">${t("admin.title")}</h2>
    <p data-testid="auth-status">${text}</p>
    <div class="actions">
      ${status === "true"
        ? html`<button type="button" class="secondary" onClick=${logout} disabled=${action.busy}>${t("admin.logout")}</button>`
        : html`<button type="button" onClick=${login}>${status === "none" ? t("login.set") : t("admin.login")}</button>`}
    </div>
    <${ErrorText} error=${action.error} />
  </section>`;
}

function Preferences({ theme, setTheme }) {
  const [lang, setLangState] = useState(getLangSetting());
  return html`<section class="card" aria-labelledby="prefs-title" data-testid="preferences">
    <h2 id="prefs-title">${t("prefs.title")}</h2>
    <${Select} label=${t("prefs.language")} value=${lang} testid="pref-language"
      options=${[
        { value: "auto", label: t("prefs.auto") },
        { value: "en", label: "English" },
        { value: "de", label: "Deutsch" },
      ]}
      onChange=${(v) => {
        setLangState(v);
        setLang(v);
      }} />
    <${Select} label=${t("prefs.theme")} value=${theme} testid="pref-theme"
      options=${[
        { value: "auto", label: t("prefs.auto") },
        { value: "light", label: t("prefs.light") },
        { value: "dark", label: t("prefs.dark") },
      ]}
      onChange=${setTheme} />
    <p class="links"><a href="/docs">${t("prefs.apiDocs")}</a> · <a href="/redoc">ReDoc</a> · <a href="/api/state">/api/state</a></p>
  </section>`;
}

export function SettingsView({ site, theme, setTheme, requestLogin }) {
  return html`<div class="view settings-view" data-testid="view-settings">
    ${site.battery != null ? html`<${BatterySettings} site=${site} />` : html`<${SiteSettings} site=${site} />`}
    <${Preferences} theme=${theme} setTheme=${setTheme} />
    <${AdminCard} requestLogin=${requestLogin} />
  </div>`;
}
