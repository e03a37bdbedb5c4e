// Where a phone on the same network opens this page: its addresses and their QR codes.
import { el, state } from "./core.js";

export async function loadNetwork() {
  const net = await fetch("/api/network").then((r) => r.json()).catch(() => null);
  document.querySelectorAll(".phone-link").forEach((card) => {
    const box = card.querySelector(".lan");
    box.replaceChildren();
    if (!net) { card.hidden = true; return; }
    card.hidden = state.view === "landing" && !net.listening_on_lan;
    if (!net.listening_on_lan) {
      box.appendChild(el("p", { className: "hint",
        textContent: "bystander listens on this computer only. To open it from a phone on the same Wi-Fi, start it " +
                     "with: bystander serve --host 0.0.0.0 --https" }));
      return;
    }
    for (const u of net.urls) {
      const fig = el("figure");
      fig.append(el("img", { src: u.qr, alt: `QR code of ${u.url}` }), el("code", { textContent: u.url }));
      box.appendChild(fig);
    }
    box.appendChild(el("p", { className: "hint", textContent: net.https ?
      "Scan with the phone's camera. Its browser warns once about this server's own certificate: accept it to continue." :
      "A phone's browser allows the camera only over HTTPS: start bystander with --https to use it." }));
  });
}
