"""Going live from the browser: the SDP side of WHIP (WebRTC-HTTP ingestion).

An offer is checked, answered by aiortc, and its tracks handed to a ``live.source.WebRtcSource``,
which feeds the same relay as RTMP. Chromium only sends 720p30 when the answer carries bitrate
hints, so the answer SDP gets them.
"""

from __future__ import annotations

import asyncio
import re

from ..live.source import WebRtcSource

BITRATE_HINTS = "x-google-start-bitrate=2500;x-google-min-bitrate=1000;x-google-max-bitrate=4500"


def with_bitrate_hints(sdp: str) -> str:
    """The answer with Chromium's bitrate hints on every video codec."""
    lines = sdp.split("\r\n")
    video_pts, in_video = set(), False
    for line in lines:
        if line.startswith("m="):
            in_video = line.startswith("m=video")
        elif in_video and (m := re.match(r"a=rtpmap:(\d+) (VP8|VP9|H264|AV1)/", line)):
            video_pts.add(m.group(1))
    out, has_fmtp = [], set()
    for line in lines:
        m = re.match(r"a=fmtp:(\d+) (.*)", line)
        if m and m.group(1) in video_pts:
            line = f"{line};{BITRATE_HINTS}"
            has_fmtp.add(m.group(1))
        out.append(line)
    final = []
    for line in out:
        final.append(line)
        m = re.match(r"a=rtpmap:(\d+) ", line)
        if m and m.group(1) in video_pts and m.group(1) not in has_fmtp:
            final.append(f"a=fmtp:{m.group(1)} {BITRATE_HINTS}")
    return "\r\n".join(final)


class BadOffer(ValueError):
    """An SDP offer that cannot start a session; the message says why."""


def check_offer(sdp: str) -> None:
    """Refuse, before aiortc sees it, an offer that could only start a session that never ends:
    one without a video track to relay, or without what ICE and DTLS need to connect."""
    lines = [line.strip() for line in sdp.strip().splitlines()]
    if not lines or lines[0] != "v=0":
        raise BadOffer("not an SDP offer (it must start with v=0)")
    media = [line for line in lines if line.startswith("m=")]
    if not any(re.match(r"m=video \d+ [A-Z/]+ \d+", line) for line in media):
        raise BadOffer("no video m-line: the offer must send a camera track")
    for needed in ("a=ice-ufrag:", "a=ice-pwd:", "a=fingerprint:"):
        if not any(line.startswith(needed) for line in lines):
            raise BadOffer(f"no {needed.rstrip(':')} line")


async def answer(offer_sdp: str, source: WebRtcSource):
    """Accept a WHIP offer; returns (peer connection, answer SDP). Raises BadOffer."""
    from aiortc import RTCPeerConnection, RTCSessionDescription

    check_offer(offer_sdp)
    pc = RTCPeerConnection()
    received: set[str] = set()

    @pc.on("track")
    def on_track(track) -> None:
        received.add(track.kind)
        asyncio.ensure_future(source.consume(track))

    @pc.on("connectionstatechange")
    async def on_state() -> None:
        if pc.connectionState == "failed":  # closing ends the tracks, and with them the relay
            await pc.close()

    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        if "video" not in received:
            raise BadOffer("the offer sends no video")
        for transceiver in pc.getTransceivers():
            if transceiver.kind in source.clocks:
                source.clocks[transceiver.kind].follow(transceiver.receiver)
        await pc.setLocalDescription(await pc.createAnswer())
    except Exception as exc:  # aiortc fails on bad SDP with AssertionError, ValueError, KeyError...
        await pc.close()
        if isinstance(exc, BadOffer):
            raise
        raise BadOffer(f"malformed SDP ({str(exc) or type(exc).__name__})") from None
    return pc, with_bitrate_hints(pc.localDescription.sdp)
