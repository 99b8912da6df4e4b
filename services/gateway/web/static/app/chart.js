// The price chart: grid price per slot as bars, feed-in as a step line, CO2 and the solar forecast on
// their own scales, planned charging slots highlighted and the smart cost limit as a line.
import { html, useWidth } from "./ui.js";
import { t, fmt } from "./i18n.js";

const toMs = (v) => (typeof v === "number" ? (v < 1e11 ? v * 1000 : v) : Date.parse(v));

/** evcc's compact [start, end, value] slots (unix s) or {start, end, value} rates → [{start, end, value}] in ms. */
export function slots(series) {
  if (!Array.isArray(series)) return [];
  return series
    .map((s) =>
      Array.isArray(s) ? { start: toMs(s[0]), end: toMs(s[1]), value: s[2] } : { start: toMs(s.start), end: toMs(s.end), value: s.value },
    )
    .filter((s) => Number.isFinite(s.start) && Number.isFinite(s.end) && typeof s.value === "number")
    .sort((a, b) => a.start - b.start);
}

/** The solar forecast's [[ts, W], …] or [{ts, val}] → [{ts, value}] in ms. */
export function solarPoints(solar) {
  const series = solar?.timeseries;
  if (!Array.isArray(series)) return [];
  return series
    .map((p) => (Array.isArray(p) ? { ts: toMs(p[0]), value: p[1] } : { ts: toMs(p.ts), value: p.val ?? p.value }))
    .filter((p) => Number.isFinite(p.ts) && typeof p.value === "number");
}

export function forecastOf(site) {
  const f = site.forecast || {};
  // evcc: with solarAdjusted the forecast is scaled by today's produced ÷ forecast energy
  const scale = site.solarAdjusted && typeof f.solar?.scale === "number" && f.solar.scale > 0 ? f.solar.scale : 1;
  return {
    grid: slots(f.grid),
    feedin: slots(f.feedin ?? f.feedIn),
    co2: slots(f.co2),
    planner: slots(f.planner),
    solar: solarPoints(f.solar).map((p) => ({ ...p, value: p.value * scale })),
  };
}

const H = 260;

const PAD = { left: 46, right: 46, top: 14, bottom: 28 };

function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/**
 * props: forecast (forecastOf), from/to (ms), planned [{start,end}], preview [{start,end}], limit (number|null),
 * limitLabel, currency, onPick(value) — a click on a price bar offers that price as the limit.
 */
export function PriceChart({ forecast, from, to, planned = [], preview = [], limit = null, currency, onPick, testid = "price-chart" }) {
  const [ref, W] = useWidth(720);
  const price = forecast.grid.filter((s) => s.end > from && s.start < to);
  const feedin = forecast.feedin.filter((s) => s.end > from && s.start < to);
  const co2 = forecast.co2.filter((s) => s.end > from && s.start < to);
  const solar = forecast.solar.filter((p) => p.ts >= from - 3600e3 && p.ts <= to + 3600e3);
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const x = (ms) => PAD.left + ((Math.min(to, Math.max(from, ms)) - from) / (to - from)) * plotW;
  const values = [...price, ...feedin].map((s) => s.value);
  if (limit != null) values.push(limit);
  const maxPrice = niceMax(Math.max(0.01, ...values));
  const minPrice = Math.min(0, ...values);
  const y = (v) => PAD.top + plotH - ((v - minPrice) / (maxPrice - minPrice)) * plotH;
  const maxCo2 = niceMax(Math.max(1, ...co2.map((s) => s.value)));
  const yCo2 = (v) => PAD.top + plotH - (v / maxCo2) * plotH;
  const maxSolar = niceMax(Math.max(1, ...solar.map((p) => p.value)));
  const ySolar = (v) => PAD.top + plotH - (v / maxSolar) * plotH;
  const inAny = (s, list) => list.some((p) => p.start < s.end && p.end > s.start);
  const ticks = [];
  const hour = 3600e3;
  const hours = (to - from) / hour;
  const step = (hours * 56) / W > 3 ? 6 * hour : (hours * 56) / W > 1 ? 3 * hour : hour;
  const stepHours = step / hour;
  const tick = new Date(from);
  tick.setMinutes(0, 0, 0);
  while (tick.getTime() < from || tick.getHours() % stepHours !== 0) tick.setHours(tick.getHours() + 1);
  for (; tick.getTime() <= to; tick.setHours(tick.getHours() + stepHours)) ticks.push(tick.getTime());
  const yTicks = [0, 0.25, 0.5, 0.75, 1].map((f) => minPrice + f * (maxPrice - minPrice));
  const stepLine = (list, fy) =>
    list.map((s, i) => `${i === 0 ? "M" : "L"}${x(s.start).toFixed(1)} ${fy(s.value).toFixed(1)} H${x(s.end).toFixed(1)}`).join(" ");
  const solarPath = solar.length
    ? `M${x(solar[0].ts).toFixed(1)} ${ySolar(0)} ` +
      solar.map((p) => `L${x(p.ts).toFixed(1)} ${ySolar(p.value).toFixed(1)}`).join(" ") +
      ` L${x(solar[solar.length - 1].ts).toFixed(1)} ${ySolar(0)} Z`
    : "";
  const now = Date.now();
  const cheapest = price.length ? price.reduce((a, b) => (b.value < a.value ? b : a)) : null;
  const description = price.length
    ? t("chart.describe", {
        from: fmt.dateTime(new Date(price[0].start)),
        to: fmt.dateTime(new Date(price[price.length - 1].end)),
        min: fmt.price(Math.min(...price.map((s) => s.value)), currency),
        max: fmt.price(Math.max(...price.map((s) => s.value)), currency),
        cheapest: cheapest ? fmt.dateTime(new Date(cheapest.start)) : "",
      })
    : t("chart.noData");
  return html`<figure class="chart" data-testid=${testid} ref=${ref}>
    <svg viewBox=${`0 0 ${W} ${H}`} width=${W} height=${H} role="img" aria-label=${description}>
      ${yTicks.map((v) => html`<g class="grid-line"><line x1=${PAD.left} x2=${W - PAD.right} y1=${y(v)} y2=${y(v)} />
        <text x=${PAD.left - 6} y=${y(v) + 4} text-anchor="end">${fmt.priceShort(v, currency)}</text></g>`)}
      ${solarPath && html`<path d=${solarPath} class="solar-area" />`}
      ${price.map((s) => {
        const cls = inAny(s, preview) ? "bar preview" : inAny(s, planned) ? "bar planned" : limit != null && s.value <= limit ? "bar cheap" : "bar";
        const top = y(Math.max(0, s.value));
        const base = y(Math.min(0, s.value));
        return html`<rect class=${cls} x=${x(s.start) + 0.4} width=${Math.max(0.6, x(s.end) - x(s.start) - 0.8)} y=${top}
            height=${Math.max(0.5, base - top)} data-start=${s.start}
            onClick=${onPick ? () => onPick(s.value) : undefined}>
          <title>${fmt.dateTime(new Date(s.start))}–${fmt.time(new Date(s.end))}: ${fmt.price(s.value, currency)}${
            inAny(s, preview) ? ` · ${t("chart.preview")}` : inAny(s, planned) ? ` · ${t("chart.planned")}` : ""}</title>
        </rect>`;
      })}
      ${feedin.length > 0 && html`<path d=${stepLine(feedin, y)} class="feedin-line" />`}
      ${co2.length > 0 && html`<path d=${stepLine(co2, yCo2)} class="co2-line" />`}
      ${limit != null &&
      html`<g class="limit-line" data-testid="limit-line"><line x1=${PAD.left} x2=${W - PAD.right} y1=${y(limit)} y2=${y(limit)} />
        <text x=${W - PAD.right - 4} y=${y(limit) - 5} text-anchor="end">≤ ${fmt.price(limit, currency)}</text></g>`}
      ${now > from && now < to && html`<line class="now-line" x1=${x(now)} x2=${x(now)} y1=${PAD.top} y2=${H - PAD.bottom} />`}
      ${ticks.map((ts) => html`<text class="x-tick" x=${x(ts)} y=${H - 8} text-anchor="middle">${fmt.hourLabel(new Date(ts))}</text>`)}
      ${co2.length > 0 && html`<text class="axis-right" x=${W - PAD.right + 6} y=${PAD.top + 8}>${fmt.co2(maxCo2)}</text>`}
      ${solar.length > 0 && html`<text class="axis-right solar" x=${W - PAD.right + 6} y=${PAD.top + 22}>${fmt.power(maxSolar)}</text>`}
    </svg>
    <figcaption class="legend">
      <span class="key price">${t("chart.price")}</span>
      ${feedin.length > 0 && html`<span class="key feedin">${t("chart.feedin")}</span>`}
      ${co2.length > 0 && html`<span class="key co2">${t("chart.co2")}</span>`}
      ${solar.length > 0 && html`<span class="key solar">${t("chart.solar")}</span>`}
      ${planned.length > 0 && html`<span class="key planned">${t("chart.planned")}</span>`}
      ${preview.length > 0 && html`<span class="key preview">${t("chart.preview")}</span>`}
      ${limit != null && html`<span class="key limit">${t("chart.limit")}</span>`}
    </figcaption>
  </figure>`;
}
