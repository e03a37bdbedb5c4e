"""The web app as a new user meets it: Debian's Chromium (driven by Playwright) against a real
``bystander serve``, at a phone's size (390x844, touch) and a laptop's (1280x800), with a fake camera
showing a registration photo, and without any camera over HTTPS. Screenshots go to test-artifacts/."""

from __future__ import annotations

import json
import re
import shutil
import ssl
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import FR, MEDIA, run_cli
from test_server import (ARTIFACTS, CHROMIUM, PASSWORD, Server, _assert_faces_redacted, _fake_camera, _free_port,
                         _wait_until)

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 800}
BASE_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--use-fake-ui-for-media-stream",
             "--disable-features=WebRtcHideLocalIpsWithMdns"]  # WebRTC to 127.0.0.1 needs the real address
# Every track the page opens, kept so the test can see whether the page stopped it (the real
# getUserMedia runs; this only remembers its tracks).
TRACKS = """
(() => {
  window.__tracks = [];
  const md = navigator.mediaDevices;
  if (!md) return;
  const real = md.getUserMedia.bind(md);
  md.getUserMedia = async (c) => { const s = await real(c); s.getTracks().forEach((t) => window.__tracks.push(t)); return s; };
})();
"""
LIVE_TRACKS = "window.__tracks.filter((t) => t.readyState === 'live').map((t) => t.kind).sort()"
CLI_WORDS = re.compile(r"--[a-z]|bystander faces|TypeError|FormData|undefined|null")
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists() or shutil.which("ffmpeg") is None,
                                    reason="needs Debian's chromium and ffmpeg (make test installs them)")


# Whether the element ``selector`` names is what a click at its middle lands on.
ON_TOP = """(selector) => {
  const b = document.querySelector(selector).getBoundingClientRect();
  const hit = document.elementFromPoint(b.x + b.width / 2, b.y + b.height / 2);
  return !!hit && !!hit.closest(selector);
}"""


def _shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"ui-{name}.png"))


def _sign_up(page, server) -> None:
    page.fill("#setup-form [name=setup_code]", server.setup_code)
    page.fill("#setup-form [name=username]", "admin")
    page.fill("#setup-form [name=password]", PASSWORD)
    page.click("#setup-form button")


def _swipe(cdp, x0: float, x1: float, y: float) -> None:
    """A finger moving across the screen: real touch events through the DevTools protocol."""
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x0, "y": y}]})
    for i in range(1, 6):
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x0 + (x1 - x0) * i / 5, "y": y}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def _selected_mode(page) -> str:
    return page.locator(".modes [aria-selected=true]").get_attribute("data-mode")


@pytest.fixture
def server(media, tmp_path):
    s = Server(tmp_path, "--max-upload-mb", "20", "--rtmp-listen", f"rtmp://127.0.0.1:{_free_port()}/live")
    yield s
    s.stop()


@needs_chromium
def test_phone_app_end_to_end(server, tmp_path):
    """Camera, swipe, registration, photo, video, gallery, live setup and sign-out at a phone's size,
    then the same pages at a laptop's."""
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    camera = _fake_camera(tmp_path)
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=BASE_ARGS + [
            "--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={camera}"])
        ctx = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2,
                                  permissions=["clipboard-read", "clipboard-write"])
        ctx.add_init_script(TRACKS)
        page = ctx.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server.url)
        assert page.locator("link[rel=manifest]").count() == 1
        status, raw = server.request("GET", "/manifest.webmanifest")
        manifest = json.loads(raw)
        assert status == 200 and server.last_headers.get_content_type() == "application/manifest+json"
        assert manifest["display"] == "standalone" and {i["sizes"] for i in manifest["icons"]} >= {
            "192x192", "512x512"}
        cdp = ctx.new_cdp_session(page)
        installable = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
        assert [e["errorId"] for e in installable if e["errorId"] != "in-incognito"] == []  # a test profile is one
        _shot(page, "1-landing")
        _sign_up(page, server)

        # The camera fills the phone's screen above the tab bar; Photo first, camera only (no microphone).
        expect(page.locator("#camera")).to_be_visible()
        _wait_until(page, "document.querySelector('#preview').videoWidth > 0")
        preview = page.locator("#preview").bounding_box()
        assert preview["height"] >= 0.85 * PHONE["height"] and preview["width"] == PHONE["width"]
        shutter = page.locator("#shutter").bounding_box()
        assert shutter["width"] >= 64 and shutter["height"] >= 64
        assert shutter["y"] > 0.75 * PHONE["height"]  # within the thumb's reach
        xs = {m: page.locator(f".modes [data-mode={m}]").bounding_box()["x"] for m in ("live", "video", "photo")}
        assert xs["live"] < xs["video"] < xs["photo"]
        assert _selected_mode(page) == "photo"
        assert page.locator("#tabs [aria-current=page]").inner_text() == "Camera"
        assert page.evaluate(LIVE_TRACKS) == ["video"]
        # Nobody registered yet: the camera says what that means, and where to go.
        expect(page.locator("#register-first")).to_contain_text("Nobody is registered: every face is blurred")
        _shot(page, "2-camera-photo")

        # Swiping: the finger moving right brings Video, then Live; moving left goes back.
        _swipe(cdp, 100, 300, 400)
        expect(page.locator(".modes [data-mode=video]")).to_have_attribute("aria-selected", "true")
        _wait_until(page, f"JSON.stringify({LIVE_TRACKS}) === '[\"audio\",\"video\"]'")  # Video records sound
        _swipe(cdp, 100, 300, 400)
        expect(page.locator(".modes [data-mode=live]")).to_have_attribute("aria-selected", "true")
        # Nothing to go live to yet: the button says so instead of failing when pressed.
        expect(page.locator("#go-live-browser")).to_be_disabled()
        expect(page.locator("#mode-hint")).to_contain_text("Add a destination")
        _swipe(cdp, 300, 100, 400)
        assert _selected_mode(page) == "video"
        _swipe(cdp, 200, 210, 400)  # a tap is not a swipe
        assert _selected_mode(page) == "video"

        # Registration: each shot checked as it is taken; refused ones removable; fewer than 3 warned.
        page.click(".modes [data-mode=photo]")
        page.click("#register-first")
        expect(page.locator("#register")).to_be_visible()
        _wait_until(page, "document.querySelector('#reg-preview').videoWidth > 0")
        assert page.evaluate(LIVE_TRACKS) == ["video"]  # leaving the camera closed it and the microphone
        expect(page.locator("#save-hint")).to_have_text("Give the person a name to save.")
        page.fill("#register-form [name=name]", "lin")
        expect(page.locator("#save-hint")).to_have_text("Take or upload at least one good shot to save.")
        page.click("#take-shot")
        expect(page.locator("#shots li.ok")).to_have_count(1)
        # Its verdict can be read: on the screen, above the tab bar.
        verdict = page.locator("#shots li .verdict").first.bounding_box()
        assert verdict["y"] + verdict["height"] <= page.locator("#tabs").bounding_box()["y"], verdict
        expect(page.locator("#save-hint")).to_have_text("")
        expect(page.locator("#guide")).to_contain_text("Shot 2 of 3 to 5: turn your head a little to your left")
        notes = tmp_path / "notes.txt"
        notes.write_text("not a picture\n")
        page.set_input_files("#shot-files", [str(MEDIA / "negatives" / "view.jpg"), str(FR / "two_people.jpg")])
        expect(page.locator("#shots li.refused")).to_have_count(2)
        verdicts = page.locator("#shots").inner_text()
        assert "No face found" in verdicts and "2 faces found" in verdicts
        # A file that is no picture: said so in its place, no broken image.
        page.set_input_files("#shot-files", str(notes))
        expect(page.locator("#shots li.refused")).to_have_count(3)
        expect(page.locator("#shots li").last.locator(".no-image")).to_have_text("Not a picture")
        expect(page.locator("#shots li").last.locator("img")).to_have_count(0)
        expect(page.locator("#shots li .verdict").last).to_have_text(re.compile(r"^notes\.txt: not a photo file"))
        page.locator("#shots li.refused .remove").last.click()
        assert not CLI_WORDS.search(verdicts), verdicts
        expect(page.locator("#guide")).to_contain_text("Shot 2 of 3 to 5")  # refused shots do not count
        expect(page.locator("#shot-warning")).to_contain_text("Only 1 good shot")
        expect(page.locator("#save-person")).to_have_text("Save anyway")
        _shot(page, "3-registration-refused")
        page.locator("#shots li.refused .remove").first.click()
        page.locator("#shots li.refused .remove").first.click()
        expect(page.locator("#shots li")).to_have_count(1)
        page.click("#take-shot")
        expect(page.locator("#shots li.ok")).to_have_count(2)
        page.click("#take-shot")
        expect(page.locator("#shots li.ok")).to_have_count(3)
        # The photo looks slightly to his left: the third shot, asked to turn right, says so.
        expect(page.locator("#shots li").nth(2)).to_contain_text("not turned to your right")
        expect(page.locator("#shot-warning")).to_be_hidden()
        page.click("#save-person")
        expect(page.locator("#message")).to_contain_text("lin registered (3 shots)")
        expect(page.locator("#people")).to_contain_text("lin")
        # A second person, then deleted: only after confirming.
        page.fill("#register-form [name=name]", "obama")
        page.set_input_files("#shot-files", str(FR / "obama.jpg"))
        expect(page.locator("#shots li.ok")).to_have_count(1)
        page.click("#save-person")
        expect(page.locator("#people li")).to_have_count(2)
        page.click("#people [aria-label='Delete obama']")
        expect(page.locator("#confirm")).to_be_visible()
        expect(page.locator("#confirm-text")).to_contain_text("Delete obama?")
        _shot(page, "4-delete-confirmation")
        page.click("#confirm button[value=cancel]")
        expect(page.locator("#people li")).to_have_count(2)
        page.click("#people [aria-label='Delete obama']")
        page.click("#confirm-ok")
        expect(page.locator("#people li")).to_have_count(1)
        expect(page.locator("#people")).not_to_contain_text("obama")
        # The name of someone registered: the shots are added to them, after asking; or straight away
        # from their "Add shots".
        page.fill("#register-form [name=name]", "lin")
        page.click("#take-shot")
        expect(page.locator("#shots li.ok")).to_have_count(1)
        expect(page.locator("#save-person")).to_have_text("Add to lin")
        expect(page.locator("#save-hint")).to_contain_text("lin is registered already (3 shots)")
        page.click("#save-person")
        expect(page.locator("#confirm-text")).to_contain_text("lin is registered already. Add these 1 shot to lin?")
        page.click("#confirm-ok")
        expect(page.locator("#message")).to_contain_text("1 shot added to lin (4 in all)")
        expect(page.locator("#people")).to_contain_text("4 shots")
        page.click("#people [aria-label='Add shots of lin']")
        expect(page.locator("#register-title")).to_have_text("Add shots of lin")
        expect(page.locator("#register-form [name=name]")).to_have_value("lin")
        page.click("#take-shot")
        expect(page.locator("#shots li.ok")).to_have_count(1)
        page.click("#save-person")
        expect(page.locator("#message")).to_contain_text("1 shot added to lin (5 in all)")
        expect(page.locator("#register-title")).to_have_text("Register someone")

        # Photo: the shutter; the result says who was kept and how many others were blurred.
        page.click("#tabs [data-view=camera]")
        page.click(".modes [data-mode=photo]")
        _wait_until(page, "document.querySelector('#preview').videoWidth > 0")
        page.click("#shutter")
        expect(page.locator("#result-photo")).to_be_visible()
        expect(page.locator("#result-kept")).to_have_text("Kept visible: lin")
        expect(page.locator("#result-others")).to_have_text("Nobody else to blur.")
        assert page.evaluate(LIVE_TRACKS) == []  # the result page holds no camera
        _shot(page, "5-photo-result")
        page.click("#take-another")
        expect(page.locator("#camera")).to_be_visible()
        assert _selected_mode(page) == "photo"
        page.set_input_files("#photo-file", str(FR / "two_people.jpg"))
        # Obama and Biden: a faint detection on Obama's sleeve is blurred but is nobody.
        expect(page.locator("#result-others")).to_have_text("2 other people blurred")
        expect(page.locator("#result-kept")).to_contain_text("Nobody registered")
        with page.expect_download() as dl:
            page.click("#download")
        saved = tmp_path / "downloaded.jpg"
        dl.value.save_as(saved)
        _assert_faces_redacted(FR / "two_people.jpg", saved)
        # A photo without a face says so, once.
        page.click("#take-another")
        page.set_input_files("#photo-file", str(MEDIA / "negatives" / "view.jpg"))
        expect(page.locator("#result-kept")).to_have_text("No face was found: nothing was blurred.")
        expect(page.locator("#result-others")).to_have_text("")

        # Video: recorded with the camera and microphone, redacted, shown.
        page.click("#tabs [data-view=camera]")
        page.click(".modes [data-mode=video]")
        _wait_until(page, "document.querySelector('#preview').videoWidth > 0")
        page.click("#record")
        expect(page.locator("#rec-chip")).to_be_visible()
        expect(page.locator("#record")).to_have_class(re.compile(r"\bon\b"))
        page.click(".modes [data-mode=photo]")  # the recording goes on: modes wait for it to end
        assert _selected_mode(page) == "video"
        time.sleep(2.5)
        page.click("#record")
        expect(page.locator("#result-video")).to_be_visible(timeout=60_000)
        expect(page.locator("#result-kept")).to_contain_text(re.compile(r"Kept visible: lin \(\d+\.\d s\)"))
        _wait_until(page, "document.querySelector('#result-video').duration > 1.5", 10)
        page.click("#take-another")
        expect(page.locator("#camera")).to_be_visible()
        assert _selected_mode(page) == "video"

        # A video file, through a background job that survives a reload; lin kept for seconds.
        with page.expect_file_chooser() as chooser:  # the pick button, as a person taps it
            page.click("#pick-label")
        assert chooser.value.element.get_attribute("id") == "video-file"
        chooser.value.set_files(str(FR / "short_hamilton_clip.mp4"))
        expect(page.locator("#job")).to_be_visible()
        _shot(page, "6-video-job")
        page.reload()
        expect(page.locator("#result-video")).to_be_visible(timeout=180_000)
        expect(page.locator("#result-kept")).to_contain_text(re.compile(r"Kept visible: lin \(\d+\.\d s\)"))
        expect(page.locator("#result-info")).to_contain_text("Video, 0:10")  # the clip's own 10.0 s
        expect(page.locator("#result-others")).to_contain_text(re.compile(r"^\d+ other (person|people) blurred$"))
        _shot(page, "7-video-result")

        # Gallery: labelled tiles (type, date, duration), videos with a play mark; delete after confirming.
        page.click("#tabs [data-view=gallery]")
        tiles = page.locator("#items .tile")
        expect(tiles).to_have_count(5)
        video = page.locator("#items .tile.video").first
        expect(video.locator(".badge")).to_have_text("Video")
        expect(video.locator(".duration")).to_have_text(re.compile(r"^0:\d\d$"))
        assert video.locator(".play").count() == 1
        expect(video.locator(".meta")).to_contain_text("Kept: lin")
        month = time.strftime("%b")
        expect(tiles.first.locator(".meta strong")).to_contain_text(month)
        expect(page.locator("#items .tile.photo .badge").first).to_have_text("Photo")
        _shot(page, "8-gallery")
        page.locator("#items .tile.photo .delete").first.click()
        page.click("#confirm-ok")
        expect(tiles).to_have_count(4)
        video.locator(".open").click()
        expect(page.locator("#result-video")).to_be_visible()

        # Live setup: labelled fields, presets, copy buttons, the WHIP token, buttons only when they work.
        page.click("#tabs [data-view=live]")
        for label in ("Platform", "Name", "Server URL", "Stream key"):
            expect(page.locator("#live").get_by_label(label)).to_have_count(1)
        page.select_option("#preset", "twitch")
        expect(page.locator("#live").get_by_label("Server URL")).to_have_value("rtmp://live.twitch.tv/app")
        expect(page.locator("#go-live")).to_be_disabled()
        expect(page.locator("#stop-live")).to_be_disabled()
        expect(page.locator("#go-live-hint")).to_have_text("Add a destination below, or tick Record to the gallery, "
                                                            "to go live.")
        page.check("#record-toggle")  # record only: no destination needed
        expect(page.locator("#go-live")).to_be_enabled()
        expect(page.locator("#go-live-hint")).to_have_text("")
        page.uncheck("#record-toggle")
        expect(page.locator("#go-live")).to_be_disabled()
        page.click("button.copy[data-copy='#ingest-url']")
        assert page.evaluate("navigator.clipboard.readText()") == page.locator("#ingest-url").inner_text()
        expect(page.locator("#whip-token")).to_contain_text("****")
        page.click("#show-token")
        expect(page.locator("#whip-token")).not_to_contain_text("****")
        whip_token = page.locator("#whip-token").inner_text()
        page.click("button.copy[data-secret=whip_token]")
        assert page.evaluate("navigator.clipboard.readText()") == whip_token
        # The token lets a WHIP encoder publish, and opens nothing else.
        assert server.request("GET", "/api/people", token=whip_token)[0] == 401
        assert server.request("POST", "/api/live/whip", b"v=0", token=whip_token,
                              headers={"Content-Type": "application/sdp"})[0] == 400
        expect(page.locator("#whip-url")).to_have_text(f"{server.url}/api/live/whip")
        expect(page.locator("#live .phone-link")).to_contain_text("this computer only")
        _shot(page, "9-live-setup")
        page.screenshot(path=str(ARTIFACTS / "ui-9-live-setup-full.png"), full_page=True)
        _go_live_from_obs(page, tmp_path)

        # From this camera to a server that refuses the connection, recording as well: the Camera
        # page says, within 15 s, that the viewers are not reached and why, and the badge says so.
        page.click("#tabs [data-view=live]")
        page.click("#destinations button:has-text('Remove')")
        page.click("#confirm-ok")
        expect(page.locator("#destinations")).to_contain_text("No destination yet")
        page.select_option("#preset", "custom")
        page.fill("#destination-form [name=name]", "Refusing server")
        page.fill("#destination-form [name=url]", f"rtmp://127.0.0.1:{_free_port()}/app")
        page.fill("#destination-form [name=key]", "refused-key-5678")
        page.click("#destination-form button[type=submit]")
        page.check("#record-toggle")
        page.click("#tabs [data-view=camera]")
        page.click(".modes [data-mode=live]")
        expect(page.locator("#mode-hint")).to_contain_text("Goes live to Refusing server, and records")
        _wait_until(page, "document.querySelector('#preview').videoWidth > 0")
        page.click("#go-live-browser")
        expect(page.locator("#live-chip")).to_be_visible(timeout=30_000)
        health = page.locator("#live-health")
        expect(health).to_contain_text("Refusing server: not reaching the server, retrying in", timeout=15_000)
        expect(health).to_contain_text("(Connection refused)")
        expect(page.locator("#live-chip")).to_have_class("chip live down")
        expect(page.locator("#live-chip")).to_contain_text("NOT REACHING VIEWERS")
        _shot(page, "13-live-refused")
        page.click("#go-live-browser")
        expect(page.locator("#live-chip")).to_be_hidden(timeout=30_000)
        expect(health).to_be_hidden()
        page.click("#tabs [data-view=live]")
        page.click("#destinations button:has-text('Remove')")
        page.click("#confirm-ok")
        expect(page.locator("#destinations")).to_contain_text("No destination yet")

        # Record only, from this camera: no destination, the recording lands in the gallery.
        page.click("#tabs [data-view=camera]")
        page.click(".modes [data-mode=live]")
        expect(page.locator("#go-live-browser")).to_have_text("REC")
        expect(page.locator("#mode-hint")).to_contain_text("Records to the gallery")
        _wait_until(page, "document.querySelector('#preview').videoWidth > 0")
        page.click("#go-live-browser")
        expect(page.locator("#live-chip")).to_be_visible(timeout=30_000)
        expect(page.locator("#live-chip")).to_contain_text("LIVE")
        expect(page.locator("#live-chip")).to_have_class("chip live")  # nothing failing
        expect(page.locator("#live-pip")).to_be_visible(timeout=30_000)  # what viewers would see, redacted
        expect(page.locator("#go-live-browser")).to_have_text("STOP")
        _shot(page, "13-live-from-camera")
        time.sleep(2)
        page.click("#go-live-browser")
        expect(page.locator("#live-chip")).to_be_hidden(timeout=30_000)
        page.click("#tabs [data-view=gallery]")
        expect(page.locator("#items .tile.video")).to_have_count(5, timeout=10_000)
        page.click("#tabs [data-view=live]")
        page.uncheck("#record-toggle")

        # Sign-out ends the session's camera too: opened on Faces, closed by signing out there.
        page.click("#tabs [data-view=register]")
        _wait_until(page, "document.querySelector('#reg-preview').videoWidth > 0")
        assert page.evaluate(LIVE_TRACKS) == ["video"]
        page.click("#signout")
        expect(page.locator("#login-form")).to_be_visible()
        assert page.evaluate(LIVE_TRACKS) == []
        # Signed in again and out: nothing typed is left, and one tap on "Sign in" does not get back in.
        page.fill("#login-form [name=username]", "admin")
        page.fill("#login-form [name=password]", PASSWORD)
        page.click("#login-form button[type=submit]")
        expect(page.locator("#tabs")).to_be_visible()
        page.click("#tabs [data-view=register]")  # Sign out is on every page but the camera's
        page.click("#signout")
        expect(page.locator("#login-form")).to_be_visible()
        expect(page.locator("#login-form [name=password]")).to_have_value("")
        expect(page.locator("#login-form [name=username]")).to_have_value("")
        page.click("#login-form button[type=submit]")
        expect(page.locator("#tabs")).to_be_hidden()
        expect(page.locator("#message")).to_be_hidden()

        # A laptop: the same app, the camera the stage, a wider gallery.
        desk = browser.new_context(viewport=LAPTOP)
        dpage = desk.new_page()
        dpage.on("pageerror", lambda e: errors.append(str(e)))
        dpage.goto(server.url)
        dpage.fill("#login-form [name=username]", "admin")
        dpage.fill("#login-form [name=password]", PASSWORD)
        dpage.click("#login-form button")
        expect(dpage.locator("#camera")).to_be_visible()
        _wait_until(dpage, "document.querySelector('#preview').videoWidth > 0")
        assert dpage.locator("#preview").bounding_box()["height"] >= 0.85 * LAPTOP["height"]
        _shot(dpage, "10-laptop-camera")
        dpage.click("#tabs [data-view=gallery]")
        expect(dpage.locator("#items .tile")).to_have_count(7)  # with the three recordings made live
        _shot(dpage, "11-laptop-gallery")
        # Faces on a laptop: the shot buttons can be pressed, not covered by the bars.
        dpage.click("#tabs [data-view=register]")
        _wait_until(dpage, "document.querySelector('#reg-preview').videoWidth > 0")
        for control in ("#take-shot", "label:has(#shot-files)"):
            assert dpage.evaluate(ON_TOP, control), control
        _shot(dpage, "12-laptop-faces")
        browser.close()
    assert not errors, errors


def _go_live_from_obs(page, tmp_path: Path) -> None:
    """Live for OBS users: a destination saved (its key never shown again), the stream key copied,
    Go Live, a real ffmpeg publishing to the ingest, nginx-rtmp receiving the relay, and the same
    stream recorded into the gallery."""
    from playwright.sync_api import expect

    from live_harness import Destination, build_looped_input, publish, video_times

    src = tmp_path / "publish.flv"
    build_looped_input(FR / "short_hamilton_clip.mp4", src, 1)
    dest_key = "platform-key-abcd1234"
    with Destination(tmp_path / "rec") as dst:
        page.select_option("#preset", "custom")
        page.fill("#destination-form [name=name]", "YouTube stand-in")
        page.fill("#destination-form [name=url]", dst.url("app"))
        page.fill("#destination-form [name=key]", dest_key)
        page.click("#destination-form button[type=submit]")
        expect(page.locator("#destinations")).to_contain_text("YouTube stand-in")
        assert dest_key not in page.content()
        page.check("#record-toggle")
        page.click("button.copy[data-secret=stream_key]")
        ingest_key = page.evaluate("navigator.clipboard.readText()")
        assert len(ingest_key) >= 12 and ingest_key not in page.content()  # copied, still masked on the page
        ingest_url = page.locator("#ingest-url").inner_text().strip()
        expect(page.locator("#go-live")).to_be_enabled()
        page.click("#go-live")
        expect(page.locator("#live-status")).to_contain_text("Waiting for video", timeout=20_000)
        expect(page.locator("#go-live")).to_be_disabled()
        expect(page.locator("#stop-live")).to_be_enabled()
        pub = publish(src, f"{ingest_url}/{ingest_key}")
        expect(page.locator("#live-status")).to_contain_text("Live for", timeout=30_000)
        expect(page.locator("#live-destinations-status")).to_contain_text("live")
        expect(page.locator("#live-destinations-status")).to_contain_text("YouTube stand-in")
        expect(page.locator("#live-destinations-status")).to_contain_text("Recording to the gallery")
        _wait_until(page, "document.querySelector('#live-preview').naturalWidth === 640", 30)
        page.screenshot(path=str(ARTIFACTS / "ui-12-live.png"), full_page=True)
        time.sleep(3)
        page.click("#stop-live")  # while the publisher is still sending, as a streamer ends a show
        expect(page.locator("#live-status")).to_contain_text("Not live", timeout=30_000)
        expect(page.locator("#go-live")).to_be_enabled()
        expect(page.locator("#stop-live")).to_be_disabled()
        pub.kill()
        pub.wait(10)
        recordings = dst.recordings()
    assert recordings, "nothing reached the destination"
    times = video_times(recordings[0])
    assert len(times) > 60
    assert dest_key in recordings[0].name  # it went to the saved destination, key and all
    page.uncheck("#record-toggle")
    page.click("#tabs [data-view=gallery]")
    expect(page.locator("#items .tile.video")).to_have_count(3)  # the live recording joined the gallery
    expect(page.locator("#items .tile.video .badge").first).to_have_text("Video")


@needs_chromium
def test_https_and_no_camera(media, tmp_path):
    """serve --https: a certificate made once and kept, the page reached over TLS (a secure context,
    as a phone's camera needs). With no camera, each camera action says what to do instead."""
    from playwright.sync_api import expect, sync_playwright

    from bystander.server.network import qr_data_uri

    ARTIFACTS.mkdir(exist_ok=True)
    server = Server(tmp_path, "--https")
    try:
        key = tmp_path / "tls-key.pem"
        assert key.stat().st_mode & 0o777 == 0o600
        cert = (tmp_path / "tls-cert.pem").read_bytes()
        assert server.request("GET", "/healthz")[0] == 200  # verified against its own certificate
        status, net = server.request("GET", "/api/network")
        assert status == 200 and net["https"] is True and net["urls"] == []  # 127.0.0.1 only: no LAN address
        errors: list[str] = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=BASE_ARGS)
            ctx = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, ignore_https_errors=True)
            ctx.add_init_script(TRACKS)
            page = ctx.new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(server.url)
            assert page.evaluate("location.protocol") == "https:" and page.evaluate("window.isSecureContext")
            # The QR code the pages show for a LAN address, as Chromium draws it, scans back to the address.
            lan = "https://192.168.1.5:8443/"
            page.evaluate("""(src) => { const i = Object.assign(document.createElement("img"), { id: "qr", src });
                Object.assign(i.style, { position: "fixed", top: "0", left: "0", width: "300px", height: "300px",
                                         zIndex: 99, imageRendering: "pixelated" });
                document.body.appendChild(i); }""", qr_data_uri(lan))
            _wait_until(page, "document.querySelector('#qr').complete")
            png = np.frombuffer(page.locator("#qr").screenshot(), np.uint8)
            assert cv2.QRCodeDetector().detectAndDecode(cv2.imdecode(png, cv2.IMREAD_GRAYSCALE))[0] == lan
            page.reload()
            _sign_up(page, server)
            expect(page.locator("#no-camera")).to_be_visible()
            expect(page.locator("#no-camera-text")).to_contain_text("No camera found")
            expect(page.locator("#mode-hint")).to_contain_text("pick a photo")
            expect(page.locator("#pick-label")).to_be_visible()
            _shot(page, "14-no-camera")
            page.click("#shutter")
            expect(page.locator("#message")).to_contain_text("No camera found")
            page.click(".modes [data-mode=video]")
            page.click("#record")
            expect(page.locator("#message")).to_contain_text("No camera found")
            page.click(".modes [data-mode=live]")
            expect(page.locator("#go-live-browser")).to_be_disabled()
            page.click("#tabs [data-view=register]")
            expect(page.locator("#reg-no-camera")).to_contain_text("No camera found")
            page.click("#take-shot")
            expect(page.locator("#message")).to_contain_text("No camera found")
            assert not CLI_WORDS.search(page.locator("#message").inner_text())
            # Uploads still work without a camera.
            page.click("#tabs [data-view=camera]")
            page.click(".modes [data-mode=photo]")
            page.set_input_files("#photo-file", str(FR / "obama.jpg"))
            expect(page.locator("#result-others")).to_have_text("1 other person blurred")
            browser.close()
        assert not errors, errors
    finally:
        server.stop()
    # A second start keeps the certificate the phone was told to trust.
    again = Server(tmp_path, "--https")
    try:
        assert (tmp_path / "tls-cert.pem").read_bytes() == cert
        assert again.request("GET", "/healthz")[0] == 200
        pem = ssl.get_server_certificate(("127.0.0.1", again.port))
        assert ssl.PEM_cert_to_DER_cert(pem) == ssl.PEM_cert_to_DER_cert(cert.decode())
    finally:
        again.stop()


def test_serve_tls_options_and_lan_addresses(tmp_path):
    """--cert without --key, or a certificate that cannot be used: one line, exit 2. Which addresses
    a phone is given, and their URLs."""
    from bystander.server.network import lan_addresses, qr_data_uri, url_for

    proc = run_cli("serve", "--cert", tmp_path / "c.pem", home=tmp_path)
    assert proc.returncode == 2 and proc.stderr.strip() == "bystander: error: give --cert and --key together"
    (tmp_path / "c.pem").write_text("not a certificate")
    proc = run_cli("serve", "--cert", tmp_path / "c.pem", "--key", tmp_path / "k.pem", home=tmp_path)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "cannot use the certificate" in proc.stderr and "Traceback" not in proc.stderr

    assert lan_addresses("127.0.0.1") == [] and lan_addresses("localhost") == []
    assert lan_addresses("192.168.1.5") == ["192.168.1.5"]
    assert all(not a.startswith("127.") for a in lan_addresses("0.0.0.0"))
    assert url_for("https", "192.168.1.5", 8000) == "https://192.168.1.5:8000/"
    assert url_for("https", "192.168.1.5", 443) == "https://192.168.1.5/"
    assert qr_data_uri("https://192.168.1.5:8000/").startswith("data:image/svg+xml")
