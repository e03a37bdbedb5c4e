// Live: the setup page (destinations with presets, record only, the ingest and WHIP addresses with
// their secrets, status per destination, the redacted preview) and going live from this camera (WHIP).
import { $, api, clock, confirmed, el, guard, json, plain, say, state } from "./core.js";
import { cam, cameraReady, syncCamera } from "./camera.js";
import { updateControls } from "./capture.js";

// pc: this page's WebRTC session while live; seen: the server has reported it running (until then a
// poll saying "not running" is the session starting, not ending).
export const live = { pc: null, seen: false, state: null, timer: null };
let secrets = null;  // the ingest key and WHIP token in full, once the user asked to see or copy them

const PRESETS = {
  youtube: { name: "YouTube", url: "rtmp://a.rtmp.youtube.com/live2" },
  twitch: { name: "Twitch", url: "rtmp://live.twitch.tv/app" },
  custom: { name: "", url: "" },
};

export function forgetSecrets() { secrets = null; }

// Ends this page's own stream (sign-out): the server stops the relay once the connection closes.
export function dropLive() {
  if (live.pc) { live.pc.close(); live.pc = null; }
  live.seen = false;
}

export function livePolling() {
  clearInterval(live.timer);
  live.timer = null;
  const watching = state.token && (state.view === "live" || (state.view === "camera" && state.mode === "live") || live.pc);
  if (!watching) { $("#live-chip").hidden = true; $("#live-pip").hidden = true; return; }
  loadLive().catch((e) => say(plain(e)));
  live.timer = setInterval(() => loadLive().catch(() => {}), 1000);
}

function statusText(ls) {
  const s = ls.status;
  if (ls.error) return `Stopped: ${ls.error}`;
  if (!ls.running) return "Not live.";
  if (!s) return "Starting…";
  const machine = s.machine ? ` ${s.machine[0].toUpperCase()}${s.machine.slice(1)}.` : "";
  if (s.ingest === "waiting") return "Waiting for video: start streaming from OBS, a phone app or this camera.";
  if (s.ingest === "reconnecting") return "The video stopped coming in: waiting for it to come back." + machine;
  const behind = s.latency_ms_p50 == null ? "" : `, ${(s.latency_ms_p50 / 1000).toFixed(1)} s behind the camera`;
  return `Live for ${clock(s.uptime_s || 0)}: ${Math.round(s.fps_out)} fps out${behind}.${machine}`;
}

// The gallery's own recording, beside the destinations that reach viewers.
const recording = (d) => d.destination.startsWith("record ");

// Each destination's name: the one the streamer saved, or what it is.
function destinationName(ls, d) {
  const saved = ls.destinations.find((x) => x.url === d.destination);
  return saved ? saved.name : recording(d) ? "Recording to the gallery" : d.destination;
}

// The destinations that failed to take the stream (an error since they were last live).
function troubled(states) { return states.filter((d) => d.error && d.state !== "live"); }

function renderDestinations(ls) {
  const states = (ls.running && ls.status && ls.status.destinations) || [];
  $("#live-destinations-status").replaceChildren(...states.map((d) => {
    const li = el("li");
    li.append(el("span", { textContent: destinationName(ls, d) }),
              el("span", { className: `dest-state ${d.state}`, textContent: d.health }));
    return li;
  }));
  const ul = $("#destinations");
  ul.replaceChildren();
  if (!ls.destinations.length) ul.appendChild(el("li", { className: "hint", textContent: "No destination yet." }));
  for (const d of ls.destinations) {
    const s = states.find((x) => x.destination === d.url);
    const del = el("button", { type: "button", className: "quiet", textContent: "Remove", disabled: ls.running });
    del.onclick = guard(async () => {
      if (!(await confirmed(`Remove the destination ${d.name}? Its stream key is forgotten.`, "Remove"))) return;
      await api(`/api/live/destinations/${d.id}`, { method: "DELETE" });
      await loadLive();
    });
    const li = el("li");
    li.append(el("span", { textContent: `${d.name}: ${d.url}${s ? ` (${s.state})` : ""}` }), del);
    ul.appendChild(li);
  }
}

export async function loadLive() {
  const ls = await api("/api/live");
  live.state = ls;
  $("#live-status").textContent = statusText(ls);
  renderDestinations(ls);
  $("#record-toggle").checked = ls.record;
  $("#ingest-url").textContent = ls.ingest.rtmp_url;
  $("#ingest-more").replaceChildren(...ls.ingest.rtmp_urls.slice(1).map((u) => el("li", { textContent: `also: ${u}` })));
  $("#ingest-key").textContent = secrets && $("#ingest-key").dataset.shown ? secrets.stream_key : ls.ingest.stream_key;
  $("#whip-url").textContent = ls.whip.url;
  $("#whip-more").replaceChildren(...ls.whip.urls.slice(1).map((u) => el("li", { textContent: `from another device: ${u}` })));
  $("#whip-token").textContent = secrets && $("#whip-token").dataset.shown ? secrets.whip_token : ls.whip.token;
  // The redacted output: what the viewers see.
  const showing = ls.running && ls.status && ls.status.frames > 0;
  const src = `/api/live/preview.jpg?t=${Date.now()}`;
  $("#live-preview").hidden = !showing;
  if (showing && state.view === "live") $("#live-preview").src = src;
  $("#live-pip").hidden = !(showing && live.pc && state.view === "camera");
  if (!$("#live-pip").hidden) $("#live-pip").src = src;
  renderHealth(ls);
  if (live.pc && ls.running) live.seen = true;
  if (live.pc && live.seen && !ls.running) { dropLive(); if (ls.error) say(`Live stopped: ${ls.error}`); syncCamera(); }
  // Each button only when it can work.
  $("#go-live").disabled = !(ls.destinations.length || ls.record) || ls.running;
  $("#stop-live").disabled = !ls.running;
  $("#go-live-hint").textContent = ls.running ? "Live now: Stop ends it." : !(ls.destinations.length || ls.record) ?
    "Add a destination below, or tick Record to the gallery, to go live." : "";
  updateControls();
  return ls;
}

// The Camera page's badge and, when a destination is not taking the stream, why: amber while some
// viewers are reached, dark while none is.
function renderHealth(ls) {
  const chip = $("#live-chip");
  const onCamera = ls.running && state.view === "camera";
  chip.hidden = !onCamera;
  const states = (ls.running && ls.status && ls.status.destinations) || [];
  const viewers = states.filter((d) => !recording(d));
  const bad = troubled(states);
  const badViewers = troubled(viewers);
  const none = viewers.length > 0 && badViewers.length === viewers.length;
  chip.className = `chip live${none ? " down" : bad.length ? " warn" : ""}`;
  if (ls.running) {
    const uptime = ls.status ? clock(ls.status.uptime_s || 0) : "";
    chip.textContent = !ls.status ? "● Starting…" :
      none ? `● NOT REACHING VIEWERS ${uptime}` :
      bad.length ? `● LIVE ${uptime} · ${bad.length} not reached` :
      `● LIVE ${uptime} · ${Math.round(ls.status.fps_out)} fps`;
  }
  const health = $("#live-health");
  health.hidden = !(onCamera && bad.length);
  health.textContent = bad.map((d) => `${destinationName(ls, d)}: ${d.health}`).join(" · ");
}

async function revealSecrets() {
  if (!secrets) secrets = await api("/api/live/secrets");
  return secrets;
}

async function copyText(text, what) {
  try {
    await navigator.clipboard.writeText(text);
  } catch (e) {  // no clipboard (a plain-http page on another machine)
    throw new Error(`Copying is not allowed here: press and hold the ${what} to copy it.`);
  }
  say(`${what} copied.`, true);
}

async function goLiveFromCamera() {
  if (live.pc) { await stopLive(); return; }
  await syncCamera();
  await cameraReady("#preview");
  if (!cam.audio) say("Going live without sound: the microphone is not available.");
  // WHIP: the camera (and microphone) to the server over WebRTC; the server relays them, redacted.
  const pc = new RTCPeerConnection();
  live.pc = pc;
  live.seen = false;
  // Keep the picture's size when the machine is busy: lower the frame rate, not the resolution.
  cam.stream.getVideoTracks().forEach((t) => (t.contentHint = "detail"));
  cam.stream.getTracks().forEach((t) => pc.addTransceiver(t, { direction: "sendonly" }));
  try {
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((resolve) => {
      if (pc.iceGatheringState === "complete") return resolve();
      pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && resolve();
      setTimeout(resolve, 3000);
    });
    const res = await fetch("/api/live/whip", { method: "POST", body: pc.localDescription.sdp,
      headers: { "Content-Type": "application/sdp", Authorization: `Bearer ${state.token}` } });
    if (!res.ok) throw new Error(((await res.json().catch(() => null)) || {}).error || `Going live failed (${res.status}).`);
    await pc.setRemoteDescription({ type: "answer", sdp: await res.text() });
  } catch (e) {
    pc.close();
    live.pc = null;
    throw e;
  }
  livePolling();
}

async function stopLive() {
  if (live.pc) { dropLive(); await api("/api/live/whip", { method: "DELETE" }); }
  else await api("/api/live/stop", { method: "POST" });
  await loadLive();
  syncCamera();
}

async function newSecret(path, question, action, field, button) {
  if (!(await confirmed(question, action))) return;
  await api(path, { method: "POST" });
  secrets = null;
  await revealSecrets();
  $(field).dataset.shown = "1";
  $(button).textContent = "Hide";
  await loadLive();
}

$("#preset").onchange = (e) => {
  const p = PRESETS[e.target.value];
  const f = $("#destination-form");
  f.name.value = p.name;
  f.url.value = p.url;
  f.url.placeholder = e.target.value === "custom" ? "rtmp://server/app" : "";
  f.key.focus();
};
$("#destination-form").onsubmit = guard(async (e) => {
  e.preventDefault();
  const { name, url, key } = Object.fromEntries(new FormData(e.target));
  await api("/api/live/destinations", json("POST", { name, url, key }));
  e.target.key.value = "";
  say(`${name} added.`, true);
  await loadLive();
});
$("#record-toggle").onchange = guard(async (e) => { await api("/api/live/settings", json("PUT", { record: e.target.checked })); await loadLive(); });
$("#go-live").onclick = guard(async () => { await api("/api/live/start", { method: "POST" }); await loadLive(); });
$("#stop-live").onclick = guard(stopLive);
$("#go-live-browser").onclick = guard(goLiveFromCamera);
$("#new-key").onclick = guard(() => newSecret("/api/live/key", "Make a new stream key? OBS and phone apps using the old one can no longer publish.",
                                              "New key", "#ingest-key", "#show-key"));
$("#new-token").onclick = guard(() => newSecret("/api/live/whip-token", "Make a new WHIP token? Encoders using the old one can no longer publish.",
                                                "New token", "#whip-token", "#show-token"));
// Show / Hide: a secret is on screen only while the user wants it there.
for (const [button, field] of [["#show-key", "#ingest-key"], ["#show-token", "#whip-token"]]) {
  $(button).onclick = guard(async () => {
    const shown = !$(field).dataset.shown;
    if (shown) { await revealSecrets(); $(field).dataset.shown = "1"; } else delete $(field).dataset.shown;
    $(button).textContent = shown ? "Hide" : "Show";
    await loadLive();
  });
}
document.querySelectorAll("button.copy").forEach((b) => (b.onclick = guard(async () => {
  if (b.dataset.secret) {
    const s = await revealSecrets();
    await copyText(s[b.dataset.secret], b.dataset.secret === "stream_key" ? "Stream key" : "WHIP token");
  } else {
    await copyText($(b.dataset.copy).textContent, b.dataset.copy === "#whip-url" ? "WHIP URL" : "Server URL");
  }
})));
