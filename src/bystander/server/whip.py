"""Going live from the browser: the SDP side of WHIP (WebRTC-HTTP ingestion).

An offer is checked, answered by aiortc, and its tracks handed to a ``live.source.WebRtcSource``,
which feeds the same relay as RTMP. Chromium only sends 720p30 when the answer carries bitrate
hints, so the answer SDP gets them.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

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


@dataclass(frozen=True)
class IceServer:
    """A STUN or TURN server the user named (``serve --ice-server``); none by default, so that
    nothing is contacted that the user did not name: host candidates serve a LAN and 127.0.0.1."""

    url: str  # stun:HOST[:PORT] or turn:HOST[:PORT][?transport=udp|tcp]
    username: str | None = None
    credential: str | None = None

    @classmethod
    def parse(cls, text: str) -> "IceServer":
        """``stun:HOST:PORT``, ``turn:HOST:PORT`` or ``turn:USER:PASSWORD@HOST:PORT``."""
        scheme, colon, rest = text.partition(":")
        if scheme not in ("stun", "stuns", "turn", "turns") or not colon or not rest.strip("/"):
            raise ValueError("must be stun:HOST[:PORT] or turn:[USER:PASSWORD@]HOST[:PORT]")
        userinfo, at, host = rest.rpartition("@")
        if not at:
            return cls(text)
        user, colon, password = userinfo.partition(":")
        if scheme.startswith("stun") or not user or not colon or not host:
            raise ValueError("credentials go with turn: only, as turn:USER:PASSWORD@HOST[:PORT]")
        return cls(f"{scheme}:{host}", user, password)


async def answer(offer_sdp: str, source: WebRtcSource, ice_servers: tuple[IceServer, ...] = ()):
    """Accept a WHIP offer; returns (peer connection, answer SDP). Raises BadOffer."""
    from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription

    check_offer(offer_sdp)
    # An empty list, not None: with no configuration aiortc asks Google's public STUN server.
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[RTCIceServer(s.url, s.username, s.credential)
                                                        for s in ice_servers]))
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
