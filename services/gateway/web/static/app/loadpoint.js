// One loadpoint card: status and why, mode, vehicle and SoC, limits, session figures, settings.
import { html, useState, useAction, ErrorText, Range, NumberInput, Toggle, Segmented, Select, useTicker } from "./ui.js";
import { t, fmt } from "./i18n.js";
import { api, seg } from "./api.js";
import { stampOf } from "./store.js";
import { chargerStatus, reasons } from "./status.js";
import { PlanDialog, planSummary } from "./plans.js";

export const MODES = ["off", "pv", "minpv", "now"];
const LIMIT_MIN = 20;
const ENERGY_LIMITS = [0, 5, 10, 15, 20, 25, 30, 40, 50, 60, 80, 100];

/** pvRemaining / phaseRemaining counted down since they arrived (evcc sends them once per change). */
function withCountdowns(lp) {
  const out = { ...lp };
  for (const key of ["pvRemaining", "phaseRemaining"]) {
    const stamp = stampOf(`loadpoints.${lp.index}.${key}`);
    if (typeof lp[key] === "number" && stamp != null)
      out[key] = Math.max(0, lp[key] - (performance.now() - stamp) / 1000);
  }
  return out;
}

function ModeButtons({ lp }) {
  const action = useAction();
  const options = MODES.map((mode) => ({ value: mode, label: t(`mode.${mode}`) }));
  return html`<div class="control">
    <${Segmented} label=${t("loadpoint.mode")} options=${options} value=${lp.mode} disabled=${action.busy}
      testid=${`mode-${lp.id}`} onSelect=${(mode) => action.run(() => api.post(`loadpoints/${lp.id}/mode/${mode}`))} />
    <${ErrorText} error=${action.error} />
  </div>`;
}

function Reasons({ lp, site }) {
  useTicker(1000);
  const items = reasons(withCountdowns(lp), site, new Date());
  return html`<ul class="reasons" aria-live="polite" data-testid=${`reasons-${lp.id}`}>
    ${items.map((r) => html`<li class=${`tone-${r.tone}`} data-reason=${r.id}>${r.text}</li>`)}
  </ul>`;
}

function VehicleSelect({ lp, vehicles }) {
  const action = useAction();
  const names = Object.keys(vehicles || {});
  if (names.length === 0) return null;
  const options = [
    { value: "", label: t("vehicle.guest") },
    ...names.map((name) => ({ value: name, label: vehicles[name].title || name })),
  ];
  const choose = (name) =>
    action.run(() => (name ? api.post(`loadpoints/${lp.id}/vehicle/${seg(name)}`) : api.del(`loadpoints/${lp.id}/vehicle`)));
  return html`<div class="control">
    <${Select} label=${t("vehicle.label")} value=${lp.vehicleName || ""} options=${options} onChange=${choose}
      disabled=${action.busy} testid=${`vehicle-${lp.id}`} />
    <${ErrorText} error=${action.error} />
  </div>`;
}

function SocBar({ lp }) {
  const soc = lp.vehicleSoc;
  const limit = lp.effectiveLimitSoc;
  const min = lp.effectiveMinSoc;
  if (soc == null) return null;
  return html`<div class="socbar" role="meter" aria-valuemin="0" aria-valuemax="100" aria-valuenow=${Math.round(soc)}
      aria-label=${t("vehicle.soc")}>
    <div class="socbar-fill" style=${`width:${Math.max(0, Math.min(100, soc))}%`}></div>
    ${limit > 0 && limit < 100 && html`<div class="socbar-mark limit" style=${`left:${limit}%`} title=${t("loadpoint.limitSoc")}></div>`}
    ${min > 0 && html`<div class="socbar-mark min" style=${`left:${min}%`} title=${t("loadpoint.minSoc")}></div>`}
  </div>`;
}

function LimitSoc({ lp }) {
  const action = useAction();
  const value = lp.limitSoc > 0 ? lp.limitSoc : lp.effectiveLimitSoc || 100;
  return html`<div class="control">
    <${Range} label=${t("loadpoint.limitSoc")} value=${value} min=${LIMIT_MIN} max=${100} step=${5}
      format=${(v) => fmt.percent(v)} testid=${`limit-soc-${lp.id}`}
      onCommit=${(soc) => action.run(() => api.post(`loadpoints/${lp.id}/limitsoc/${soc}`))} />
    <${ErrorText} error=${action.error} />
  </div>`;
}

function LimitEnergy({ lp }) {
  const action = useAction();
  const current = lp.limitEnergy || 0;
  const values = ENERGY_LIMITS.includes(current) ? ENERGY_LIMITS : [...ENERGY_LIMITS, current].sort((a, b) => a - b);
  const options = values.map((v) => ({ value: String(v), label: v === 0 ? t("loadpoint.noLimit") : fmt.energy(v) }));
  return html`<div class="control">
    <${Select} label=${t("loadpoint.limitEnergy")} value=${String(current)} options=${options}
      testid=${`limit-energy-${lp.id}`} disabled=${action.busy}
      onChange=${(v) => action.run(() => api.post(`loadpoints/${lp.id}/limitenergy/${v}`))} />
    <${ErrorText} error=${action.error} />
  </div>`;
}

function MinSoc({ lp }) {
  const action = useAction();
  const path = lp.vehicleName ? `vehicles/${seg(lp.vehicleName)}/minsoc` : `loadpoints/${lp.id}/minsoc`;
  return html`<div class="control">
    <${Range} label=${t("loadpoint.minSoc")} value=${lp.effectiveMinSoc ?? lp.minSoc ?? 0} min=${0} max=${50} step=${5}
      format=${(v) => (v ? fmt.percent(v) : t("loadpoint.off"))} testid=${`min-soc-${lp.id}`}
      hint=${t("loadpoint.minSocHint")}
      onCommit=${(soc) => action.run(() => api.post(`${path}/${soc}`))} />
    <${ErrorText} error=${action.error} />
  </div>`;
}

function Setting({ lp, label, path, value, unit, min, max, step, hint, testid }) {
  const action = useAction();
  return html`<div class="control">
    <${NumberInput} label=${label} value=${value} unit=${unit} min=${min} max=${max} step=${step} hint=${hint}
      testid=${testid} disabled=${action.busy}
      onCommit=${(v) => action.run(() => api.post(`loadpoints/${lp.id}/${path}/${v}`))} />
    <${ErrorText} error=${action.error} />
  </div>`;
}

function Phases({ lp }) {
  const action = useAction();
  if (lp.chargerSinglePhase) return null;
  const options = [
    ...(lp.chargerPhases1p3p ? [{ value: 0, label: t("phases.auto") }] : []),
    { value: 1, label: t("phases.one") },
    { value: 3, label: t("phases.three") },
  ];
  return html`<div class="control">
    <span class="field-label" id=${`phases-label-${lp.id}`}>${t("phases.label")}</span>
    <${Segmented} label=${t("phases.label")} options=${options} value=${lp.phasesConfigured} disabled=${action.busy}
      testid=${`phases-${lp.id}`} onSelect=${(p) => action.run(() => api.post(`loadpoints/${lp.id}/phases/${p}`))} />
    <${ErrorText} error=${action.error} />
  </div>`;
}

const BOOST_LIMITS = [100, 90, 80, 70, 60, 50, 40, 30, 20, 10];

function BatteryBoost({ lp }) {
  const action = useAction();
  const limit = useAction();
  const options = BOOST_LIMITS.map((v) => ({ value: String(v), label: v === 100 ? t("loadpoint.boostOff") : fmt.percent(v) }));
  return html`<div class="control">
    <${Select} label=${t("loadpoint.boostLimit")} value=${String(lp.batteryBoostLimit ?? 100)} options=${options}
      disabled=${limit.busy} testid=${`battery-boost-limit-${lp.id}`}
      onChange=${(v) => limit.run(() => api.post(`loadpoints/${lp.id}/batteryboostlimit/${v}`))} />
    <${ErrorText} error=${limit.error} />
    <${Toggle} label=${t("loadpoint.batteryBoost")} checked=${lp.batteryBoost}
      disabled=${action.busy || lp.mode === "off" || lp.mode === "now" || (lp.batteryBoostLimit ?? 100) >= 100}
      hint=${t("loadpoint.batteryBoostHint")} testid=${`battery-boost-${lp.id}`}
      onChange=${(on) => action.run(() => api.post(`loadpoints/${lp.id}/batteryboost/${on}`))} />
    <${ErrorText} error=${action.error} />
  </div>`;
}

function SessionFigures({ lp, site }) {
  const rows = [
    [t("session.power"), fmt.power(lp.chargePower || 0), "power"],
    [t("session.energy"), fmt.energy((lp.sessionEnergy ?? lp.chargedEnergy ?? 0) / 1000), "energy"],
    [t("session.duration"), lp.chargeDuration ? fmt.duration(lp.chargeDuration) : "–", "duration"],
    [t("session.solar"), lp.sessionSolarPercentage != null ? fmt.percent(lp.sessionSolarPercentage) : "–", "solar"],
    [t("session.price"), lp.sessionPrice != null ? fmt.money(lp.sessionPrice, site.currency) : "–", "price"],
    [
      t("session.co2"),
      lp.sessionCo2PerKWh != null ? fmt.co2(lp.sessionCo2PerKWh) : "–",
      "co2",
    ],
  ];
  if (lp.charging && lp.chargeRemainingDuration > 0)
    rows.push([t("session.remaining"), fmt.duration(lp.chargeRemainingDuration), "remaining"]);
  return html`<dl class="figures" data-testid=${`session-${lp.id}`}>
    ${rows.map(([label, value, key]) => html`<div data-figure=${key}><dt>${label}</dt><dd>${value}</dd></div>`)}
  </dl>`;
}

export function LoadpointCard({ lp, site }) {
  const [planOpen, setPlanOpen] = useState(false);
  const status = chargerStatus(lp);
  const vehicles = site.vehicles || {};
  const vehicle = lp.vehicleName ? vehicles[lp.vehicleName] : null;
  const hasSoc = lp.vehicleSoc != null;
  const plan = planSummary(lp, vehicle);
  const title = lp.title || t("loadpoint.fallback", { id: lp.id });
  return html`<section class="card loadpoint" aria-labelledby=${`lp-title-${lp.id}`} data-testid=${`loadpoint-${lp.id}`}>
    <header class="card-head">
      <h2 id=${`lp-title-${lp.id}`}>${title}</h2>
      <span class=${`badge tone-${status.tone}`} data-testid=${`status-${lp.id}`}>${status.text}</span>
    </header>
    <${ModeButtons} lp=${lp} />
    <${Reasons} lp=${lp} site=${site} />
    <div class="vehicle">
      <div class="vehicle-line">
        <strong>${lp.vehicleTitle || (lp.connected ? t("vehicle.guest") : t("vehicle.none"))}</strong>
        ${hasSoc && html`<span class="soc" data-testid=${`vehicle-soc-${lp.id}`}>${fmt.percent(lp.vehicleSoc)}</span>`}
        ${lp.vehicleRange > 0 && html`<span class="muted">${fmt.km(lp.vehicleRange)}</span>`}
      </div>
      <${SocBar} lp=${lp} />
    </div>
    ${hasSoc || lp.vehicleName ? html`<${LimitSoc} lp=${lp} />` : html`<${LimitEnergy} lp=${lp} />`}
    <div class="plan-line">
      <span>${t("plan.label")}: <strong data-testid=${`plan-summary-${lp.id}`}>${plan || t("plan.none")}</strong></span>
      <button type="button" class="secondary" data-testid=${`plan-open-${lp.id}`} onClick=${() => setPlanOpen(true)}>
        ${t("plan.edit")}</button>
    </div>
    <${SessionFigures} lp=${lp} site=${site} />
    <details class="settings" data-testid=${`settings-${lp.id}`}>
      <summary>${t("loadpoint.settings")}</summary>
      <${VehicleSelect} lp=${lp} vehicles=${vehicles} />
      ${(hasSoc || lp.vehicleName) && html`<${LimitEnergy} lp=${lp} />`}
      <${MinSoc} lp=${lp} />
      <div class="pair">
        <${Setting} lp=${lp} label=${t("loadpoint.minCurrent")} path="mincurrent" value=${lp.minCurrent} unit="A"
          min=${0} max=${lp.maxCurrent} step=${1} testid=${`min-current-${lp.id}`} />
        <${Setting} lp=${lp} label=${t("loadpoint.maxCurrent")} path="maxcurrent" value=${lp.maxCurrent} unit="A"
          min=${lp.minCurrent} step=${1} testid=${`max-current-${lp.id}`} />
      </div>
      <${Phases} lp=${lp} />
      ${site.battery != null && html`<${BatteryBoost} lp=${lp} />`}
      <div class="pair">
        <${Setting} lp=${lp} label=${t("loadpoint.enableThreshold")} path="enable/threshold" value=${lp.enableThreshold}
          unit="W" step=${100} hint=${t("loadpoint.enableThresholdHint")} />
        <${Setting} lp=${lp} label=${t("loadpoint.enableDelay")} path="enable/delay" value=${lp.enableDelay}
          unit="s" min=${0} step=${1} />
      </div>
      <div class="pair">
        <${Setting} lp=${lp} label=${t("loadpoint.disableThreshold")} path="disable/threshold" value=${lp.disableThreshold}
          unit="W" step=${100} hint=${t("loadpoint.disableThresholdHint")} />
        <${Setting} lp=${lp} label=${t("loadpoint.disableDelay")} path="disable/delay" value=${lp.disableDelay}
          unit="s" min=${0} step=${1} />
      </div>
      <${Setting} lp=${lp} label=${t("loadpoint.priority")} path="priority" value=${lp.priority} min=${0} step=${1}
        hint=${t("loadpoint.priorityHint")} />
    </details>
    ${planOpen && html`<${PlanDialog} lp=${lp} site=${site} onClose=${() => setPlanOpen(false)} />`}
  </section>`;
}
