// The camera page: modes in a strip (Live · Video · Photo, tapped or swiped), the shutter, recording,
// file picks, and a video's background job followed to its result.
import { $, api, clock, guard, plain, say, state, upload } from "./core.js";
import { cam, cameraReady, snapshot, syncCamera } from "./camera.js";
import { live, livePolling } from "./live.js";
import { showResult } from "./results.js";
import { show } from "../app.js";

export const MODES = ["live", "video", "photo"];  // the strip's order, left to right
let recorder = null;

export const recording = () => recorder !== null;

// Ends a recording: kept (redacted like any other) when the user leaves the camera page, dropped
// when the session ends.
export function stopRecording(keep = true) {
  if (!recorder) return;
  if (keep) { recorder.stop(); return; }
  recorder.ondataavailable = null;
  recorder.onstop = null;
  recorder.stop();
  recorder = null;
  $("#rec-chip").hidden = true;
  $("#record").classList.remove("on");
}

export function setMode(m) {
  if (recorder && m !== "video") return;  // finish the recording first
  state.mode = m;
  document.querySelectorAll(".modes button").forEach((b) => b.setAttribute("aria-selected", String(b.dataset.mode === m)));
  $("#shutter").hidden = m !== "photo";
  $("#record").hidden = m !== "video";
  $("#go-live-browser").hidden = m !== "live";
  $("#live-setup").hidden = m !== "live";
  $("#pick-label").hidden = m === "live";
  $("#pick-label").htmlFor = m === "video" ? "video-file" : "photo-file";
  $("#pick-label").setAttribute("aria-label", m === "video" ? "Pick a video from your files" : "Pick a photo from your files");
  if (state.view === "camera") { syncCamera(); livePolling(); }
  updateControls();
}

// Each control says what it will do, and is enabled only when it can work.
export function updateControls() {
  const hint = $("#mode-hint");
  if (state.mode === "photo") hint.textContent = cam.problem ? "No camera: pick a photo from your files." : "";
  if (state.mode === "video") hint.textContent = recorder ? "Recording: press again to stop." : cam.problem ? "No camera: pick a video from your files." : "";
  const ls = live.state;
  const configured = ls && (ls.destinations.length > 0 || ls.record);
  const mine = !!live.pc;
  const other = ls && ls.running && !mine;
  const btn = $("#go-live-browser");
  btn.disabled = !mine && (!configured || !!cam.problem || !cam.stream || other);
  btn.classList.toggle("on", mine);
  btn.setAttribute("aria-label", mine ? "Stop" : "Go Live");
  btn.firstElementChild.textContent = mine ? "STOP" : (ls && !ls.destinations.length && ls.record ? "REC" : "LIVE");
  if (state.mode === "live") {
    hint.textContent = mine ? "" : cam.problem ? "No camera: stream from OBS or a phone app instead (Live setup)." :
      other ? "Live from another source: stop it on the Live setup page." :
      !ls ? "" : !configured ? "Add a destination (or choose Record to the gallery) on the Live setup page first." :
      ls.destinations.length ? `Goes live to ${ls.destinations.map((d) => d.name).join(", ")}${ls.record ? ", and records" : ""}.` :
      "Records to the gallery (no destinations).";
  }
}

async function redactPhoto(blob, name) {
  say("Redacting…", true);
  showResult(await upload("/api/photos", blob, name));
}

function recorderType() {
  for (const t of ["video/webm;codecs=vp8,opus", "video/webm", "video/mp4"]) if (window.MediaRecorder && MediaRecorder.isTypeSupported(t)) return t;
  return "";
}

async function toggleRecord() {
  if (recorder) { recorder.stop(); return; }
  await cameraReady("#preview");
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

// A job outlives the page: after a reload the page finds it again (its id kept for the session).
export async function followJob(id) {
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
  const i = MODES.indexOf(state.mode) + (dx > 0 ? -1 : 1);
  if (i >= 0 && i < MODES.length) setMode(MODES[i]);
});

$("#gallery-thumb").onclick = () => show("gallery");
$("#live-setup").onclick = () => show("live");
$("#shutter").onclick = guard(async () => {
  const blob = await snapshot("#preview");
  $("#camera").classList.add("flash");
  await redactPhoto(blob, "photo.jpg");
});
$("#camera").addEventListener("animationend", () => $("#camera").classList.remove("flash"));
$("#photo-file").onchange = guard(async (e) => { const f = e.target.files[0]; e.target.value = ""; if (f) await redactPhoto(f, f.name); });
$("#record").onclick = guard(toggleRecord);
$("#video-file").onchange = guard(async (e) => { const f = e.target.files[0]; e.target.value = ""; if (f) await redactVideo(f, f.name); });
