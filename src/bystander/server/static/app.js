"use strict";
// The whole app: views switch in place; every call goes to the JSON API with the session's token.
// Images and videos load with the HttpOnly session cookie: no token ever goes into a URL.
// The camera (and microphone) are asked for only by the views that use them and released on leaving.
const $ = (sel) => document.querySelector(sel);
const MODES = ["live", "video", "photo"];  // the strip's order, left to right
const TITLES = { landing: "bystander", camera: "bystander", register: "Faces", gallery: "Gallery", live: "Live setup",
                 result: "Result" };
const GUIDE = [
  { pose: "front", text: "look straight at the camera" },
  { pose: "left", text: "turn your head a little to your left" },
  { pose: "right", text: "turn your head a little to your right" },
  { pose: "any", text: "tilt your head slightly" },
  { pose: "front", text: "one more, straight on" },
];
let token = sessionStorage.getItem("token");
let view = "landing";
let mode = "photo";
let cam = { stream: null, audio: false, noMic: false, problem: null, facing: "user" };  // the preview camera
let live = { pc: null, state: null, timer: null, since: 0 };  // going live from this camera (WHIP)
let recorder = null;
let shots = [];  // registration shots: {blob, name, url, state: checking|ok|refused, problem, note}
let secrets = null;  // the ingest key and WHIP token in full, once the user asked to see or copy them

function say(text, ok = false) {
  const m = $("#message");
  m.textContent = text;
  m.className = ok ? "ok" : "";
  m.hidden = !text;
  clearTimeout(say.timer);
  if (text && ok) say.timer = setTimeout(() => say(""), 4000);
}

// Any failure becomes a sentence on the page, never a raw script error.
function plain(e) {
  if (e && e.name === "TypeError" && /fetch/i.test(e.message)) return "The server cannot be reached: check that bystander is still running.";
  return (e && e.message) || String(e);
}
const guard = (fn) => (...args) => Promise.resolve().then(() => fn(...args)).catch((e) => say(plain(e)));
window.addEventListener("unhandledrejection", (e) => { e.preventDefault(); say(plain(e.reason)); });

async function api(path, options = {}) {
  const headers = options.headers || {};
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(path, { ...options, headers });
  if (res.status === 401 && !path.startsWith("/api/login")) {
    await signedOut();
    throw new Error("Your session ended: sign in again.");
  }
  const body = res.status === 204 ? null : await res.json().catch(() => null);
  if (!res.ok) throw new Error((body && body.error) || `The request failed (${res.status}).`);
  return body;
}
const json = (method, body) => ({ method, body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });

// ---------- views ----------

function show(next) {
  if (recorder && next !== "camera") recorder.stop();
  view = next;
  say("");
  document.querySelectorAll(".view").forEach((v) => (v.hidden = v.id !== next));
  $("#tabs").hidden = !token;
  $("#signout").hidden = !token || next === "camera";
  $("#title").textContent = TITLES[next];
  document.body.classList.toggle("on-camera", next === "camera");
  const tab = next === "result" ? "gallery" : next;
  document.querySelectorAll("#tabs button").forEach((b) =>
    b.dataset.view === tab ? b.setAttribute("aria-current", "page") : b.removeAttribute("aria-current"));
  syncCamera();
  livePolling();
  if (next === "register") { loadPeople().catch((e) => say(plain(e))); renderShots(); }
  if (next === "gallery") loadGallery().catch((e) => say(plain(e)));
  if (next === "camera") { setMode(mode); loadThumb(); }
  if (next === "live") loadLive().catch((e) => say(plain(e)));
  if (next === "landing" || next === "live") loadNetwork();
  if (history.replaceState) history.replaceState(null, "", `#${next}`);
}

async function showLanding() {
  const { needed } = await api("/api/setup");
  $("#setup-form").hidden = !needed;
  $("#login-form").hidden = needed;
  show("landing");
}

function signedIn(t) {
  token = t;
  sessionStorage.setItem("token", t);
  show("camera");
  const pending = sessionStorage.getItem("job");
  if (pending) { setMode("video"); followJob(pending).catch((e) => say(plain(e))); }
}

// Everything of the session goes: camera and microphone, a live stream from this page, recordings.
async function signedOut() {
  token = null;
  secrets = null;
  sessionStorage.clear();
  if (recorder) { recorder.ondataavailable = null; recorder.onstop = null; recorder.stop(); recorder = null; }
  if (live.pc) { live.pc.close(); live.pc = null; }
  releaseCamera(true);
  shots = [];
  await showLanding();
}

// ---------- camera ----------

function cameraWanted() {
  if (view === "register") return { audio: false };
  if (view === "camera") return { audio: mode !== "photo" };
  return null;
}

function describeCameraError(e) {
  if (!window.isSecureContext || !navigator.mediaDevices)
    return "This browser gives the camera only to secure pages. Open bystander at its https:// address " +
           "(the Live page shows it), or on this computer at localhost. You can still pick files.";
  if (e && (e.name === "NotAllowedError" || e.name === "SecurityError"))
    return "Camera access is blocked. Allow the camera for this site in your browser's settings " +
           "(the camera icon beside the address), then press Try again. You can still pick files.";
  if (e && e.name === "NotReadableError")
    return "The camera is busy in another app or tab. Close it, then press Try again.";
  return "No camera found on this device. Connect one and press Try again, or pick a photo or video from your files.";
}

// One camera operation at a time: two overlapping requests would open the camera twice.
let cameraQueue = Promise.resolve();
function syncCamera() {
  cameraQueue = cameraQueue.then(syncCameraNow, syncCameraNow);
  return cameraQueue;
}

async function syncCameraNow() {
  const want = cameraWanted();
  if (!want) { releaseCamera(); return; }
  try {
    if (!navigator.mediaDevices || !window.isSecureContext) throw new Error("insecure");
    // The microphone joins when a mode records sound: camera and microphone then open together, in
    // one capture, so that their clocks start together.
    const audio = want.audio && !cam.noMic;
    if (cam.stream && audio && !cam.audio && !live.pc) releaseCamera();
    if (cam.stream && cam.audio && !want.audio && !live.pc && !recorder) {  // the microphone off when no longer used
      cam.stream.getAudioTracks().forEach((t) => { t.stop(); cam.stream.removeTrack(t); });
      cam.audio = false;
    }
    if (!cam.stream) {
      cam.stream = await navigator.mediaDevices.getUserMedia({
        video: { width: { ideal: 1280 }, height: { ideal: 720 }, facingMode: { ideal: cam.facing } }, audio });
      cam.audio = audio;
    }
    if (!cameraWanted()) { releaseCamera(); return; }  // the user left while the browser was asking
    cam.problem = null;
  } catch (e) {
    if (want.audio && !cam.noMic && cam.stream === null && navigator.mediaDevices && window.isSecureContext) {
      try { cam.stream = await navigator.mediaDevices.getUserMedia({ video: true }); cam.audio = false; cam.noMic = true; cam.problem = null; }
      catch (e2) { cam.problem = describeCameraError(e2); }
    } else {
      cam.problem = describeCameraError(e);
    }
  }
  attachCamera();
}

function attachCamera() {
  // A selfie view is mirrored, as in a phone's camera app; what is taken never is.
  const facing = cam.stream && cam.stream.getVideoTracks()[0] && cam.stream.getVideoTracks()[0].getSettings().facingMode;
  document.body.classList.toggle("rear-camera", facing === "environment");
  if (cam.stream && navigator.mediaDevices.enumerateDevices) {
    navigator.mediaDevices.enumerateDevices().then((all) => {
      $("#flip-camera").hidden = all.filter((d) => d.kind === "videoinput").length < 2 || !!live.pc;
    }).catch(() => {});
  }
  for (const sel of ["#preview", "#reg-preview"]) if ($(sel).srcObject !== cam.stream) $(sel).srcObject = cam.stream;
  $("#no-camera").hidden = !cam.problem;
  $("#no-camera-text").textContent = cam.problem || "";
  $("#reg-no-camera").hidden = !cam.problem;
  $("#reg-no-camera p").textContent = cam.problem || "";
  updateControls();
}

// Stop the tracks (the browser's camera light goes off), unless this page is live with them.
function releaseCamera(evenLive = false) {
  if (!cam.stream || (live.pc && !evenLive)) return;
  cam.stream.getTracks().forEach((t) => t.stop());
  cam.stream = null;
  cam.audio = false;
  $("#preview").srcObject = null;
  $("#reg-preview").srcObject = null;
}

function cameraReady(sel) {
  if (!cam.stream || !$(sel).videoWidth) throw new Error(cam.problem || "The camera is not ready yet: wait a moment and try again.");
}

function snapshot(sel) {
  cameraReady(sel);
  const v = $(sel);
  const c = document.createElement("canvas");
  c.width = v.videoWidth; c.height = v.videoHeight;
  c.getContext("2d").drawImage(v, 0, 0);
  return new Promise((resolve, reject) => c.toBlob((b) => (b ? resolve(b) : reject(new Error("The photo could not be taken."))), "image/jpeg", 0.92));
}

// ---------- camera page: modes ----------

function setMode(m) {
  if (recorder && m !== "video") return;  // finish the recording first
  mode = m;
  document.querySelectorAll(".modes button").forEach((b) => b.setAttribute("aria-selected", String(b.dataset.mode === m)));
  $("#shutter").hidden = m !== "photo";
  $("#record").hidden = m !== "video";
  $("#go-live-browser").hidden = m !== "live";
  $("#live-setup").hidden = m !== "live";
  $("#pick-label").hidden = m === "live";
  $("#pick-label").htmlFor = m === "video" ? "video-file" : "photo-file";
  $("#pick-label").setAttribute("aria-label", m === "video" ? "Pick a video from your files" : "Pick a photo from your files");
  if (view === "camera") { syncCamera(); livePolling(); }
  updateControls();
}

function updateControls() {
  const hint = $("#mode-hint");
  if (mode === "photo") hint.textContent = cam.problem ? "No camera: pick a photo from your files." : "";
  if (mode === "video") hint.textContent = recorder ? "Recording: press again to stop." : cam.problem ? "No camera: pick a video from your files." : "";
  const ls = live.state;
  const configured = ls && (ls.destinations.length > 0 || ls.record);
  const mine = !!live.pc;
  const other = ls && ls.running && !mine;
  const btn = $("#go-live-browser");
  btn.disabled = !mine && (!configured || !!cam.problem || !cam.stream || other);
  btn.classList.toggle("on", mine);
  btn.setAttribute("aria-label", mine ? "Stop" : "Go Live");
  btn.firstElementChild.textContent = mine ? "STOP" : (ls && !ls.destinations.length && ls.record ? "REC" : "LIVE");
  if (mode === "live") {
    hint.textContent = mine ? "" : cam.problem ? "No camera: stream from OBS or a phone app instead (Live setup)." :
      other ? "Live from another source: stop it on the Live setup page." :
      !ls ? "" : !configured ? "Add a destination (or choose Record to the gallery) under Destinations first." :
      ls.destinations.length ? `Goes live to ${ls.destinations.map((d) => d.name).join(", ")}${ls.record ? ", and records" : ""}.` :
      "Records to the gallery (no destinations).";
  }
  // The Live setup page: each button only when it can work.
  $("#go-live").disabled = !configured || (ls && ls.running);
  $("#stop-live").disabled = !(ls && ls.running);
}

// ---------- photo ----------

async function redactPhoto(blob, name) {
  say("Redacting…", true);
  const item = await upload("/api/photos", blob, name);
  showResult(item);
}

async function upload(path, blob, name) {
  const form = new FormData();
  form.append("file", blob, name);
  return api(path, { method: "POST", body: form });
}

// ---------- video ----------

function recorderType() {
  for (const t of ["video/webm;codecs=vp8,opus", "video/webm", "video/mp4"]) if (window.MediaRecorder && MediaRecorder.isTypeSupported(t)) return t;
  return "";
}

async function toggleRecord() {
  if (recorder) { recorder.stop(); return; }
  cameraReady("#preview");
  if (!window.MediaRecorder) throw new Error("This browser cannot record video: pick a video from your files instead.");
  const type = recorderType();
  const chunks = [];
  recorder = new MediaRecorder(cam.stream, type ? { mimeType: type } : {});
  const started = Date.now();
  const tick = setInterval(() => ($("#rec-time").textContent = clock((Date.now() - started) / 1000)), 250);
  recorder.ondataavailable = (e) => e.data.size && chunks.push(e.data);
  recorder.onstop = () => {
    clearInterval(tick);
    recorder = null;
    $("#rec-chip").hidden = true;
    $("#record").classList.remove("on");
    updateControls();
    const ext = type.startsWith("video/mp4") ? "mp4" : "webm";
    if (chunks.length) redactVideo(new Blob(chunks, { type: type || "video/webm" }), `recording.${ext}`).catch((e) => say(plain(e)));
  };
  recorder.start(1000);
  $("#rec-time").textContent = "0:00";
  $("#rec-chip").hidden = false;
  $("#record").classList.add("on");
  updateControls();
}

async function redactVideo(blob, name) {
  $("#job").hidden = false;
  $("#job-state").textContent = "Uploading…";
  $("#job-progress").removeAttribute("value");
  try {
    const job = await upload("/api/videos", blob, name);
    sessionStorage.setItem("job", job.id);
    await followJob(job.id);
  } finally {
    $("#job").hidden = true;
  }
}

async function followJob(id) {
  $("#job").hidden = false;
  try {
    for (;;) {
      const job = await api(`/api/jobs/${id}`);
      if (job.progress != null) $("#job-progress").value = job.progress;
      $("#job-state").textContent = job.state === "queued" ? "Waiting for the previous video…" :
        `Redacting${job.total_frames ? ` ${Math.round(100 * job.done_frames / job.total_frames)} %` : "…"}`;
      if (job.state === "done") {
        sessionStorage.removeItem("job");
        const items = await api("/api/gallery");
        showResult(items.find((i) => i.id === job.item));
        return;
      }
      if (job.state === "failed") {
        sessionStorage.removeItem("job");
        throw new Error(job.error);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    $("#job").hidden = true;
  }
}

// ---------- results and gallery ----------

const clock = (s) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, "0")}`;
const when = (t) => new Date(t * 1000).toLocaleString(undefined, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });

function keptText(item) {
  const kept = item.privacy ? item.privacy.kept.map((k) => `${k.person} (${k.seconds.toFixed(1)} s)`) : (item.kept || []);
  return kept.length ? `Kept visible: ${kept.join(", ")}` : "Nobody registered was seen: every face was blurred.";
}
function othersText(item) {
  const n = item.others_blurred ?? item.faces_redacted;
  return n ? `${n} other ${n === 1 ? "person" : "people"} blurred` : "Nobody else to blur.";
}

let current = null;
function showResult(item) {
  current = item;
  const media = $("#result-media");
  media.replaceChildren();
  const el = document.createElement(item.kind === "video" ? "video" : "img");
  el.src = item.url;
  el.id = "result-" + item.kind;
  if (item.kind === "video") { el.controls = true; el.playsInline = true; } else el.alt = `${item.name}, redacted`;
  media.appendChild(el);
  $("#result-kept").textContent = keptText(item);
  $("#result-others").textContent = othersText(item);
  const whole = item.privacy && item.privacy.frames_redacted_whole;
  $("#result-info").textContent = [item.kind === "video" ? `Video${item.duration ? `, ${clock(item.duration)}` : ""}` : "Photo",
    when(item.created), whole ? `${whole} frames blurred whole (not judged in time)` : ""].filter(Boolean).join(" · ");
  $("#download").href = `${item.url}?download=1`;
  $("#take-another").textContent = item.kind === "video" ? "Record another" : "Take another";
  $("#share").hidden = !navigator.share;
  show("result");
}

async function share() {
  const res = await fetch(`${current.url}?download=1`);
  const blob = await res.blob();
  const file = new File([blob], `${current.name}-redacted.${current.kind === "video" ? "mp4" : (blob.type.split("/")[1] || "jpg")}`, { type: blob.type });
  const data = navigator.canShare && navigator.canShare({ files: [file] }) ? { files: [file] } : { url: location.origin };
  await navigator.share(data).catch((e) => { if (e.name !== "AbortError") throw new Error("Sharing did not work: use Download instead."); });
}

function mediaElement(item) {
  const el = document.createElement(item.kind === "video" ? "video" : "img");
  if (item.kind === "video") { el.preload = "metadata"; el.muted = true; el.playsInline = true; el.src = `${item.url}#t=0.1`; }
  else { el.src = item.url; el.alt = ""; el.loading = "lazy"; }
  return el;
}

const svg = (d) => `<svg viewBox="0 0 24 24" aria-hidden="true"><path d="${d}"/></svg>`;
const TRASH = "M9 3h6l1 2h4v2H4V5h4zM6 8h12l-1 13H7z";
const PLAY = "M7 4v16l13-8z";

async function loadGallery() {
  const items = await api("/api/gallery");
  const grid = $("#items");
  grid.replaceChildren();
  if (!items.length) {
    const p = Object.assign(document.createElement("p"), { className: "empty", textContent: "Nothing yet: take a photo or record a video on the Camera page." });
    grid.appendChild(p);
  }
  for (const item of items) {
    const tile = document.createElement("article");
    tile.className = `tile ${item.kind}`;
    tile.dataset.id = item.id;
    const open = document.createElement("button");
    open.type = "button";
    open.className = "open";
    open.setAttribute("aria-label", `Open ${item.kind} ${item.name}`);
    open.appendChild(mediaElement(item));
    const badge = Object.assign(document.createElement("span"), { className: "badge", textContent: item.kind === "video" ? "Video" : "Photo" });
    open.appendChild(badge);
    if (item.kind === "video") {
      open.insertAdjacentHTML("beforeend", `<span class="play">${svg(PLAY)}</span>`);
      if (item.duration) open.appendChild(Object.assign(document.createElement("span"), { className: "duration", textContent: clock(item.duration) }));
    }
    open.onclick = () => showResult(item);
    const meta = document.createElement("div");
    meta.className = "meta";
    const kept = item.kept && item.kept.length ? `Kept: ${item.kept.join(", ")}` : "Nobody kept";
    const n = item.others_blurred ?? item.faces_redacted;
    meta.append(Object.assign(document.createElement("strong"), { textContent: when(item.created) }),
                document.createTextNode(`${kept} · ${n} blurred`));
    const del = document.createElement("button");
    del.type = "button";
    del.className = "delete";
    del.setAttribute("aria-label", `Delete ${item.kind} ${item.name}`);
    del.innerHTML = svg(TRASH);
    del.onclick = guard(async () => {
      if (!(await confirmed(`Delete this ${item.kind} from the gallery? It cannot be brought back.`))) return;
      await api(`/api/gallery/${item.id}`, { method: "DELETE" });
      await loadGallery();
    });
    tile.append(open, meta, del);
    grid.appendChild(tile);
  }
}

async function loadThumb() {
  const thumb = $("#gallery-thumb");
  const items = await api("/api/gallery").catch(() => []);
  thumb.replaceChildren();
  if (items.length) thumb.appendChild(mediaElement(items[0]));
}

function confirmed(text, action = "Delete") {
  const dialog = $("#confirm");
  $("#confirm-text").textContent = text;
  $("#confirm-ok").textContent = action;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true }));
}

// ---------- registration ----------

function goodShots() { return shots.filter((s) => s.state === "ok"); }

function renderShots() {
  const box = $("#shots");
  box.replaceChildren();
  shots.forEach((s, i) => {
    const li = document.createElement("li");
    li.className = s.state;
    const img = Object.assign(document.createElement("img"), { src: s.url, alt: `shot ${i + 1}` });
    const verdict = document.createElement("span");
    verdict.className = "verdict";
    verdict.textContent = s.state === "checking" ? "Checking…" : s.state === "ok" ? (s.note ? `Kept. ${cap(s.note)}` : "Good shot") : cap(s.problem);
    const rm = Object.assign(document.createElement("button"), { type: "button", className: "remove", textContent: "×" });
    rm.setAttribute("aria-label", `Remove shot ${i + 1}`);
    rm.onclick = () => { URL.revokeObjectURL(s.url); shots.splice(shots.indexOf(s), 1); renderShots(); };
    li.append(img, verdict, rm);
    box.appendChild(li);
  });
  const good = goodShots().length;
  const checking = shots.some((s) => s.state === "checking");
  $("#guide").textContent = good >= 5 ? "5 good shots: save them." : `Shot ${good + 1} of 3 to 5: ${GUIDE[good].text}.`;
  $("#take-shot").disabled = good >= 5 || checking;
  const name = $("#register-form [name=name]").value.trim();
  const warn = $("#shot-warning");
  warn.hidden = !(good > 0 && good < 3);
  warn.textContent = `Only ${good} good shot${good === 1 ? "" : "s"}: 3 to 5 from slightly different angles recognise ` +
    `${name || "this person"} far more reliably. Take more, or save anyway.`;
  const save = $("#save-person");
  save.disabled = !name || !good || checking;
  save.textContent = good && good < 3 ? "Save anyway" : "Save";
}
const cap = (s) => (s ? s[0].toUpperCase() + s.slice(1) : "");

async function addShot(blob, name, pose) {
  const shot = { blob, name, url: URL.createObjectURL(blob), state: "checking" };
  shots.push(shot);
  renderShots();
  try {
    const form = new FormData();
    form.append("pose", pose);
    form.append("shot", blob, name);
    const verdict = await api("/api/people/check", { method: "POST", body: form });
    Object.assign(shot, { state: verdict.ok ? "ok" : "refused", problem: verdict.problem, note: verdict.note });
  } catch (e) {
    Object.assign(shot, { state: "refused", problem: plain(e) });
  }
  renderShots();
}

async function loadPeople() {
  const list = await api("/api/people");
  const ul = $("#people");
  ul.replaceChildren();
  if (!list.length) ul.appendChild(Object.assign(document.createElement("li"), { textContent: "Nobody yet: every face will be blurred." }));
  for (const p of list) {
    const li = document.createElement("li");
    const who = document.createElement("span");
    who.className = "who";
    who.append(Object.assign(document.createElement("strong"), { textContent: p.name }),
               Object.assign(document.createElement("small"), { textContent: `${p.shots} shot${p.shots === 1 ? "" : "s"}` }));
    const del = Object.assign(document.createElement("button"), { type: "button", className: "quiet", textContent: "Delete" });
    del.setAttribute("aria-label", `Delete ${p.name}`);
    del.onclick = guard(async () => {
      if (!(await confirmed(`Delete ${p.name}? Their face will be blurred like everyone else's from now on.`))) return;
      await api(`/api/people/${encodeURIComponent(p.name)}`, { method: "DELETE" });
      say(`${p.name} deleted.`, true);
      await loadPeople();
    });
    li.append(who, del);
    ul.appendChild(li);
  }
}

// ---------- live ----------

function livePolling() {
  clearInterval(live.timer);
  live.timer = null;
  const watching = token && (view === "live" || (view === "camera" && mode === "live") || live.pc);
  if (!watching) { $("#live-chip").hidden = true; $("#live-pip").hidden = true; return; }
  loadLive().catch((e) => say(plain(e)));
  live.timer = setInterval(() => loadLive().catch(() => {}), 1000);
}

function statusText(ls) {
  const s = ls.status;
  if (ls.error) return `Stopped: ${ls.error}`;
  if (!ls.running) return "Not live.";
  if (!s) return "Starting…";
  return `${s.ingest}: in ${s.fps_in} fps, out ${s.fps_out} fps, ${s.latency_ms_p50 ?? "-"} ms behind the input ` +
         `(${s.delay_s} s of it look-ahead)`;
}

async function loadLive() {
  const ls = await api("/api/live");
  live.state = ls;
  $("#live-status").textContent = statusText(ls);
  const states = (ls.status && ls.status.destinations) || [];
  const stateOf = (url) => states.find((d) => d.destination === url);
  // Status per destination, and the destinations themselves.
  const st = $("#live-destinations-status");
  st.replaceChildren();
  for (const d of ls.running ? states : []) {
    const li = document.createElement("li");
    const saved = ls.destinations.find((x) => x.url === d.destination);
    const label = saved ? saved.name : d.destination.startsWith("record ") ? "Recording to the gallery" : d.destination;
    const badge = Object.assign(document.createElement("span"), { className: `dest-state ${d.state}`, textContent: d.state + (d.retry_in_s != null ? ` (again in ${Math.round(d.retry_in_s)} s)` : "") });
    li.append(Object.assign(document.createElement("span"), { textContent: label }), badge);
    st.appendChild(li);
  }
  const ul = $("#destinations");
  ul.replaceChildren();
  if (!ls.destinations.length) ul.appendChild(Object.assign(document.createElement("li"), { className: "hint", textContent: "No destination yet." }));
  for (const d of ls.destinations) {
    const li = document.createElement("li");
    const s = stateOf(d.url);
    li.append(Object.assign(document.createElement("span"), { textContent: `${d.name}: ${d.url}${s && ls.running ? ` (${s.state})` : ""}` }));
    const del = Object.assign(document.createElement("button"), { type: "button", className: "quiet", textContent: "Remove" });
    del.disabled = ls.running;
    del.onclick = guard(async () => {
      if (!(await confirmed(`Remove the destination ${d.name}? Its stream key is forgotten.`, "Remove"))) return;
      await api(`/api/live/destinations/${d.id}`, { method: "DELETE" });
      await loadLive();
    });
    li.appendChild(del);
    ul.appendChild(li);
  }
  $("#record-toggle").checked = ls.record;
  $("#ingest-url").textContent = ls.ingest.rtmp_url;
  const more = $("#ingest-more");
  more.replaceChildren(...ls.ingest.rtmp_urls.slice(1).map((u) => Object.assign(document.createElement("li"), { textContent: `also: ${u}` })));
  $("#ingest-key").textContent = secrets && $("#ingest-key").dataset.shown ? secrets.stream_key : ls.ingest.stream_key;
  $("#whip-url").textContent = ls.whip.url;
  $("#whip-more").replaceChildren(...ls.whip.urls.slice(1).map((u) => Object.assign(document.createElement("li"), { textContent: `from another device: ${u}` })));
  $("#whip-token").textContent = secrets && $("#whip-token").dataset.shown ? secrets.whip_token : ls.whip.token;
  // The redacted output: what the viewers see.
  const showing = ls.running && ls.status && ls.status.frames > 0;
  const src = `/api/live/preview.jpg?t=${Date.now()}`;
  $("#live-preview").hidden = !showing;
  if (showing && view === "live") $("#live-preview").src = src;
  $("#live-pip").hidden = !(showing && live.pc && view === "camera");
  if (!$("#live-pip").hidden) $("#live-pip").src = src;
  const chip = $("#live-chip");
  chip.hidden = !(ls.running && view === "camera");
  chip.className = "chip live";
  if (ls.running) chip.textContent = ls.status ? `● LIVE ${clock(ls.status.uptime_s || 0)} · ${Math.round(ls.status.fps_out)} fps` : "● Starting…";
  if (!ls.running && live.pc) { live.pc.close(); live.pc = null; if (ls.error) say(`Live stopped: ${ls.error}`); syncCamera(); }
  updateControls();
  return ls;
}

async function revealSecrets() {
  if (!secrets) secrets = await api("/api/live/secrets");
  return secrets;
}

async function copyText(text, what) {
  try {
    await navigator.clipboard.writeText(text);
  } catch (e) {  // no clipboard (a plain-http page on another machine): select it for a manual copy
    throw new Error(`Copying is not allowed here: press and hold the ${what} to copy it.`);
  }
  say(`${what} copied.`, true);
}

async function goLiveFromCamera() {
  if (live.pc) { await stopLive(); return; }
  await syncCamera();
  cameraReady("#preview");
  if (!cam.audio) say("Going live without sound: the microphone is not available.");
  // WHIP: the camera (and microphone) to the server over WebRTC; the server relays them, redacted.
  const pc = new RTCPeerConnection();
  live.pc = pc;
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
      headers: { "Content-Type": "application/sdp", Authorization: `Bearer ${token}` } });
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
  if (live.pc) { live.pc.close(); live.pc = null; await api("/api/live/whip", { method: "DELETE" }); }
  else await api("/api/live/stop", { method: "POST" });
  await loadLive();
  syncCamera();
}

const PRESETS = {
  youtube: { name: "YouTube", url: "rtmp://a.rtmp.youtube.com/live2" },
  twitch: { name: "Twitch", url: "rtmp://live.twitch.tv/app" },
  custom: { name: "", url: "" },
};

// ---------- network: the address a phone opens ----------

async function loadNetwork() {
  const net = await fetch("/api/network").then((r) => r.json()).catch(() => null);
  document.querySelectorAll(".phone-link").forEach((card) => {
    const box = card.querySelector(".lan");
    box.replaceChildren();
    if (!net) { card.hidden = true; return; }
    card.hidden = view === "landing" && !net.listening_on_lan;
    if (!net.listening_on_lan) {
      box.appendChild(Object.assign(document.createElement("p"), { className: "hint",
        textContent: "bystander listens on this computer only. To open it from a phone on the same Wi-Fi, start it " +
                     "with: bystander serve --host 0.0.0.0 --https" }));
      return;
    }
    for (const u of net.urls) {
      const fig = document.createElement("figure");
      fig.append(Object.assign(document.createElement("img"), { src: u.qr, alt: `QR code of ${u.url}` }),
                 Object.assign(document.createElement("code"), { textContent: u.url }));
      box.appendChild(fig);
    }
    if (!net.https) box.appendChild(Object.assign(document.createElement("p"), { className: "hint",
      textContent: "A phone's browser allows the camera only over HTTPS: start bystander with --https to use it." }));
    else box.appendChild(Object.assign(document.createElement("p"), { className: "hint",
      textContent: "Scan with the phone's camera. Its browser warns once about this server's own certificate: accept it to continue." }));
  });
}

// ---------- wiring ----------

$("#setup-form").onsubmit = guard(async (e) => {
  e.preventDefault();
  const { token: t } = await api("/api/setup", json("POST", Object.fromEntries(new FormData(e.target))));
  signedIn(t);
});
$("#login-form").onsubmit = guard(async (e) => {
  e.preventDefault();
  const { token: t } = await api("/api/login", json("POST", Object.fromEntries(new FormData(e.target))));
  signedIn(t);
});
$("#signout").onclick = guard(async () => {
  await api("/api/logout", { method: "POST" }).catch(() => {});
  await signedOut();
});
document.querySelectorAll("#tabs [data-view]").forEach((b) => (b.onclick = () => show(b.dataset.view)));
document.querySelectorAll(".modes button").forEach((b) => (b.onclick = () => setMode(b.dataset.mode)));

// Swiping across the camera changes mode, as in a phone's camera app: the finger moving right brings
// the mode on the left (Photo → Video → Live), moving left the one on the right.
let touch = null;
$("#camera").addEventListener("touchstart", (e) => (touch = { x: e.touches[0].clientX, y: e.touches[0].clientY }), { passive: true });
$("#camera").addEventListener("touchend", (e) => {
  if (!touch) return;
  const dx = e.changedTouches[0].clientX - touch.x, dy = e.changedTouches[0].clientY - touch.y;
  touch = null;
  if (Math.abs(dx) < 50 || Math.abs(dx) < 1.5 * Math.abs(dy)) return;
  const i = MODES.indexOf(mode) + (dx > 0 ? -1 : 1);
  if (i >= 0 && i < MODES.length) setMode(MODES[i]);
});

$("#retry-camera").onclick = guard(async () => { cam.problem = null; cam.noMic = false; await syncCamera(); });
$("#gallery-thumb").onclick = () => show("gallery");
$("#flip-camera").onclick = guard(async () => {
  if (recorder || live.pc) return;
  cam.facing = cam.facing === "user" ? "environment" : "user";
  releaseCamera();
  await syncCamera();
});
$("#live-setup").onclick = () => show("live");
$("#shutter").onclick = guard(async () => {
  const blob = await snapshot("#preview");
  $("#camera").classList.add("flash");
  await redactPhoto(blob, "photo.jpg");
});
$("#photo-file").onchange = guard(async (e) => { const f = e.target.files[0]; e.target.value = ""; if (f) await redactPhoto(f, f.name); });
$("#record").onclick = guard(toggleRecord);
$("#video-file").onchange = guard(async (e) => { const f = e.target.files[0]; e.target.value = ""; if (f) await redactVideo(f, f.name); });
$("#take-another").onclick = () => { show("camera"); setMode(current && current.kind === "video" ? "video" : "photo"); };
$("#share").onclick = guard(share);

$("#register-form [name=name]").addEventListener("input", renderShots);
$("#take-shot").onclick = guard(async () => {
  const pose = GUIDE[Math.min(goodShots().length, GUIDE.length - 1)].pose;
  await addShot(await snapshot("#reg-preview"), `shot${shots.length + 1}.jpg`, pose);
});
$("#shot-files").onchange = guard(async (e) => {
  const files = [...e.target.files];
  e.target.value = "";
  await Promise.all(files.map((f) => addShot(f, f.name, "any")));
});
$("#register-form").onsubmit = guard(async (e) => {
  e.preventDefault();
  const good = goodShots();
  const name = e.target.name.value.trim();
  if (!name) throw new Error("Give the person a name first.");
  if (!good.length) throw new Error("Take at least one good shot first.");
  const form = new FormData();
  form.append("name", name);
  good.forEach((s) => form.append("shot", s.blob, s.name));
  const person = await api("/api/people", { method: "POST", body: form });
  shots.forEach((s) => URL.revokeObjectURL(s.url));
  shots = [];
  e.target.reset();
  renderShots();
  say(`${person.name} registered (${person.shots} shot${person.shots === 1 ? "" : "s"}).`, true);
  await loadPeople();
});

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
$("#new-key").onclick = guard(async () => {
  if (!(await confirmed("Make a new stream key? OBS and phone apps using the old one can no longer publish.", "New key"))) return;
  await api("/api/live/key", { method: "POST" });
  secrets = null;
  await revealSecrets();
  $("#ingest-key").dataset.shown = "1";
  $("#show-key").textContent = "Hide";
  await loadLive();
});
$("#new-token").onclick = guard(async () => {
  if (!(await confirmed("Make a new WHIP token? Encoders using the old one can no longer publish.", "New token"))) return;
  await api("/api/live/whip-token", { method: "POST" });
  secrets = null;
  await revealSecrets();
  $("#whip-token").dataset.shown = "1";
  $("#show-token").textContent = "Hide";
  await loadLive();
});
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
$("#camera").addEventListener("animationend", () => $("#camera").classList.remove("flash"));
document.addEventListener("visibilitychange", () => { if (document.hidden && !live.pc && !recorder) releaseCamera(); else if (!document.hidden) syncCamera(); });

setMode("photo");
(token ? api("/api/people").then(() => signedIn(token)) : showLanding()).catch(() => showLanding().catch((e) => say(plain(e))));
