// Shared building blocks: htm bound to Preact, the per-control action/error pattern, dialogs and inputs.
import { h, render, Fragment } from "preact";
import { useState, useEffect, useRef, useCallback, useMemo } from "preact/hooks";
import htm from "htm";
import { t } from "./i18n.js";

export const html = htm.bind(h);
export { h, render, Fragment, useState, useEffect, useRef, useCallback, useMemo };

let uid = 0;
export function useId(prefix = "f") {
  const ref = useRef(null);
  if (ref.current === null) ref.current = `${prefix}-${++uid}`;
  return ref.current;
}

export function errorText(error) {
  if (!error) return "";
  if (error.status === 0) return t("error.network");
  // a protected call without login answers a bare "Unauthorized"; the login itself says what was wrong
  if (error.status === 401 && ["", "Unauthorized", "login required"].includes(error.message || "")) return t("error.login");
  return error.message || String(error);
}

/** run(fn) → the error of this control stays next to it until the next try succeeds. */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const run = useCallback(async (fn) => {
    setBusy(true);
    try {
      const value = await fn();
      setError(null);
      return value;
    } catch (err) {
      setError(err);
      return undefined;
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, error, run, clear: () => setError(null) };
}

export function ErrorText({ error, id }) {
  if (!error) return null;
  return html`<p class="error" role="alert" id=${id}>${errorText(error)}</p>`;
}

/** A modal <dialog>: the browser traps focus and closes it on Escape. */
export function Dialog({ title, onClose, children, wide = false, testid }) {
  const ref = useRef(null);
  const titleId = useId("dlg");
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
    const cancel = (event) => {
      event.preventDefault();
      onClose();
    };
    dialog.addEventListener("cancel", cancel);
    return () => dialog.removeEventListener("cancel", cancel);
  }, [onClose]);
  const backdrop = (event) => event.target === ref.current && onClose();
  return html`<dialog ref=${ref} class=${wide ? "wide" : ""} aria-labelledby=${titleId} onClick=${backdrop}
      data-testid=${testid}>
    <div class="dialog-body">
      <header class="dialog-head">
        <h2 id=${titleId}>${title}</h2>
        <button type="button" class="icon-button" aria-label=${t("close")} onClick=${onClose}>×</button>
      </header>
      ${children}
    </div>
  </dialog>`;
}

/** A slider that shows its value while dragging and commits on release (one request, not dozens). */
export function Range({ label, value, min, max, step = 1, format = String, onCommit, disabled, testid, hint }) {
  const id = useId("range");
  const [draft, setDraft] = useState(null);
  const queue = useRef({ running: false, pending: null, last: null });
  const shown = draft ?? value ?? min;
  // Keyboard users step through values: one request at a time, and only the latest value waits.
  const send = async (next) => {
    const q = queue.current;
    if (q.running) {
      q.pending = next;
      return;
    }
    q.running = true;
    q.last = next;
    let ok = false;
    try {
      ok = (await onCommit(next)) !== undefined;
    } finally {
      q.running = false;
      const pending = q.pending;
      q.pending = null;
      if (pending !== null) await send(pending);
      // on success the draft stays until the live state shows the new value (else the slider would
      // jump back to the old one for a moment); on failure it goes at once
      else if (!ok) setDraft(null);
    }
  };
  useEffect(() => {
    // the draft goes once the live state shows the last value sent (intermediate steps may arrive first),
    // or after 5 s if the owner settled on another value
    const q = queue.current;
    if (draft === null || q.running) return undefined;
    if (value === q.last) {
      setDraft(null);
      return undefined;
    }
    const timer = setTimeout(() => setDraft(null), 5000);
    return () => clearTimeout(timer);
  }, [value, draft]);
  const commit = (event) => {
    const next = Number(event.currentTarget.value);
    setDraft(next);
    send(next); // not compared with `value`: that may be a stale intermediate state of an earlier step
  };
  return html`<div class="field range">
    <label for=${id}>${label}</label>
    <output for=${id}>${format(shown)}</output>
    <input id=${id} type="range" min=${min} max=${max} step=${step} value=${shown} disabled=${disabled}
      data-testid=${testid} aria-valuetext=${format(shown)}
      onInput=${(e) => setDraft(Number(e.currentTarget.value))} onChange=${commit} />
    ${hint && html`<small class="hint">${hint}</small>`}
  </div>`;
}

/** A number input that commits on change (Enter or leaving the field). */
export function NumberInput({ label, value, min, max, step = "any", unit, onCommit, disabled, testid, hint }) {
  const id = useId("num");
  const [draft, setDraft] = useState(null);
  const commit = () => {
    if (draft === null) return;
    const text = String(draft).trim().replace(",", ".");
    setDraft(null);
    if (text === "") return;
    const next = Number(text);
    if (Number.isFinite(next) && next !== value) onCommit(next);
  };
  return html`<div class="field number">
    <label for=${id}>${label}</label>
    <span class="with-unit">
      <input id=${id} type="number" inputmode="decimal" min=${min} max=${max} step=${step}
        value=${draft ?? value ?? ""} disabled=${disabled} data-testid=${testid}
        onInput=${(e) => setDraft(e.currentTarget.value)} onChange=${commit}
        onKeyDown=${(e) => e.key === "Enter" && commit()} />
      ${unit && html`<span class="unit">${unit}</span>`}
    </span>
    ${hint && html`<small class="hint">${hint}</small>`}
  </div>`;
}

export function Toggle({ label, checked, onChange, disabled, testid, hint }) {
  const id = useId("tgl");
  return html`<div class="field toggle">
    <input id=${id} type="checkbox" role="switch" checked=${!!checked} disabled=${disabled}
      data-testid=${testid} onChange=${(e) => onChange(e.currentTarget.checked)} />
    <label for=${id}>${label}</label>
    ${hint && html`<small class="hint">${hint}</small>`}
  </div>`;
}

/** Mutually exclusive buttons (modes, phases): a labelled group of toggle buttons. */
export function Segmented({ label, options, value, onSelect, disabled, testid }) {
  return html`<div class="segmented" role="group" aria-label=${label} data-testid=${testid}>
    ${options.map(
      (option) => html`<button type="button" aria-pressed=${String(option.value === value)}
        class=${option.value === value ? "active" : ""} disabled=${disabled}
        data-value=${option.value} onClick=${() => option.value !== value && onSelect(option.value)}>
        ${option.label}</button>`,
    )}
  </div>`;
}

export function Select({ label, value, options, onChange, disabled, testid }) {
  const id = useId("sel");
  return html`<div class="field select">
    <label for=${id}>${label}</label>
    <select id=${id} disabled=${disabled} data-testid=${testid} onChange=${(e) => onChange(e.currentTarget.value)}>
      ${options.map((o) => html`<option value=${o.value} selected=${o.value === value}>${o.label}</option>`)}
    </select>
  </div>`;
}

/** Re-render every `ms` (countdowns, "in 5 min"). */
export function useTicker(ms = 1000) {
  const [, setTick] = useState(0);
  useEffect(() => {
    const timer = setInterval(() => setTick((n) => n + 1), ms);
    return () => clearInterval(timer);
  }, [ms]);
}

/** The element's width in CSS pixels, so the SVG draws at 1:1 and its text stays readable on a phone. */
export function useWidth(fallback) {
  const ref = useRef(null);
  const [width, setWidth] = useState(fallback);
  useEffect(() => {
    const element = ref.current;
    if (!element) return undefined;
    const observer = new ResizeObserver(([entry]) => setWidth(Math.max(280, Math.round(entry.contentRect.width))));
    observer.observe(element);
    return () => observer.disconnect();
  }, []);
  return [ref, width];
}
