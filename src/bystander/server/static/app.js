// The web app: views switch in place, each part in its own module under js/. Every call goes to the
// JSON API with the session's token; images and videos load with the HttpOnly session cookie, so no
// token ever goes into a URL.
import { $, api, guard, json, plain, say, state } from "./js/core.js";
import { releaseCamera, syncCamera } from "./js/camera.js";
import { followJob, setMode, stopRecording } from "./js/capture.js";
import { dropLive, forgetSecrets, livePolling, loadLive } from "./js/live.js";
import { loadNetwork } from "./js/network.js";
import { clearShots, loadPeople, nudgeRegistration, renderShots } from "./js/register.js";
import { loadGallery, loadThumb } from "./js/results.js";

const TITLES = { landing: "bystander", camera: "bystander", register: "Faces", gallery: "Gallery", live: "Live setup",
                 result: "Result" };

export function show(next) {
  if (next !== "camera") stopRecording();
  state.view = next;
  say("");  // a message belongs to the page it was said on
  document.querySelectorAll(".view").forEach((v) => (v.hidden = v.id !== next));
  $("#tabs").hidden = !state.token;
  $("#signout").hidden = !state.token || next === "camera";
  $("#title").textContent = TITLES[next];
  document.body.classList.toggle("on-camera", next === "camera");
  const tab = next === "result" ? "gallery" : next;
  document.querySelectorAll("#tabs button").forEach((b) =>
    b.dataset.view === tab ? b.setAttribute("aria-current", "page") : b.removeAttribute("aria-current"));
  syncCamera();
  livePolling();
  if (next === "register") { loadPeople().catch((e) => say(plain(e))); renderShots(); }
  if (next === "gallery") loadGallery().catch((e) => say(plain(e)));
  $("#register-first").hidden = true;
  if (next === "camera") { setMode(state.mode); loadThumb(); nudgeRegistration().catch(() => {}); }
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

// The sign-in and setup forms keep nothing once used: on a shared phone, a password left in the
// form would let the next person in with one tap.
function clearForms() {
  $("#login-form").reset();
  $("#setup-form").reset();
}

function signedIn(token) {
  clearForms();
  state.token = token;
  sessionStorage.setItem("token", token);
  show("camera");
  const pending = sessionStorage.getItem("job");
  if (pending) { setMode("video"); followJob(pending).catch((e) => say(plain(e))); }
}

// Everything of the session goes: camera and microphone, a live stream from this page, a recording,
// shots not yet saved, secrets shown.
export async function signedOut() {
  state.token = null;
  sessionStorage.clear();
  stopRecording(false);
  dropLive();
  forgetSecrets();
  releaseCamera(true);
  clearShots();
  clearForms();
  await showLanding();
}

$("#setup-form").onsubmit = guard(async (e) => {
  e.preventDefault();
  const { token } = await api("/api/setup", json("POST", Object.fromEntries(new FormData(e.target))));
  signedIn(token);
});
$("#login-form").onsubmit = guard(async (e) => {
  e.preventDefault();
  const { token } = await api("/api/login", json("POST", Object.fromEntries(new FormData(e.target))));
  signedIn(token);
});
$("#signout").onclick = guard(async () => {
  await api("/api/logout", { method: "POST" }).catch(() => {});
  await signedOut();
});
document.querySelectorAll("#tabs [data-view]").forEach((b) => (b.onclick = () => show(b.dataset.view)));
$("#register-first").onclick = () => show("register");

setMode("photo");
(state.token ? api("/api/people").then(() => signedIn(state.token)) : showLanding())
  .catch(() => showLanding().catch((e) => say(plain(e))));
