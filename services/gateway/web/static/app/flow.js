// The live energy flow: PV, grid, home battery on the left, the house and every loadpoint on the right,
// each connected to the site in the middle; a line moves in the direction the power flows.
import { html, useWidth } from "./ui.js";
import { t, fmt } from "./i18n.js";

const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : 0);
const ratio = (a, b) => (b > 0 ? Math.min(1, Math.max(0, a / b)) : null);

/** The site's power balance from evcc's keys (W; grid > 0 import, battery > 0 discharge). */
export function energyFlow(site, loadpoints) {
  const pv = Math.max(0, num(site.pvPower));
  const grid = num(site.grid?.power ?? site.gridPower);
  const battery = site.battery && typeof site.battery === "object" ? num(site.battery.power) : num(site.batteryPower);
  const hasBattery = site.battery != null && (site.battery.soc != null || site.battery.power != null);
  const home = Math.max(0, num(site.homePower));
  const charge = loadpoints.map((lp) => Math.max(0, num(lp.chargePower)));
  const loadpointsPower = charge.reduce((a, b) => a + b, 0);
  const gridImport = Math.max(0, grid);
  const gridExport = Math.max(0, -grid);
  const batteryDischarge = Math.max(0, battery);
  const batteryCharge = Math.max(0, -battery);
  const consumption = home + loadpointsPower + batteryCharge;
  const selfPv = Math.min(pv, consumption);
  const selfBattery = Math.min(batteryDischarge, Math.max(0, consumption - selfPv));
  return {
    pv,
    grid,
    battery,
    hasBattery,
    batterySoc: site.battery?.soc ?? site.batterySoc ?? null,
    home,
    charge,
    loadpointsPower,
    gridImport,
    gridExport,
    batteryCharge,
    batteryDischarge,
    consumption,
    /** share of the PV power used on site (not exported) */
    selfConsumption: ratio(pv - Math.min(pv, gridExport), pv),
    /** share of the consumption covered by PV and battery */
    selfSufficiency: ratio(selfPv + selfBattery, consumption),
  };
}


function width(power) {
  return 1.5 + 5.5 * Math.sqrt(Math.min(1, Math.abs(power) / 11000));
}

function Node({ x, y, kind, title, value, detail, soc, testid, boxW, boxH, narrow }) {
  const label = [title, value, detail].filter(Boolean).join(", ");
  return html`<g class=${`node node-${kind}`} transform=${`translate(${x} ${y})`} data-testid=${testid}>
    <title>${label}</title>
    <rect width=${boxW} height=${boxH} rx="10" class="node-box" />
    ${soc != null &&
    html`<rect x="0" y=${boxH - 5} width=${(boxW * Math.max(0, Math.min(100, soc))) / 100} height="5"
      rx="2" class="soc-bar" />`}
    <circle cx=${narrow ? 13 : 18} cy="17" r=${narrow ? 7 : 10} class="node-dot" />
    <text x=${narrow ? 26 : 34} y="18" class="node-title">${title}</text>
    ${narrow
      ? html`<text x="10" y="36" class="node-value">${value}</text>
          ${detail && html`<text x="10" y="50" class="node-detail">${detail}</text>`}`
      : html`<text x="34" y="36" class="node-value">${value}${detail ? html`<tspan class="node-detail"> ${detail}</tspan>` : ""}</text>`}
  </g>`;
}

function Edge({ from, to, power }) {
  const active = Math.abs(power) >= 10;
  const dx = (to.x - from.x) / 2;
  const d = `M${from.x} ${from.y} C${from.x + dx} ${from.y} ${to.x - dx} ${to.y} ${to.x} ${to.y}`;
  return html`<path d=${d} class=${active ? "edge active" : "edge"} stroke-width=${width(power).toFixed(2)} />`;
}

export function EnergyFlow({ site, loadpoints }) {
  const [ref, measured] = useWidth(360);
  const W = Math.min(900, measured);
  const BOX_W = Math.min(190, Math.round(W * 0.4));
  const narrow = BOX_W < 170;
  const BOX_H = narrow ? 58 : 48;
  const f = energyFlow(site, loadpoints);
  const left = [
    {
      kind: "pv",
      title: t("flow.pv"),
      power: f.pv,
      out: true,
      value: fmt.power(f.pv),
      detail: f.pv > 0 ? t("flow.producing") : "",
    },
    {
      kind: "grid",
      title: t("flow.grid"),
      power: f.grid,
      out: f.grid >= 0,
      value: fmt.power(Math.abs(f.grid)),
      detail: f.gridImport >= 10 ? t("flow.import") : f.gridExport >= 10 ? t("flow.export") : "",
    },
  ];
  if (f.hasBattery)
    left.push({
      kind: "battery",
      title: t("flow.battery") + (f.batterySoc != null ? ` · ${fmt.percent(f.batterySoc)}` : ""),
      power: f.battery,
      out: f.battery >= 0,
      value: fmt.power(Math.abs(f.battery)),
      detail: f.batteryCharge >= 10 ? t("flow.charging") : f.batteryDischarge >= 10 ? t("flow.discharging") : t("flow.idle"),
      soc: f.batterySoc,
    });
  const right = [
    { kind: "home", title: t("flow.home"), power: f.home, out: false, value: fmt.power(f.home) },
    ...loadpoints.map((lp, i) => ({
      kind: "loadpoint",
      title: lp.title || t("loadpoint.fallback", { id: lp.id }),
      power: f.charge[i],
      out: false,
      value: fmt.power(f.charge[i]),
      detail: lp.vehicleSoc != null && lp.connected ? fmt.percent(lp.vehicleSoc) : "",
      soc: lp.connected && lp.vehicleSoc != null ? lp.vehicleSoc : null,
      id: lp.id,
    })),
  ];
  const rows = Math.max(left.length, right.length);
  const height = Math.max(3, rows) * (BOX_H + 14) + 10;
  const hub = { x: W / 2, y: height / 2 };
  const place = (items, x) =>
    items.map((item, i) => {
      const gap = height / items.length;
      return { ...item, x, y: gap * i + (gap - BOX_H) / 2, boxW: BOX_W, boxH: BOX_H, narrow };
    });
  const lefts = place(left, 2);
  const rights = place(right, W - BOX_W - 2);
  const summary = [
    t("flow.pv") + " " + fmt.power(f.pv),
    f.gridImport >= 10
      ? `${t("flow.gridImport")} ${fmt.power(f.gridImport)}`
      : `${t("flow.gridExport")} ${fmt.power(f.gridExport)}`,
    f.hasBattery ? `${t("flow.battery")} ${fmt.power(Math.abs(f.battery))} ${left[2].detail}` : "",
    `${t("flow.home")} ${fmt.power(f.home)}`,
  ]
    .filter(Boolean)
    .join(", ");
  return html`<div class="flow-wrap" ref=${ref}><svg class="flow" viewBox=${`0 0 ${W} ${height}`} width=${W} height=${height}
      role="img" aria-labelledby="flow-title" data-testid="energyflow">
    <title id="flow-title">${t("flow.title")}: ${summary}</title>
    ${lefts.map((n) => {
      const at = { x: n.x + BOX_W, y: n.y + BOX_H / 2 };
      return n.out ? html`<${Edge} from=${at} to=${hub} power=${n.power} />` : html`<${Edge} from=${hub} to=${at} power=${n.power} />`;
    })}
    ${rights.map((n) => html`<${Edge} from=${hub} to=${{ x: n.x, y: n.y + BOX_H / 2 }} power=${n.power} />`)}
    <circle cx=${hub.x} cy=${hub.y} r="7" class="hub" />
    ${lefts.map((n) => html`<${Node} ...${n} testid=${`flow-${n.kind}`} />`)}
    ${rights.map((n) => html`<${Node} ...${n} testid=${n.id ? `flow-lp-${n.id}` : `flow-${n.kind}`} />`)}
  </svg></div>`;
}

function Metric({ label, value, hint, testid }) {
  return html`<div class="metric" data-testid=${testid}>
    <dt>${label}</dt><dd>${value}</dd>${hint && html`<small>${hint}</small>`}
  </div>`;
}

export function SiteSummary({ site, loadpoints }) {
  const f = energyFlow(site, loadpoints);
  const dash = "–";
  const pct = (v) => (v == null ? dash : fmt.percent(v * 100));
  return html`<dl class="metrics" data-testid="site-summary">
    <${Metric} label=${t("summary.selfConsumption")} value=${pct(f.selfConsumption)} hint=${t("summary.selfConsumptionHint")}
      testid="metric-selfconsumption" />
    <${Metric} label=${t("summary.selfSufficiency")} value=${pct(f.selfSufficiency)} hint=${t("summary.selfSufficiencyHint")} />
    <${Metric} label=${t("summary.greenShare")} value=${pct(site.greenShareHome)} hint=${t("summary.greenShareHint")}
      testid="metric-greenshare" />
    <${Metric} label=${t("summary.price")}
      value=${site.tariffPriceHome != null ? fmt.price(site.tariffPriceHome, site.currency) : dash}
      hint=${site.tariffGrid != null ? t("summary.gridPrice", { price: fmt.price(site.tariffGrid, site.currency) }) : ""}
      testid="metric-price" />
    <${Metric} label=${t("summary.co2")} value=${site.tariffCo2Home != null ? fmt.co2(site.tariffCo2Home) : site.tariffCo2 != null ? fmt.co2(site.tariffCo2) : dash}
      hint=${site.tariffCo2 != null ? t("summary.gridCo2", { co2: fmt.co2(site.tariffCo2) }) : t("summary.noCo2")} testid="metric-co2" />
  </dl>`;
}
