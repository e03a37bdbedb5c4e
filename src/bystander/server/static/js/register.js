// Registration: guided shots, each checked by the server as it is taken (refused ones say why and
// can be removed), a warning below 3 good shots, and deleting a person only after confirming.
import { $, api, cap, confirmed, el, guard, plain, say, state } from "./core.js";
import { snapshot } from "./camera.js";

const GUIDE = [
  { pose: "front", text: "look straight at the camera" },
  { pose: "left", text: "turn your head a little to your left" },
  { pose: "right", text: "turn your head a little to your right" },
  { pose: "any", text: "tilt your head slightly" },
  { pose: "front", text: "one more, straight on" },
];
let shots = [];  // {blob, name, url, state: checking|ok|refused, problem, note}
let people = [];  // the registered people, as last loaded: {name, shots}
let adding = null;  // the registered person whose "Add shots" was pressed

const goodShots = () => shots.filter((s) => s.state === "ok");

export function clearShots() {
  shots.forEach((s) => URL.revokeObjectURL(s.url));
  shots = [];
}

export function renderShots() {
  const box = $("#shots");
  box.replaceChildren();
  shots.forEach((s, i) => {
    const problem = s.problem && s.problem.startsWith(s.name) ? s.problem : cap(s.problem);  // a file's name as it is
    const verdict = s.state === "checking" ? "Checking…" : s.state === "ok" ? (s.note ? `Kept. ${cap(s.note)}` : "Good shot") : problem;
    const rm = el("button", { type: "button", className: "remove", textContent: "×" });
    rm.setAttribute("aria-label", `Remove shot ${i + 1}`);
    rm.onclick = () => { URL.revokeObjectURL(s.url); shots.splice(shots.indexOf(s), 1); renderShots(); };
    const li = el("li", { className: s.state });
    const img = el("img", { src: s.url, alt: `shot ${i + 1}` });
    img.onerror = () => img.replaceWith(el("span", { className: "no-image", textContent: "Not a picture" }));
    li.append(img, el("span", { className: "verdict", textContent: verdict }), rm);
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
  const known = people.find((p) => p.name === name);
  save.textContent = known ? `Add to ${known.name}` : good && good < 3 ? "Save anyway" : "Save";
  $("#save-hint").textContent = checking ? "Checking the shots…" : !name ? "Give the person a name to save." :
    !good ? "Take or upload at least one good shot to save." :
    known ? `${known.name} is registered already (${known.shots} shot${known.shots === 1 ? "" : "s"}): these are added.` : "";
  $("#register-title").textContent = adding && adding === name ? `Add shots of ${adding}` : "Register someone";
}

// The shot's verdict where it can be read: above the tab bar, not under it.
function reveal(shot) {
  const li = $("#shots").children[shots.indexOf(shot)];
  if (li) li.scrollIntoView({ block: "nearest" });
}

async function addShot(blob, name, pose) {
  const shot = { blob, name, url: URL.createObjectURL(blob), state: "checking" };
  shots.push(shot);
  renderShots();
  try {
    const form = new FormData();
    form.append("pose", pose);
    form.append("name", $("#register-form [name=name]").value.trim());
    form.append("shot", blob, name);
    const verdict = await api("/api/people/check", { method: "POST", body: form });
    Object.assign(shot, { state: verdict.ok ? "ok" : "refused", problem: verdict.problem, note: verdict.note });
  } catch (e) {
    Object.assign(shot, { state: "refused", problem: plain(e) });
  }
  renderShots();
  reveal(shot);
}

// The Camera page says when nobody is registered: the streamer's own face is blurred then too.
export async function nudgeRegistration() {
  people = await api("/api/people");
  $("#register-first").hidden = people.length > 0 || state.view !== "camera";
}

export async function loadPeople() {
  const list = await api("/api/people");
  people = list;
  renderShots();
  const ul = $("#people");
  ul.replaceChildren();
  if (!list.length) ul.appendChild(el("li", { textContent: "Nobody yet: every face will be blurred." }));
  for (const p of list) {
    const who = el("span", { className: "who" });
    who.append(el("strong", { textContent: p.name }), el("small", { textContent: `${p.shots} shot${p.shots === 1 ? "" : "s"}` }));
    const del = el("button", { type: "button", className: "quiet", textContent: "Delete" });
    del.setAttribute("aria-label", `Delete ${p.name}`);
    del.onclick = guard(async () => {
      if (!(await confirmed(`Delete ${p.name}? Their face will be blurred like everyone else's from now on.`))) return;
      await api(`/api/people/${encodeURIComponent(p.name)}`, { method: "DELETE" });
      say(`${p.name} deleted.`, true);
      await loadPeople();
    });
    const more = el("button", { type: "button", className: "quiet", textContent: "Add shots" });
    more.setAttribute("aria-label", `Add shots of ${p.name}`);
    more.onclick = () => {
      adding = p.name;
      $("#register-form [name=name]").value = p.name;
      renderShots();
      $("#register-form").scrollIntoView({ block: "start" });
    };
    const li = el("li");
    li.append(who, more, del);
    ul.appendChild(li);
  }
}

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
  const known = people.find((p) => p.name === name);
  if (known && adding !== name &&
      !(await confirmed(`${name} is registered already. Add these ${good.length} shot${good.length === 1 ? "" : "s"} to ${name}?`,
                        "Add shots"))) return;
  const form = new FormData();
  form.append("name", name);
  good.forEach((s) => form.append("shot", s.blob, s.name));
  const person = await api("/api/people", { method: "POST", body: form });
  clearShots();
  adding = null;
  e.target.reset();
  renderShots();
  say(known ? `${good.length} shot${good.length === 1 ? "" : "s"} added to ${person.name} (${person.shots} in all).` :
      `${person.name} registered (${person.shots} shot${person.shots === 1 ? "" : "s"}).`, true);
  await loadPeople();
});
