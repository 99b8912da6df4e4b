// The next 48 hours: price, feed-in, CO2 and solar forecast, planned slots, and the smart cost limit
// ("charge from the grid whenever it is at most …"), set by slider, number or a click on a price bar.
import { html, useState, useMemo, useAction, ErrorText, Select } from "./ui.js";
import { t, fmt } from "./i18n.js";
import { api } from "./api.js";
import { loadpointsOf } from "./store.js";
import { PriceChart, forecastOf, slots } from "./chart.js";

function stats(list) {
  if (list.length === 0) return null;
  const values = list.map((s) => s.value);
  const cheapest = list.reduce((a, b) => (b.value < a.value ? b : a));
  return {
    min: Math.min(...values),
    max: Math.max(...values),
    avg: values.reduce((a, b) => a + b, 0) / values.length,
    cheapest,
  };
}

function SmartCostLimit({ site, loadpoints, range, draft, setDraft }) {
  const action = useAction();
  const [target, setTarget] = useState("all");
  const isCo2 = site.smartCostType === "co2";
  const chosen = target === "all" ? loadpoints : loadpoints.filter((lp) => String(lp.id) === target);
  const limits = [...new Set(chosen.map((lp) => lp.smartCostLimit ?? null))];
  const current = limits.length === 1 ? limits[0] : null;
  const value = draft ?? current;
  const step = isCo2 ? 1 : 0.005;
  const min = Math.min(0, range.min);
  const max = Math.max(range.max, value ?? 0) || 1;
  const format = (v) => (v == null ? t("prices.noLimit") : isCo2 ? fmt.co2(v) : fmt.price(v, site.currency));
  const base = target === "all" ? "smartcostlimit" : `loadpoints/${target}/smartcostlimit`;
  const save = (v) =>
    action.run(async () => {
      await api.post(`${base}/${Number(v.toFixed(isCo2 ? 0 : 4))}`);
      setDraft(null);
    });
  const remove = () =>
    action.run(async () => {
      await api.del(base);
      setDraft(null);
    });
  const options = [
    { value: "all", label: t("prices.allLoadpoints") },
    ...loadpoints.map((lp) => ({ value: String(lp.id), label: lp.title || t("loadpoint.fallback", { id: lp.id }) })),
  ];
  return html`<section class="card" aria-labelledby="smartcost-title" data-testid="smart-cost">
    <h2 id="smartcost-title">${isCo2 ? t("prices.cleanTitle") : t("prices.cheapTitle")}</h2>
    <p class="muted">${isCo2 ? t("prices.cleanHint") : t("prices.cheapHint")}</p>
    ${loadpoints.length > 1 && html`<${Select} label=${t("prices.appliesTo")} value=${target} options=${options} onChange=${setTarget} />`}
    <div class="field range">
      <label for="smartcost-range">${t("prices.limit")}</label>
      <output for="smartcost-range" data-testid="smart-cost-value">${limits.length > 1 && draft == null ? t("prices.mixed") : format(value)}</output>
      <input id="smartcost-range" type="range" min=${min} max=${max} step=${step} value=${value ?? min}
        aria-valuetext=${format(value)} data-testid="smart-cost-range" disabled=${action.busy}
        onInput=${(e) => setDraft(Number(e.currentTarget.value))} onChange=${(e) => save(Number(e.currentTarget.value))} />
    </div>
    <div class="actions">
      <input type="number" step=${step} aria-label=${t("prices.limitExact")} value=${value ?? ""} class="inline-number"
        data-testid="smart-cost-input" onChange=${(e) => e.currentTarget.value !== "" && save(Number(e.currentTarget.value))} />
      ${draft != null && draft !== current &&
      html`<button type="button" disabled=${action.busy} onClick=${() => save(draft)} data-testid="smart-cost-save">
        ${t("prices.setLimit", { limit: format(draft) })}</button>`}
      <button type="button" class="secondary" disabled=${action.busy || current == null} onClick=${remove}
        data-testid="smart-cost-remove">${t("prices.removeLimit")}</button>
    </div>
    <p class="muted">${t("prices.clickHint")}</p>
    <${ErrorText} error=${action.error} />
  </section>`;
}

export function PricesView({ site }) {
  const loadpoints = loadpointsOf(site);
  const forecast = useMemo(() => forecastOf(site), [site.forecast]);
  const [draft, setDraft] = useState(null);
  const from = Date.now() - 30 * 60e3;
  const to = from + 48 * 3600e3;
  const window = forecast.grid.filter((s) => s.end > from && s.start < to);
  const s = stats(window);
  const planned = loadpoints.flatMap((lp) => slots(lp.plan));
  const limits = [...new Set(loadpoints.map((lp) => lp.smartCostLimit).filter((v) => v != null))];
  const limit = draft ?? (limits.length === 1 ? limits[0] : null);
  const range = s || { min: 0, max: 0.5 };
  return html`<div class="view prices" data-testid="view-prices">
    <section class="card" aria-labelledby="prices-title">
      <h2 id="prices-title">${t("prices.title")}</h2>
      ${s
        ? html`<dl class="metrics">
            <div class="metric"><dt>${t("prices.now")}</dt><dd>${site.tariffGrid != null ? fmt.price(site.tariffGrid, site.currency) : "–"}</dd></div>
            <div class="metric"><dt>${t("prices.min")}</dt><dd>${fmt.price(s.min, site.currency)}</dd>
              <small>${fmt.dateTime(new Date(s.cheapest.start))}</small></div>
            <div class="metric"><dt>${t("prices.avg")}</dt><dd>${fmt.price(s.avg, site.currency)}</dd></div>
            <div class="metric"><dt>${t("prices.max")}</dt><dd>${fmt.price(s.max, site.currency)}</dd></div>
            ${site.tariffFeedIn != null &&
            html`<div class="metric"><dt>${t("prices.feedin")}</dt><dd>${fmt.price(site.tariffFeedIn, site.currency)}</dd></div>`}
            ${site.tariffCo2 != null && html`<div class="metric"><dt>${t("prices.co2")}</dt><dd>${fmt.co2(site.tariffCo2)}</dd></div>`}
          </dl>`
        : html`<p class="muted">${t("prices.none")}</p>`}
      <${PriceChart} forecast=${forecast} from=${from} to=${to} planned=${planned} limit=${limit} currency=${site.currency}
        onPick=${site.smartCostAvailable !== false ? setDraft : undefined} />
      ${planned.length > 0 && html`<p class="muted">${t("prices.plannedHint")}</p>`}
    </section>
    ${loadpoints.length > 0 &&
    html`<${SmartCostLimit} site=${site} loadpoints=${loadpoints} range=${range} draft=${draft} setDraft=${setDraft} />`}
  </div>`;
}
