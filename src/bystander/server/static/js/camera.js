// The device's camera (and microphone): opened only by the views that use them, the microphone only
// for modes that record sound, and released on leaving, unless this page is live with them.
import { $, guard, state } from "./core.js";
import { recording, updateControls } from "./capture.js";
import { live } from "./live.js";

export const cam = { stream: null, audio: false, noMic: false, problem: null, facing: "user" };

function cameraWanted() {
  if (state.view === "register") return { audio: false };
  if (state.view === "camera") return { audio: state.mode !== "photo" };
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
export function syncCamera() {
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
    if (cam.stream && cam.audio && !want.audio && !live.pc && !recording()) {  // the microphone off when no longer used
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
  const track = cam.stream && cam.stream.getVideoTracks()[0];
  document.body.classList.toggle("rear-camera", !!track && track.getSettings().facingMode === "environment");
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
export function releaseCamera(evenLive = false) {
  if (!cam.stream || (live.pc && !evenLive)) return;
  cam.stream.getTracks().forEach((t) => t.stop());
  cam.stream = null;
  cam.audio = false;
  $("#preview").srcObject = null;
  $("#reg-preview").srcObject = null;
}

// The camera's first frames take a moment after it opens (or switches): wait for them, a little.
export async function cameraReady(sel, wait = 5000) {
  await cameraQueue;
  for (const until = Date.now() + wait; cam.stream && !$(sel).videoWidth && Date.now() < until;) {
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!cam.stream || !$(sel).videoWidth) throw new Error(cam.problem || "The camera is not ready yet: wait a moment and try again.");
}

export async function snapshot(sel) {
  await cameraReady(sel);
  const v = $(sel);
  const c = document.createElement("canvas");
  c.width = v.videoWidth; c.height = v.videoHeight;
  c.getContext("2d").drawImage(v, 0, 0);
  return new Promise((resolve, reject) => c.toBlob((b) => (b ? resolve(b) : reject(new Error("The photo could not be taken."))), "image/jpeg", 0.92));
}

$("#retry-camera").onclick = guard(async () => { cam.problem = null; cam.noMic = false; await syncCamera(); });
$("#flip-camera").onclick = guard(async () => {
  if (recording() || live.pc) return;
  cam.facing = cam.facing === "user" ? "environment" : "user";
  releaseCamera();
  await syncCamera();
});
document.addEventListener("visibilitychange", () => {
  if (document.hidden && !live.pc && !recording()) releaseCamera();
  else if (!document.hidden) syncCamera();
});
