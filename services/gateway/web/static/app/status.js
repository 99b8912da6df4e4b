// What a loadpoint does and why, in words — derived only from the state keys evcc publishes
// (charging/enabled/connected, pvAction/pvRemaining, smartCostActive/smartCostLimit, planActive,
// effectivePlanTime, minSocNotReached, chargerStatusReason …). Pure functions: no DOM, no clock of their own.
import { t, fmt } from "./i18n.js";

const REASON_AUTH = "waitingforauthorization";
const REASON_DISCONNECT = "disconnectrequired";

const positive = (v) => typeof v === "number" && v > 0;
const dateOf = (v) => {
  if (v == null || v === "" || v === 0) return null;
  const d = typeof v === "number" ? new Date(v * 1000) : new Date(v);
  return Number.isNaN(d.getTime()) || d.getFullYear() < 2000 ? null : d;
};

export function vehicleLimitReached(lp) {
  return (
    !lp.charging && positive(lp.vehicleSoc) && positive(lp.vehicleLimitSoc) && lp.vehicleSoc >= lp.vehicleLimitSoc - 1
  );
}

export function limitSocReached(lp) {
  const limit = lp.effectiveLimitSoc;
  return positive(lp.vehicleSoc) && positive(limit) && limit < 100 && lp.vehicleSoc >= limit;
}

export function limitEnergyReached(lp) {
  return positive(lp.limitEnergy) && (lp.sessionEnergy || 0) / 1000 >= lp.limitEnergy;
}

/** The headline (evcc's charger status): {key, tone}. */
export function chargerStatus(lp) {
  if (lp.chargerError) return { text: t("status.fault"), tone: "bad" };
  if (!lp.connected) return { text: t("status.disconnected"), tone: "muted" };
  if (lp.enabled && !lp.charging) {
    if (vehicleLimitReached(lp) || limitSocReached(lp) || limitEnergyReached(lp))
      return { text: t("status.finished"), tone: "good" };
    if (lp.chargerStatusReason === REASON_AUTH) return { text: t("status.waitForAuthorization"), tone: "info" };
    return { text: t("status.waitForVehicle"), tone: "info" };
  }
  if (lp.charging) return { text: t("status.charging"), tone: "good" };
  return { text: t("status.connected"), tone: "info" };
}

function planGoal(lp, site) {
  if (positive(lp.effectivePlanSoc)) return fmt.percent(lp.effectivePlanSoc);
  if (positive(lp.planEnergy)) return fmt.energy(lp.planEnergy);
  return null;
}

function smartCostIsPrice(site) {
  return site.smartCostType !== "co2";
}

function smartCostValue(value, site) {
  return smartCostIsPrice(site) ? fmt.price(value, site.currency) : fmt.co2(value);
}

/**
 * Why the loadpoint does what it does: [{id, text, tone}] (tone: good | info | warn | bad), most
 * important first. `lp.pvRemaining` / `lp.phaseRemaining` are the seconds left *now* (the caller counts
 * them down between updates); `now` is a Date.
 */
export function reasons(lp, site = {}, now = new Date()) {
  const out = [];
  const add = (id, text, tone = "info") => out.push({ id, text, tone });

  if (lp.chargerError) add("chargerError", t("why.chargerError", { error: lp.chargerError }), "bad");
  if (lp.chargerStatusReason === REASON_DISCONNECT) add("disconnectRequired", t("why.disconnectRequired"), "warn");
  if (lp.chargerStatusReason === REASON_AUTH) add("awaitingAuthorization", t("why.awaitingAuthorization"));
  if (lp.vehicleDetectionActive) add("detection", t("why.detection"));
  if (lp.dimmed) add("dimmed", t("why.dimmed"), "warn");

  const planTime = dateOf(lp.effectivePlanTime) || dateOf(lp.planTime);
  const goal = planGoal(lp, site);

  if (!lp.connected) {
    if (planTime && goal && planTime > now)
      add("planWaiting", t("why.planWaitForVehicle", { goal, time: fmt.dateTime(planTime, now) }));
    else if (!lp.chargerError) add("disconnected", t("why.disconnected"), "muted");
    return out;
  }

  if (lp.mode === "off") {
    add("off", t("why.off"), "muted");
    return out;
  }

  if (lp.minSocNotReached && positive(lp.effectiveMinSoc))
    add("minSoc", t("why.minSoc", { soc: fmt.percent(lp.effectiveMinSoc) }), "warn");

  const projectedStart = dateOf(lp.planProjectedStart);
  const projectedEnd = dateOf(lp.planProjectedEnd);
  if (lp.planActive && goal && planTime) {
    add(
      "planActive",
      projectedEnd
        ? t("why.planActiveUntil", { goal, time: fmt.dateTime(planTime, now), end: fmt.time(projectedEnd) })
        : t("why.planActive", { goal, time: fmt.dateTime(planTime, now) }),
      "good",
    );
  } else if (goal && planTime && planTime > now) {
    add(
      "planPlanned",
      projectedStart && projectedStart > now
        ? t("why.planStarts", { goal, time: fmt.dateTime(planTime, now), start: fmt.dateTime(projectedStart, now) })
        : t("why.plan", { goal, time: fmt.dateTime(planTime, now) }),
    );
  }
  if (positive(lp.planOverrun) && (lp.planActive || projectedStart))
    add("planOverrun", t("why.planOverrun", { overrun: fmt.duration(lp.planOverrun) }), "warn");

  if (lp.smartCostActive) {
    const key = smartCostIsPrice(site) ? "why.smartCostCheap" : "why.smartCostClean";
    const current = smartCostIsPrice(site) ? site.tariffGrid : site.tariffCo2;
    add(
      "smartCost",
      t(key, {
        now: current == null ? "" : smartCostValue(current, site),
        limit: smartCostValue(lp.smartCostLimit, site),
      }).trim(),
      "good",
    );
  } else if (lp.smartCostLimit != null && lp.smartCostLimit !== "" && lp.mode !== "now") {
    const next = dateOf(lp.smartCostNextStart);
    const limit = smartCostValue(lp.smartCostLimit, site);
    if (next && next > now) add("smartCostNext", t("why.smartCostNext", { limit, start: fmt.dateTime(next, now) }));
    else add("smartCostSet", t("why.smartCostSet", { limit }), "muted");
  }

  if (lp.smartFeedInPriorityActive) add("feedInPriority", t("why.feedInPriority"), "warn");
  if (lp.batteryBoost) add("batteryBoost", t("why.batteryBoost"));

  const pvLeft = Math.max(0, Math.round(lp.pvRemaining || 0));
  if (lp.pvAction === "enable" && pvLeft > 0) add("pvEnable", t("why.pvEnable", { in: fmt.countdown(pvLeft) }));
  if (lp.pvAction === "disable" && pvLeft > 0) add("pvDisable", t("why.pvDisable", { in: fmt.countdown(pvLeft) }), "warn");
  const phaseLeft = Math.max(0, Math.round(lp.phaseRemaining || 0));
  if ((lp.phaseAction === "scale1p" || lp.phaseAction === "scale3p") && phaseLeft > 0)
    add("phases", t(`why.${lp.phaseAction}`, { in: fmt.countdown(phaseLeft) }));

  if (limitSocReached(lp)) add("limitSoc", t("why.limitSocReached", { soc: fmt.percent(lp.effectiveLimitSoc) }), "good");
  else if (vehicleLimitReached(lp))
    add("vehicleLimit", t("why.vehicleLimitReached", { soc: fmt.percent(lp.vehicleLimitSoc) }), "good");
  else if (limitEnergyReached(lp))
    add("limitEnergy", t("why.limitEnergyReached", { energy: fmt.energy(lp.limitEnergy) }), "good");

  if (out.length === 0 || out.every((r) => r.tone === "muted")) {
    if (lp.mode === "now") add("modeNow", lp.charging ? t("why.nowCharging") : t("why.nowReady"));
    else if (lp.mode === "minpv") add("modeMinPv", t("why.minpv"));
    else if (lp.mode === "pv") add("modePv", lp.charging ? t("why.pvCharging") : t("why.pvWaiting"));
  }
  return out;
}
