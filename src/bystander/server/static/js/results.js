// A result (who was kept visible, how many others were blurred; take another, download, share) and
// the gallery of results: labelled tiles, played or deleted.
import { $, api, clock, confirmed, el, guard, svg, when } from "./core.js";
import { setMode } from "./capture.js";
import { show } from "../app.js";

const TRASH = "M9 3h6l1 2h4v2H4V5h4zM6 8h12l-1 13H7z";
const PLAY = "M7 4v16l13-8z";
let current = null;

function keptText(item) {
  const kept = item.privacy ? item.privacy.kept.map((k) => `${k.person} (${k.seconds.toFixed(1)} s)`) : (item.kept || []);
  if (kept.length) return `Kept visible: ${kept.join(", ")}`;
  return item.faces_redacted ? "Nobody registered was seen: every face was blurred." : "No face was found: nothing was blurred.";
}

// People, not face-frames: a video's privacy report counts each other person once, a photo each
// face detected clearly.
function othersText(item) {
  const n = item.others_blurred ?? item.faces_redacted;
  if (n) return `${n} other ${n === 1 ? "person" : "people"} blurred`;
  return (item.kept || []).length ? "Nobody else to blur." : "";
}

export function showResult(item) {
  current = item;
  const media = el(item.kind === "video" ? "video" : "img", { src: item.url, id: `result-${item.kind}` });
  if (item.kind === "video") Object.assign(media, { controls: true, playsInline: true });
  else media.alt = `${item.name}, redacted`;
  $("#result-media").replaceChildren(media);
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
  const ext = current.kind === "video" ? "mp4" : (blob.type.split("/")[1] || "jpg");
  const file = new File([blob], `${current.name}-redacted.${ext}`, { type: blob.type });
  const data = navigator.canShare && navigator.canShare({ files: [file] }) ? { files: [file] } : { url: location.origin };
  await navigator.share(data).catch((e) => { if (e.name !== "AbortError") throw new Error("Sharing did not work: use Download instead."); });
}

function mediaElement(item) {
  if (item.kind === "video") return el("video", { preload: "metadata", muted: true, playsInline: true, src: `${item.url}#t=0.1` });
  return el("img", { src: item.url, alt: "", loading: "lazy" });
}

export async function loadGallery() {
  const items = await api("/api/gallery");
  const grid = $("#items");
  grid.replaceChildren();
  if (!items.length) grid.appendChild(el("p", { className: "empty", textContent: "Nothing yet: take a photo or record a video on the Camera page." }));
  for (const item of items) {
    const tile = el("article", { className: `tile ${item.kind}` });
    tile.dataset.id = item.id;
    const open = el("button", { type: "button", className: "open", onclick: () => showResult(item) });
    open.setAttribute("aria-label", `Open ${item.kind} ${item.name}`);
    open.append(mediaElement(item), el("span", { className: "badge", textContent: item.kind === "video" ? "Video" : "Photo" }));
    if (item.kind === "video") {
      open.insertAdjacentHTML("beforeend", `<span class="play">${svg(PLAY)}</span>`);
      if (item.duration) open.appendChild(el("span", { className: "duration", textContent: clock(item.duration) }));
    }
    const kept = item.kept && item.kept.length ? `Kept: ${item.kept.join(", ")}` : "Nobody kept";
    const meta = el("div", { className: "meta" });
    meta.append(el("strong", { textContent: when(item.created) }),
                document.createTextNode(`${kept} · ${item.others_blurred ?? item.faces_redacted} blurred`));
    const del = el("button", { type: "button", className: "delete", innerHTML: svg(TRASH) });
    del.setAttribute("aria-label", `Delete ${item.kind} ${item.name}`);
    del.onclick = guard(async () => {
      if (!(await confirmed(`Delete this ${item.kind} from the gallery? It cannot be brought back.`))) return;
      await api(`/api/gallery/${item.id}`, { method: "DELETE" });
      await loadGallery();
    });
    tile.append(open, meta, del);
    grid.appendChild(tile);
  }
}

// The camera page's corner: the latest result, one tap from the gallery.
export async function loadThumb() {
  const items = await api("/api/gallery").catch(() => []);
  $("#gallery-thumb").replaceChildren(...(items.length ? [mediaElement(items[0])] : []));
}

$("#take-another").onclick = () => { show("camera"); setMode(current && current.kind === "video" ? "video" : "photo"); };
$("#share").onclick = guard(share);
