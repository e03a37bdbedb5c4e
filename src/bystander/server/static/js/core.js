// What every part of the page shares: the session's state, the JSON API, messages, the confirmation
// dialog and small formatting helpers. Any failure becomes a sentence on the page, never a raw script error.
import { signedOut } from "../app.js";

export const $ = (sel) => document.querySelector(sel);
export const state = { token: sessionStorage.getItem("token"), view: "landing", mode: "photo" };

export function say(text, ok = false) {
  const m = $("#message");
  m.textContent = text;
  m.className = ok ? "ok" : "";
  m.hidden = !text;
  clearTimeout(say.timer);
  if (text && ok) say.timer = setTimeout(() => say(""), 4000);
}

export function plain(e) {
  if (e && e.name === "TypeError" && /fetch/i.test(e.message)) return "The server cannot be reached: check that bystander is still running.";
  return (e && e.message) || String(e);
}
export const guard = (fn) => (...args) => Promise.resolve().then(() => fn(...args)).catch((e) => say(plain(e)));
window.addEventListener("unhandledrejection", (e) => { e.preventDefault(); say(plain(e.reason)); });

export async function api(path, options = {}) {
  const headers = options.headers || {};
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  const res = await fetch(path, { ...options, headers });
  if (res.status === 401 && !path.startsWith("/api/login")) {
    await signedOut();
    throw new Error("Your session ended: sign in again.");
  }
  const body = res.status === 204 ? null : await res.json().catch(() => null);
  if (!res.ok) throw new Error((body && body.error) || `The request failed (${res.status}).`);
  return body;
}
export const json = (method, body) => ({ method, body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });

export async function upload(path, blob, name) {
  const form = new FormData();
  form.append("file", blob, name);
  return api(path, { method: "POST", body: form });
}

// A question in the page's own dialog, resolved true when the user chose the action.
export function confirmed(text, action = "Delete") {
  const dialog = $("#confirm");
  $("#confirm-text").textContent = text;
  $("#confirm-ok").textContent = action;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true }));
}

// Whole seconds, to the nearest: a 9.97 s clip reads 0:10, as players show it.
export const clock = (s) => { const r = Math.round(s); return `${Math.floor(r / 60)}:${String(r % 60).padStart(2, "0")}`; };
export const when = (t) => new Date(t * 1000).toLocaleString(undefined, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
export const cap = (s) => (s ? s[0].toUpperCase() + s.slice(1) : "");
export const svg = (d) => `<svg viewBox="0 0 24 24" aria-hidden="true"><path d="${d}"/></svg>`;
export const el = (tag, props = {}) => Object.assign(document.createElement(tag), props);
