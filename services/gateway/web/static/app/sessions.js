// Charging sessions from /api/sessions: filters by month, vehicle and loadpoint, totals, the CSV export
// (English or German captions), and per session: change the vehicle or delete it.
import { html, useState, useEffect, useMemo, useAction, ErrorText, Dialog, Select, useId } from "./ui.js";
import { t, fmt, getLang } from "./i18n.js";
import { api } from "./api.js";

const NS_PER_S = 1e9;

function finishedAt(session) {
  const d = session.finished ? new Date(session.finished) : null;
  return d && d.getFullYear() > 1 ? d : null;
}

export function monthKey(session) {
  const d = new Date(session.created);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}`;
}

/** Σ energy and cost, kWh-weighted solar share, CO2 and price over the sessions that have the value. */
export function totals(sessions) {
  let energy = 0;
  let cost = 0;
  let solarKwh = 0;
  let solarBase = 0;
  let co2 = 0;
  let co2Base = 0;
  let duration = 0;
  for (const s of sessions) {
    const kwh = s.chargedEnergy || 0;
    energy += kwh;
    duration += (s.chargeDuration || 0) / NS_PER_S;
    if (typeof s.price === "number") cost += s.price;
    if (typeof s.solarPercentage === "number") {
      solarKwh += (kwh * s.solarPercentage) / 100;
      solarBase += kwh;
    }
    if (typeof s.co2PerKWh === "number") {
      co2 += kwh * s.co2PerKWh;
      co2Base += kwh;
    }
  }
  return {
    count: sessions.length,
    energy,
    cost,
    duration,
    solarPercentage: solarBase > 0 ? (100 * solarKwh) / solarBase : null,
    co2PerKWh: co2Base > 0 ? co2 / co2Base : null,
    pricePerKWh: energy > 0 ? cost / energy : null,
  };
}

function EditVehicle({ session, vehicles, onClose, onSaved }) {
  const action = useAction();
  const inputId = useId("veh");
  const listId = useId("vehlist");
  const [value, setValue] = useState(session.vehicle || "");
  const titles = [...new Set(Object.values(vehicles).map((v) => v.title).filter(Boolean))];
  const submit = (event) => {
    event.preventDefault();
    action.run(async () => {
      const updated = await api.put(`session/${session.id}`, { vehicle: value.trim() || null });
      onSaved(updated);
      onClose();
    });
  };
  return html`<${Dialog} title=${t("sessions.editTitle")} onClose=${onClose} testid="session-edit">
    <form onSubmit=${submit}>
      <p class="muted">${fmt.dateTime(new Date(session.created))} · ${session.loadpoint} · ${fmt.energy(session.chargedEnergy)}</p>
      <div class="field">
        <label for=${inputId}>${t("sessions.vehicle")}</label>
        <input id=${inputId} list=${listId} value=${value} maxlength="255" data-testid="session-vehicle-input"
          onInput=${(e) => setValue(e.currentTarget.value)} />
        <datalist id=${listId}>${titles.map((title) => html`<option value=${title} />`)}</datalist>
      </div>
      <div class="actions">
        <button type="button" class="secondary" onClick=${onClose}>${t("cancel")}</button>
        <button type="submit" disabled=${action.busy} data-testid="session-vehicle-save">${t("save")}</button>
      </div>
      <${ErrorText} error=${action.error} />
    </form>
  <//>`;
}

function ConfirmDelete({ session, onClose, onDeleted }) {
  const action = useAction();
  const confirm = () =>
    action.run(async () => {
      await api.del(`session/${session.id}`);
      onDeleted(session.id);
      onClose();
    });
  return html`<${Dialog} title=${t("sessions.deleteTitle")} onClose=${onClose} testid="session-delete">
    <p>${t("sessions.deleteConfirm", { date: fmt.dateTime(new Date(session.created)), energy: fmt.energy(session.chargedEnergy) })}</p>
    <div class="actions">
      <button type="button" class="secondary" onClick=${onClose}>${t("cancel")}</button>
      <button type="button" class="danger" disabled=${action.busy} onClick=${confirm} data-testid="session-delete-confirm">
        ${t("delete")}</button>
    </div>
    <${ErrorText} error=${action.error} />
  <//>`;
}

function monthLabel(key) {
  const [year, month] = key.split("-").map(Number);
  return new Intl.DateTimeFormat(getLang(), { year: "numeric", month: "long" }).format(new Date(year, month - 1, 1));
}

export function SessionsView({ site }) {
  const [sessions, setSessions] = useState(null);
  const [month, setMonth] = useState("");
  const [vehicle, setVehicle] = useState("");
  const [loadpoint, setLoadpoint] = useState("");
  const [editing, setEditing] = useState(null);
  const [deleting, setDeleting] = useState(null);
  const load = useAction();
  const reload = () => load.run(async () => setSessions((await api.get("sessions")) || []));
  // statistics change whenever the gateway writes a session: reload then
  const statsKey = JSON.stringify(site.statistics?.total || null);
  useEffect(() => {
    reload();
  }, [statsKey]);

  const all = sessions || [];
  const months = useMemo(() => [...new Set(all.map(monthKey))].sort().reverse(), [sessions]);
  const vehicles = useMemo(() => [...new Set(all.map((s) => s.vehicle || ""))].sort(), [sessions]);
  const loadpoints = useMemo(() => [...new Set(all.map((s) => s.loadpoint || ""))].sort(), [sessions]);
  const shown = all.filter(
    (s) => (!month || monthKey(s) === month) && (!vehicle || (s.vehicle || "") === vehicle.slice(1)) && (!loadpoint || (s.loadpoint || "") === loadpoint.slice(1)),
  );
  const sum = totals(shown);
  const currency = site.currency;
  const csv = (lang) => {
    const params = new URLSearchParams({ format: "csv", lang });
    if (month) {
      const [y, m] = month.split("-");
      params.set("year", y);
      params.set("month", String(Number(m)));
    }
    return `/api/sessions?${params}`;
  };
  const replace = (updated) => setSessions(all.map((s) => (s.id === updated.id ? updated : s)));
  const remove = (id) => setSessions(all.filter((s) => s.id !== id));
  const dash = "–";

  return html`<div class="view sessions" data-testid="view-sessions">
    <section class="card" aria-labelledby="sessions-title">
      <header class="card-head">
        <h2 id="sessions-title">${t("sessions.title")}</h2>
        <button type="button" class="secondary" onClick=${reload} disabled=${load.busy}>${t("sessions.reload")}</button>
      </header>
      <div class="filters">
        <${Select} label=${t("sessions.month")} value=${month} onChange=${setMonth} testid="filter-month"
          options=${[{ value: "", label: t("sessions.allMonths") }, ...months.map((m) => ({ value: m, label: monthLabel(m) }))]} />
        <${Select} label=${t("sessions.vehicle")} value=${vehicle} onChange=${setVehicle} testid="filter-vehicle"
          options=${[{ value: "", label: t("sessions.allVehicles") }, ...vehicles.map((v) => ({ value: `=${v}`, label: v || t("vehicle.guest") }))]} />
        <${Select} label=${t("sessions.loadpoint")} value=${loadpoint} onChange=${setLoadpoint} testid="filter-loadpoint"
          options=${[{ value: "", label: t("sessions.allLoadpoints") }, ...loadpoints.map((v) => ({ value: `=${v}`, label: v || dash }))]} />
      </div>
      <dl class="metrics" data-testid="session-totals">
        <div class="metric"><dt>${t("sessions.count")}</dt><dd>${sum.count}</dd></div>
        <div class="metric"><dt>${t("sessions.energy")}</dt><dd data-testid="total-energy">${fmt.energy(sum.energy)}</dd></div>
        <div class="metric"><dt>${t("sessions.cost")}</dt><dd>${fmt.money(sum.cost, currency)}</dd>
          <small>${sum.pricePerKWh != null ? t("sessions.perKWh", { price: fmt.price(sum.pricePerKWh, currency) }) : ""}</small></div>
        <div class="metric"><dt>${t("sessions.solar")}</dt><dd>${sum.solarPercentage != null ? fmt.percent(sum.solarPercentage) : dash}</dd></div>
        <div class="metric"><dt>${t("sessions.co2")}</dt><dd>${sum.co2PerKWh != null ? fmt.co2(sum.co2PerKWh) : dash}</dd></div>
      </dl>
      <p class="downloads">${t("sessions.download")}:
        <a href=${csv("en")} download data-testid="csv-en">CSV (English)</a>
        <a href=${csv("de")} download data-testid="csv-de">CSV (Deutsch)</a>
        ${(vehicle || loadpoint) && html`<small class="muted"> ${t("sessions.csvScope")}</small>`}
      </p>
      <${ErrorText} error=${load.error} />
      ${sessions === null && !load.error && html`<p class="muted">${t("loading")}</p>`}
      ${sessions !== null && shown.length === 0 && html`<p class="muted" data-testid="sessions-empty">${t("sessions.none")}</p>`}
      ${shown.length > 0 &&
      html`<div class="table-wrap"><table class="sessions-table" data-testid="sessions-table">
        <thead><tr>
          <th scope="col">${t("sessions.start")}</th><th scope="col">${t("sessions.loadpoint")}</th>
          <th scope="col">${t("sessions.vehicle")}</th><th scope="col" class="num">${t("sessions.energy")}</th>
          <th scope="col" class="num">${t("sessions.solar")}</th><th scope="col" class="num">${t("sessions.cost")}</th>
          <th scope="col" class="num">${t("sessions.co2")}</th><th scope="col" class="num">${t("sessions.duration")}</th>
          <th scope="col"><span class="sr-only">${t("sessions.actions")}</span></th>
        </tr></thead>
        <tbody>
          ${shown.map(
            (s) => html`<tr data-session=${s.id}>
              <td data-label=${t("sessions.start")}>${fmt.dateTime(new Date(s.created))}${!finishedAt(s) ? html` <span class="badge tone-good">${t("sessions.open")}</span>` : ""}</td>
              <td data-label=${t("sessions.loadpoint")}>${s.loadpoint || dash}</td>
              <td data-label=${t("sessions.vehicle")}>${s.vehicle || html`<span class="muted">${t("vehicle.guest")}</span>`}</td>
              <td class="num" data-label=${t("sessions.energy")}>${fmt.energy(s.chargedEnergy)}</td>
              <td class="num" data-label=${t("sessions.solar")}>${s.solarPercentage != null ? fmt.percent(s.solarPercentage) : dash}</td>
              <td class="num" data-label=${t("sessions.cost")}>${s.price != null ? fmt.money(s.price, currency) : dash}</td>
              <td class="num" data-label=${t("sessions.co2")}>${s.co2PerKWh != null ? fmt.co2(s.co2PerKWh) : dash}</td>
              <td class="num" data-label=${t("sessions.duration")}>${s.chargeDuration ? fmt.duration(s.chargeDuration / NS_PER_S) : dash}</td>
              <td class="row-actions">
                <button type="button" class="secondary small" onClick=${() => setEditing(s)} data-testid=${`session-edit-${s.id}`}
                  aria-label=${t("sessions.editVehicleOf", { date: fmt.dateTime(new Date(s.created)) })}>${t("sessions.editVehicle")}</button>
                <button type="button" class="danger small" onClick=${() => setDeleting(s)} data-testid=${`session-delete-${s.id}`}
                  aria-label=${t("sessions.deleteOf", { date: fmt.dateTime(new Date(s.created)) })}>${t("delete")}</button>
              </td>
            </tr>`,
          )}
        </tbody>
      </table></div>`}
    </section>
    ${editing && html`<${EditVehicle} session=${editing} vehicles=${site.vehicles || {}} onClose=${() => setEditing(null)} onSaved=${replace} />`}
    ${deleting && html`<${ConfirmDelete} session=${deleting} onClose=${() => setDeleting(null)} onDeleted=${remove} />`}
  </div>`;
}
