// Charging plans: a one-off goal (SoC or energy by a time) and repeating plans by weekday, each previewed
// with the planner's preview endpoints on the price chart before it is saved.
import { html, useState, useEffect, useAction, ErrorText, Dialog, Toggle, Select, useId, useMemo } from "./ui.js";
import { t, fmt, weekdayNames } from "./i18n.js";
import { api, seg, ApiError } from "./api.js";
import { PriceChart, forecastOf, slots } from "./chart.js";

const SOCS = [20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 95, 100];
const PRECONDITION = [0, 900, 1800, 3600, 7200];
const DAY_ORDER = [1, 2, 3, 4, 5, 6, 0];

const validDate = (v) => {
  if (!v) return null;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) || d.getFullYear() < 2000 ? null : d;
};

/** RFC 3339 in UTC without milliseconds, as the API's path parameter. */
export const rfc3339 = (date) => date.toISOString().replace(/\.\d{3}Z$/, "Z");

/** "2026-11-02T07:00" for an <input type="datetime-local"> in the browser's zone. */
function localInput(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

function defaultTarget(now = new Date()) {
  const d = new Date(now);
  d.setHours(7, 0, 0, 0);
  if (d <= now) d.setDate(d.getDate() + 1);
  return d;
}

/** The active plan in a line, for the card: "80 % by Tue 07:00". */
export function planSummary(lp, vehicle) {
  const now = new Date();
  const time = validDate(lp.effectivePlanTime) || validDate(lp.planTime) || validDate(vehicle?.plan?.time);
  if (!time) return null;
  const soc = lp.effectivePlanSoc > 0 ? lp.effectivePlanSoc : vehicle?.plan?.soc;
  const goal = soc > 0 ? fmt.percent(soc) : lp.planEnergy > 0 ? fmt.energy(lp.planEnergy) : null;
  if (!goal) return null;
  const repeating = lp.effectivePlanId >= 2 ? ` (${t("plan.repeatingShort")})` : "";
  return t("plan.summary", { goal, time: fmt.dateTime(time, now) }) + repeating;
}

function planSlots(plan) {
  return slots(plan?.plan || []);
}

function PlanFacts({ plan, currency, testid }) {
  if (!plan) return null;
  const list = planSlots(plan);
  if (list.length === 0)
    return html`<p class="muted" data-testid=${testid}>${plan.duration > 0 ? t("plan.noSlots") : t("plan.goalReached")}</p>`;
  const avg = list.reduce((a, s) => a + s.value * (s.end - s.start), 0) / list.reduce((a, s) => a + (s.end - s.start), 0);
  return html`<p class="plan-facts" data-testid=${testid}>
    ${t("plan.facts", {
      duration: fmt.duration(plan.duration || list.reduce((a, s) => a + (s.end - s.start) / 1000, 0)),
      start: fmt.dateTime(new Date(list[0].start)),
      end: fmt.time(new Date(list[list.length - 1].end)),
      price: fmt.price(avg, currency),
    })}
  </p>`;
}

function useCurrentPlan(lp) {
  const [plan, setPlan] = useState(null);
  const [error, setError] = useState(null);
  const reload = () =>
    api
      .get(`loadpoints/${lp.id}/plan`)
      .then((p) => {
        setPlan(p);
        setError(null);
      })
      .catch(setError);
  const key = `${lp.effectivePlanTime}|${lp.effectivePlanSoc}|${lp.planEnergy}|${lp.planTime}`;
  useEffect(() => {
    reload();
  }, [lp.id, key]);
  return { plan, error, reload };
}

function StaticPlan({ lp, site, vehicle, current, onPreview }) {
  const hasSoc = !!lp.vehicleName;
  const existing = validDate(vehicle?.plan?.time) || validDate(lp.planTime);
  const [goalType, setGoalType] = useState(hasSoc && !(lp.planEnergy > 0) ? "soc" : "energy");
  const [soc, setSoc] = useState(vehicle?.plan?.soc || lp.effectivePlanSoc || 80);
  const [energy, setEnergy] = useState(lp.planEnergy > 0 ? lp.planEnergy : 10);
  const [time, setTime] = useState(localInput(existing && existing > new Date() ? existing : defaultTarget()));
  const [preview, setPreview] = useState(null);
  const save = useAction();
  const remove = useAction();
  const previewAction = useAction();
  const timeId = useId("plan-time");
  const energyId = useId("plan-energy");

  const target = () => {
    const date = new Date(time);
    if (Number.isNaN(date.getTime())) throw new ApiError(400, t("plan.invalidTime"));
    if (date <= new Date()) throw new ApiError(400, t("plan.inThePast"));
    return date;
  };
  const value = goalType === "soc" ? soc : energy;
  const runPreview = () =>
    previewAction.run(async () => {
      const ts = rfc3339(target());
      const p = await api.get(`loadpoints/${lp.id}/plan/static/preview/${goalType}/${seg(value)}/${seg(ts)}`);
      setPreview(p);
      onPreview(planSlots(p));
      return p;
    });
  useEffect(() => {
    const timer = setTimeout(runPreview, 350);
    return () => clearTimeout(timer);
  }, [goalType, soc, energy, time]);

  const submit = (event) => {
    event.preventDefault();
    save.run(async () => {
      const ts = seg(rfc3339(target()));
      if (goalType === "soc") await api.post(`vehicles/${seg(lp.vehicleName)}/plan/soc/${soc}/${ts}`);
      else await api.post(`loadpoints/${lp.id}/plan/energy/${seg(energy)}/${ts}`);
      await current.reload();
    });
  };
  const del = () =>
    remove.run(async () => {
      if (vehicle?.plan?.time && lp.vehicleName) await api.del(`vehicles/${seg(lp.vehicleName)}/plan/soc`);
      if (lp.planEnergy > 0 || validDate(lp.planTime)) await api.del(`loadpoints/${lp.id}/plan/energy`);
      setPreview(null);
      onPreview([]);
      await current.reload();
    });
  const hasPlan = !!(validDate(vehicle?.plan?.time) || validDate(lp.planTime));

  return html`<form class="plan-form" onSubmit=${submit} data-testid=${`plan-static-${lp.id}`}>
    <fieldset class="goal">
      <legend>${t("plan.goal")}</legend>
      ${hasSoc &&
      html`<label class="radio"><input type="radio" name="goal" value="soc" checked=${goalType === "soc"}
          onChange=${() => setGoalType("soc")} /> ${t("plan.goalSoc")}</label>`}
      <label class="radio"><input type="radio" name="goal" value="energy" checked=${goalType === "energy"}
          onChange=${() => setGoalType("energy")} /> ${t("plan.goalEnergy")}</label>
    </fieldset>
    <div class="pair">
      ${goalType === "soc"
        ? html`<${Select} label=${t("plan.soc")} value=${String(soc)} testid="plan-soc"
            options=${SOCS.map((s) => ({ value: String(s), label: fmt.percent(s) }))} onChange=${(v) => setSoc(Number(v))} />`
        : html`<div class="field number"><label for=${energyId}>${t("plan.energy")}</label>
            <span class="with-unit"><input id=${energyId} type="number" min="1" max="200" step="1" value=${energy}
              data-testid="plan-energy" onInput=${(e) => setEnergy(Number(e.currentTarget.value))} /><span class="unit">kWh</span></span></div>`}
      <div class="field">
        <label for=${timeId}>${t("plan.time")}</label>
        <input id=${timeId} type="datetime-local" value=${time} required data-testid="plan-time"
          onInput=${(e) => setTime(e.currentTarget.value)} />
      </div>
    </div>
    <${PlanFacts} plan=${preview} currency=${site.currency} testid="plan-preview-facts" />
    <${ErrorText} error=${previewAction.error} />
    <div class="actions">
      <button type="button" class="secondary" onClick=${runPreview} disabled=${previewAction.busy} data-testid="plan-preview">
        ${t("plan.preview")}</button>
      <button type="submit" disabled=${save.busy} data-testid="plan-save">${hasPlan ? t("plan.update") : t("plan.save")}</button>
      ${hasPlan && html`<button type="button" class="danger" onClick=${del} disabled=${remove.busy} data-testid="plan-delete">
        ${t("plan.remove")}</button>`}
    </div>
    <${ErrorText} error=${save.error || remove.error} />
  </form>`;
}

function Strategy({ lp }) {
  const action = useAction();
  const strategy = lp.planStrategy || {};
  const postStrategy = (change) =>
    action.run(() =>
      api.post(`loadpoints/${lp.id}/plan/strategy`, {
        continuous: !!strategy.continuous,
        precondition: strategy.precondition || 0,
        ...change,
      }),
    );
  return html`<div class="strategy">
    <${Toggle} label=${t("plan.continuous")} hint=${t("plan.continuousHint")} checked=${strategy.continuous}
      disabled=${action.busy} onChange=${(on) => postStrategy({ continuous: on })} />
    <${Select} label=${t("plan.precondition")} value=${String(strategy.precondition || 0)} disabled=${action.busy}
      options=${PRECONDITION.map((s) => ({ value: String(s), label: s ? fmt.duration(s) : t("plan.noPrecondition") }))}
      onChange=${(v) => postStrategy({ precondition: Number(v) })} />
    <${ErrorText} error=${action.error} />
  </div>`;
}

function RepeatingPlans({ lp, vehicle, onPreview }) {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const fromState = () => (vehicle?.repeatingPlans || []).map((p) => ({ ...p, weekdays: [...(p.weekdays || [])] }));
  const [plans, setPlans] = useState(fromState);
  const [facts, setFacts] = useState(null);
  const save = useAction();
  const previewAction = useAction();
  const names = weekdayNames();
  const update = (i, change) => setPlans(plans.map((p, j) => (i === j ? { ...p, ...change } : p)));
  const toggleDay = (i, day) => {
    const days = plans[i].weekdays.includes(day) ? plans[i].weekdays.filter((d) => d !== day) : [...plans[i].weekdays, day];
    update(i, { weekdays: days.sort() });
  };
  const add = () => setPlans([...plans, { weekdays: [1, 2, 3, 4, 5], time: "07:00", tz: zone, soc: 80, active: true }]);
  const submit = (event) => {
    event.preventDefault();
    save.run(async () => {
      if (plans.some((p) => p.weekdays.length === 0)) throw new ApiError(400, t("plan.pickWeekday"));
      await api.post(`vehicles/${seg(lp.vehicleName)}/plan/repeating`, plans.map((p) => ({ ...p, tz: p.tz || zone })));
    });
  };
  const preview = (p) =>
    previewAction.run(async () => {
      if (p.weekdays.length === 0) throw new ApiError(400, t("plan.pickWeekday"));
      const result = await api.get(
        `loadpoints/${lp.id}/plan/repeating/preview/${p.soc}/${p.weekdays.join(",")}/${p.time}/${p.tz || zone}`,
      );
      setFacts(result);
      onPreview(planSlots(result));
    });
  return html`<form class="repeating" onSubmit=${submit} data-testid=${`plan-repeating-${lp.id}`}>
    ${plans.length === 0 && html`<p class="muted">${t("plan.noRepeating")}</p>`}
    ${plans.map(
      (p, i) => html`<fieldset class="repeating-plan" data-testid=${`repeating-${i}`}>
        <legend>${t("plan.repeatingN", { n: i + 1 })}</legend>
        <div class="weekdays" role="group" aria-label=${t("plan.weekdays")}>
          ${DAY_ORDER.map(
            (day) => html`<label class="day"><input type="checkbox" checked=${p.weekdays.includes(day)}
                onChange=${() => toggleDay(i, day)} /> ${names[day]}</label>`,
          )}
        </div>
        <div class="pair">
          <div class="field"><label for=${`rp-time-${i}`}>${t("plan.time")}</label>
            <input id=${`rp-time-${i}`} type="time" value=${p.time} required onInput=${(e) => update(i, { time: e.currentTarget.value })} /></div>
          <${Select} label=${t("plan.soc")} value=${String(p.soc)} options=${SOCS.map((s) => ({ value: String(s), label: fmt.percent(s) }))}
            onChange=${(v) => update(i, { soc: Number(v) })} />
        </div>
        <${Toggle} label=${t("plan.active")} checked=${p.active !== false} onChange=${(on) => update(i, { active: on })} />
        <div class="actions">
          <button type="button" class="secondary" onClick=${() => preview(p)}>${t("plan.preview")}</button>
          <button type="button" class="danger" onClick=${() => setPlans(plans.filter((_, j) => j !== i))}>${t("plan.remove")}</button>
        </div>
      </fieldset>`,
    )}
    <${PlanFacts} plan=${facts} testid="repeating-preview-facts" />
    <${ErrorText} error=${previewAction.error} />
    <div class="actions">
      <button type="button" class="secondary" onClick=${add} data-testid="repeating-add">${t("plan.addRepeating")}</button>
      <button type="submit" disabled=${save.busy} data-testid="repeating-save">${t("plan.saveRepeating")}</button>
    </div>
    <${ErrorText} error=${save.error} />
  </form>`;
}

export function PlanDialog({ lp, site, onClose }) {
  const vehicles = site.vehicles || {};
  const vehicle = lp.vehicleName ? vehicles[lp.vehicleName] : null;
  const [tab, setTab] = useState("static");
  const [preview, setPreview] = useState([]);
  const current = useCurrentPlan(lp);
  const forecast = useMemo(() => forecastOf(site), [site.forecast]);
  const from = Date.now() - 15 * 60e3;
  const to = from + 48 * 3600e3;
  const planned = planSlots(current.plan);
  const title = t("plan.title", { title: lp.title || t("loadpoint.fallback", { id: lp.id }) });
  return html`<${Dialog} title=${title} onClose=${onClose} wide testid=${`plan-dialog-${lp.id}`}>
    ${!!lp.vehicleName &&
    html`<div class="tabs" role="tablist">
      <button type="button" role="tab" aria-selected=${String(tab === "static")} onClick=${() => setTab("static")}>${t("plan.oneOff")}</button>
      <button type="button" role="tab" aria-selected=${String(tab === "repeating")} data-testid="tab-repeating"
        onClick=${() => setTab("repeating")}>${t("plan.repeating")}</button>
    </div>`}
    ${lp.mode !== "pv" && lp.mode !== "minpv" && html`<p class="note">${t("plan.onlyInPv")}</p>`}
    <${PriceChart} forecast=${forecast} from=${from} to=${to} planned=${planned} preview=${preview} currency=${site.currency}
      testid="plan-chart" />
    <div class="current-plan" data-testid="plan-current">
      <strong>${t("plan.current")}:</strong> ${planned.length ? html`<${PlanFacts} plan=${current.plan} currency=${site.currency} />` : t("plan.none")}
      <${ErrorText} error=${current.error} />
    </div>
    ${tab === "static"
      ? html`<${StaticPlan} lp=${lp} site=${site} vehicle=${vehicle} current=${current} onPreview=${setPreview} />`
      : html`<${RepeatingPlans} lp=${lp} vehicle=${vehicle} onPreview=${setPreview} />`}
    <details class="settings"><summary>${t("plan.strategy")}</summary><${Strategy} lp=${lp} /></details>
  <//>`;
}
