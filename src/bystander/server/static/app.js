"use strict";
// The whole page: views switch in place; every call goes to the JSON API with the session's token.
// Images and videos load with the HttpOnly session cookie: no token ever goes into a URL.
const $ = (sel) => document.querySelector(sel);
let token = sessionStorage.getItem("token");
let stream = null;
let mode = "photo";
let shots = [];

function say(text, ok = false) {
  const m = $("#message");
  m.textContent = text;
  m.className = ok ? "ok" : "";
  m.hidden = !text;
}

async function api(path, options = {}) {
  const headers = options.headers || {};
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(path, { ...options, headers });
  if (res.status === 401 && !path.startsWith("/api/login")) {
    token = null;
    sessionStorage.removeItem("token");
    await showLanding();
  }
  const body = res.status === 204 ? null : await res.json().catch(() => null);
  if (!res.ok) throw new Error((body && body.error) || `request failed (${res.status})`);
  return body;
}

function show(view) {
  document.querySelectorAll(".view").forEach((v) => (v.hidden = v.id !== view));
  $("#nav").hidden = !token;
  if (view === "camera" || view === "register") startCamera();
  if (view === "register") loadPeople();
  if (view === "gallery") loadGallery();
  location.hash = view;
}

async function showLanding() {
  const { needed } = await api("/api/setup");
  $("#setup-form").hidden = !needed;
  $("#login-form").hidden = needed;
  show("landing");
}

async function startCamera() {
  if (stream || !navigator.mediaDevices) return;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: 1280, height: 720 }, audio: true });
  } catch (e) {
    try { stream = await navigator.mediaDevices.getUserMedia({ video: true }); } catch (e2) { return; }
  }
  $("#preview").srcObject = stream;
  $("#reg-preview").srcObject = stream;
}

function snapshot(sel = "#preview") {
  const v = $(sel);
  const c = document.createElement("canvas");
  c.width = v.videoWidth; c.height = v.videoHeight;
  c.getContext("2d").drawImage(v, 0, 0);
  return new Promise((resolve) => c.toBlob(resolve, "image/jpeg", 0.95));
}

async function loadLive() {
  const live = await api("/api/live");
  $("#ingest-url").textContent = live.ingest.rtmp_url;
  $("#whip-url").textContent = `${location.origin}/api/live/whip`;
  if (!$("#ingest-key").dataset.fresh) $("#ingest-key").textContent = live.ingest.stream_key;
  const ul = $("#destinations");
  ul.innerHTML = "";
  live.destinations.forEach((d) => {
    const li = document.createElement("li");
    li.textContent = `${d.name}: ${d.url} `;
    const del = document.createElement("button");
    del.textContent = "Remove";
    del.onclick = guard(async () => { await api(`/api/live/destinations/${d.id}`, { method: "DELETE" }); loadLive(); });
    li.appendChild(del);
    ul.appendChild(li);
  });
  const preview = $("#live-preview");
  preview.hidden = !(live.running && live.status && live.status.frames > 0);
  if (!preview.hidden) preview.src = `/api/live/preview.jpg?t=${Date.now()}`;
  const s = live.status;
  $("#live-status").textContent = live.error ? `Stopped: ${live.error}` : !live.running ? "Not live." :
    !s ? "Starting…" : `${s.ingest}: in ${s.fps_in} fps, out ${s.fps_out} fps, ` +
    `${s.latency_ms_p50 ?? "-"} ms behind the input (${s.delay_s} s of it look-ahead); ` +
    s.destinations.map((d) => `${d.destination} ${d.state}`).join(", ");
  return live;
}

let liveTimer = null;
function setMode(m) {
  mode = m;
  clearInterval(liveTimer);
  if (m === "live" && token) { loadLive().catch((e) => say(e.message)); liveTimer = setInterval(() => loadLive().catch(() => {}), 1000); }
  document.querySelectorAll(".modes button").forEach((b) => b.setAttribute("aria-selected", b.dataset.mode === m));
  document.querySelectorAll(".mode").forEach((d) => (d.hidden = d.id !== `mode-${m}`));
}

async function upload(path, blob, name) {
  const form = new FormData();
  form.append("file", blob, name);
  return api(path, { method: "POST", body: form });
}

async function redactPhoto(blob, name) {
  say("Redacting…", true);
  const item = await upload("/api/photos", blob, name);
  showResult(item);
}

function showResult(item) {
  say("");
  const media = $("#result-media");
  media.innerHTML = "";
  const el = document.createElement(item.kind === "video" ? "video" : "img");
  el.src = item.url;
  if (item.kind === "video") el.controls = true;
  el.id = "result-" + item.kind;
  media.appendChild(el);
  $("#result-info").textContent = `${item.faces_redacted} face(s) redacted` +
    (item.kept && item.kept.length ? `, kept: ${item.kept.join(", ")}` : "");
  $("#download").href = `${item.url}?download=1`;
  show("result");
}

async function redactVideo(blob, name) {
  const job = await upload("/api/videos", blob, name);
  sessionStorage.setItem("job", job.id);
  followJob(job.id);
}

async function followJob(id) {
  $("#job").hidden = false;
  for (;;) {
    const job = await api(`/api/jobs/${id}`);
    $("#job-progress").value = job.progress || 0;
    $("#job-state").textContent = job.state + (job.total_frames ? ` ${job.done_frames}/${job.total_frames} frames` : "");
    if (job.state === "done") {
      sessionStorage.removeItem("job");
      $("#job").hidden = true;
      const items = await api("/api/gallery");
      showResult(items.find((i) => i.id === job.item));
      return;
    }
    if (job.state === "failed") {
      sessionStorage.removeItem("job");
      say(job.error);
      return;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

let recorder = null;
async function toggleRecord() {
  if (recorder) { recorder.stop(); return; }
  const chunks = [];
  recorder = new MediaRecorder(stream, { mimeType: "video/webm" });
  recorder.ondataavailable = (e) => chunks.push(e.data);
  recorder.onstop = () => {
    recorder = null;
    $("#record").textContent = "Record";
    redactVideo(new Blob(chunks, { type: "video/webm" }), "recording.webm").catch((e) => say(e.message));
  };
  recorder.start();
  $("#record").textContent = "Stop";
}

const GUIDE = ["look straight at the camera", "turn a little to your left", "turn a little to your right",
               "tilt your head slightly", "one more, straight on"];
function renderShots() {
  const box = $("#shots");
  box.innerHTML = "";
  shots.forEach((s) => {
    const img = document.createElement("img");
    img.src = URL.createObjectURL(s.blob);
    box.appendChild(img);
  });
  $("#guide").textContent = shots.length < 5 ? `Shot ${shots.length + 1} of 3-5: ${GUIDE[shots.length]}.` : "5 shots taken.";
}

async function loadPeople() {
  const people = await api("/api/people");
  const ul = $("#people");
  ul.innerHTML = "";
  if (!people.length) ul.innerHTML = "<li>Nobody yet: every face will be blurred.</li>";
  people.forEach((p) => {
    const li = document.createElement("li");
    li.textContent = `${p.name} (${p.shots} shot${p.shots === 1 ? "" : "s"}) `;
    const del = document.createElement("button");
    del.textContent = "Delete";
    del.onclick = async () => { await api(`/api/people/${encodeURIComponent(p.name)}`, { method: "DELETE" }); loadPeople(); };
    li.appendChild(del);
    ul.appendChild(li);
  });
}

async function loadGallery() {
  const items = await api("/api/gallery");
  const grid = $("#items");
  grid.innerHTML = items.length ? "" : "<p>Nothing yet.</p>";
  items.forEach((item) => {
    const a = document.createElement("a");
    a.href = "#";
    a.onclick = (e) => { e.preventDefault(); showResult(item); };
    const el = document.createElement(item.kind === "video" ? "video" : "img");
    el.src = item.url;
    a.appendChild(el);
    grid.appendChild(a);
  });
}

function signedIn(t) {
  token = t;
  sessionStorage.setItem("token", t);
  say("");
  show("camera");
  const pending = sessionStorage.getItem("job");
  if (pending) { setMode("video"); followJob(pending).catch((e) => say(e.message)); }
}

function formJSON(form) { return JSON.stringify(Object.fromEntries(new FormData(form))); }
const guard = (fn) => (...args) => Promise.resolve(fn(...args)).catch((e) => say(e.message));

$("#setup-form").onsubmit = guard(async (e) => {
  e.preventDefault();
  const { token } = await api("/api/setup", { method: "POST", body: formJSON(e.target), headers: { "Content-Type": "application/json" } });
  signedIn(token);
});
$("#login-form").onsubmit = guard(async (e) => {
  e.preventDefault();
  const { token } = await api("/api/login", { method: "POST", body: formJSON(e.target), headers: { "Content-Type": "application/json" } });
  signedIn(token);
});
$("#signout").onclick = guard(async () => {
  await api("/api/logout", { method: "POST" });
  sessionStorage.clear(); token = null; showLanding();
});
document.querySelectorAll("nav [data-view]").forEach((b) => (b.onclick = () => show(b.dataset.view)));
document.querySelectorAll(".modes button").forEach((b) => (b.onclick = () => setMode(b.dataset.mode)));
let touchX = null;
$("#camera").addEventListener("touchstart", (e) => (touchX = e.touches[0].clientX));
$("#camera").addEventListener("touchend", (e) => {
  const dx = e.changedTouches[0].clientX - touchX;
  const order = ["live", "video", "photo"];
  if (Math.abs(dx) > 60) setMode(order[Math.max(0, Math.min(2, order.indexOf(mode) + (dx < 0 ? 1 : -1)))]);
});
$("#shutter").onclick = guard(async () => redactPhoto(await snapshot(), "photo.jpg"));
$("#photo-file").onchange = guard(async (e) => redactPhoto(e.target.files[0], e.target.files[0].name));
$("#record").onclick = guard(toggleRecord);
$("#video-file").onchange = guard(async (e) => redactVideo(e.target.files[0], e.target.files[0].name));
$("#take-shot").onclick = guard(async () => { if (shots.length < 5) { shots.push({ blob: await snapshot("#reg-preview"), name: `shot${shots.length + 1}.jpg` }); renderShots(); } });
$("#shot-files").onchange = (e) => { for (const f of e.target.files) shots.push({ blob: f, name: f.name }); renderShots(); };
$("#register-form").onsubmit = guard(async (e) => {
  e.preventDefault();
  const form = new FormData();
  form.append("name", e.target.name.value);
  shots.forEach((s) => form.append("shot", s.blob, s.name));
  const person = await api("/api/people", { method: "POST", body: form });
  shots = []; renderShots(); e.target.reset();
  say(`${person.name} registered (${person.shots} shots).`, true);
  loadPeople();
});

$("#new-key").onclick = guard(async () => {
  const { stream_key } = await api("/api/live/key", { method: "POST" });
  $("#ingest-key").textContent = stream_key;  // shown this once
  $("#ingest-key").dataset.fresh = "1";
});
$("#destination-form").onsubmit = guard(async (e) => {
  e.preventDefault();
  await api("/api/live/destinations", { method: "POST", body: formJSON(e.target), headers: { "Content-Type": "application/json" } });
  e.target.reset();
  loadLive();
});
$("#go-live").onclick = guard(async () => { await api("/api/live/start", { method: "POST" }); loadLive(); });
let pc = null;
$("#go-live-browser").onclick = guard(async () => {
  // WHIP: camera and microphone to the server over WebRTC; the server relays them, redacted.
  const media = await navigator.mediaDevices.getUserMedia({
    video: { width: 1280, height: 720, frameRate: 30 }, audio: true });
  pc = new RTCPeerConnection();
  // Keep 720p when the machine is busy: lower the frame rate's quality, not the picture's size.
  media.getVideoTracks().forEach((t) => (t.contentHint = "detail"));
  media.getTracks().forEach((t) => pc.addTransceiver(t, { direction: "sendonly" }));
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") return resolve();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && resolve();
    setTimeout(resolve, 3000);
  });
  const res = await fetch("/api/live/whip", { method: "POST", body: pc.localDescription.sdp,
    headers: { "Content-Type": "application/sdp", Authorization: `Bearer ${token}` } });
  if (!res.ok) { pc.close(); pc = null; throw new Error((await res.json()).error); }
  await pc.setRemoteDescription({ type: "answer", sdp: await res.text() });
  loadLive();
});
$("#stop-live").onclick = guard(async () => {
  if (pc) { pc.close(); pc = null; await api("/api/live/whip", { method: "DELETE" }); }
  else await api("/api/live/stop", { method: "POST" });
  loadLive();
});

setMode("photo");
renderShots();
(token ? api("/api/people").then(() => signedIn(token)) : showLanding()).catch(() => showLanding());
