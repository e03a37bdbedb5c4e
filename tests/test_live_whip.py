"""The WHIP ingest from its first frame: a real aiortc sender on 127.0.0.1, the SDP answered by
``server.whip``, frames through ``live.source.WebRtcSource`` and the relay into a recording."""

from __future__ import annotations

import asyncio
import threading

import pytest

from conftest import measure
from live_harness import counter_frame, recorded_counters

aiortc = pytest.importorskip("aiortc")
from whip_sender import FramesTrack  # noqa: E402

FPS = 30
N = 45
# The test's own sender asks no STUN server either (aiortc's default is Google's).
NO_ICE_SERVERS = aiortc.RTCConfiguration(iceServers=[])


async def _send(source) -> None:
    from bystander.server.whip import answer

    sender = aiortc.RTCPeerConnection(NO_ICE_SERVERS)
    sender.addTrack(FramesTrack(counter_frame, N))
    await sender.setLocalDescription(await sender.createOffer())
    receiver, sdp = await answer(sender.localDescription.sdp, source)
    await sender.setRemoteDescription(aiortc.RTCSessionDescription(sdp, "answer"))
    await asyncio.sleep(N / FPS + 2.0)  # every frame sent and received
    await sender.close()
    await receiver.close()


def test_whip_stream_is_recorded_from_its_first_frame(engine, tmp_path):
    from bystander.live.relay import Relay, RelayOptions
    from bystander.live.source import WebRtcSource

    source = WebRtcSource()
    out = tmp_path / "out.mp4"
    relay = Relay(engine, source, RelayOptions(destinations=[], record=out))
    result: dict = {}
    runner = threading.Thread(target=lambda: result.update(relay.run()))
    runner.start()
    asyncio.run(_send(source))
    runner.join(60)
    assert not runner.is_alive()
    counters, times = recorded_counters(out)
    measure(f"live: WHIP recording holds {len(counters)} of {N} sent frames, first #{counters[0]}")
    assert counters[:N] == list(range(N)) and len(counters) <= N + 1
    assert result["frames"] == len(counters)
    # Frames that waited for the first sender report are a burst, judged at the stream's pace: not
    # late, and not redacted whole.
    assert result["blank"] == 0


def test_answering_an_offer_looks_up_no_server_nobody_named(monkeypatch):
    """aiortc with no configuration looks up and asks stun.l.google.com: the server's address would
    reach a third party, and a machine without internet would wait on it. Every name looked up while
    an offer is answered is recorded; only addresses of this machine may be among them."""
    import socket

    from bystander.live.source import WebRtcSource
    from bystander.server.whip import answer

    looked_up: list[str] = []
    for name in ("getaddrinfo", "gethostbyname"):  # aioice resolves a STUN server with the second
        real = getattr(socket, name)

        def recording(host, *args, _real=real, **kwargs):
            looked_up.append(str(host))
            return _real(host, *args, **kwargs)

        monkeypatch.setattr(socket, name, recording)

    async def offer_and_answer() -> None:
        sender = aiortc.RTCPeerConnection(NO_ICE_SERVERS)
        sender.addTrack(FramesTrack(counter_frame, N))
        await sender.setLocalDescription(await sender.createOffer())
        receiver, sdp = await answer(sender.localDescription.sdp, WebRtcSource())
        assert "a=candidate" in sdp
        await receiver.close()
        await sender.close()

    asyncio.run(offer_and_answer())
    assert not [h for h in looked_up if "google" in h or not (h.startswith(("127.", "::1", "localhost")) or
                                                              h.replace(".", "").isdigit() or ":" in h)], looked_up
