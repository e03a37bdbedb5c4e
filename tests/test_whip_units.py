"""WHIP's pure parts: bitrate hints in the answer SDP, RTP timestamps on the sender's clock."""

from bystander.live.source import SenderClock
from bystander.server.whip import BITRATE_HINTS, with_bitrate_hints

ANSWER = "\r\n".join([
    "v=0", "m=audio 9 UDP/TLS/RTP/SAVPF 111", "a=rtpmap:111 opus/48000/2", "a=fmtp:111 minptime=10",
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97 102", "a=rtpmap:96 VP8/90000", "a=rtpmap:97 rtx/90000",
    "a=fmtp:97 apt=96", "a=rtpmap:102 H264/90000", "a=fmtp:102 packetization-mode=1;profile-level-id=42e01f", ""])


def test_every_video_codec_gets_bitrate_hints_and_nothing_else_does():
    sdp = with_bitrate_hints(ANSWER)
    lines = sdp.split("\r\n")
    assert f"a=fmtp:96 {BITRATE_HINTS}" in lines  # VP8 had no fmtp line: one is added
    assert f"a=fmtp:102 packetization-mode=1;profile-level-id=42e01f;{BITRATE_HINTS}" in lines
    assert "a=fmtp:111 minptime=10" in lines and "a=fmtp:97 apt=96" in lines
    assert sdp.count("x-google-start-bitrate") == 2


def test_sender_clock_maps_rtp_time_through_the_latest_report_and_across_the_wrap():
    clock = SenderClock(90000)
    assert clock.seconds(1000) is None  # before any sender report
    ntp = int(1000.5 * 2**32)
    clock.report(rtp_timestamp=2**32 - 9000, ntp_timestamp=ntp)
    assert abs(clock.seconds(2**32 - 9000) - 1000.5) < 1e-6
    assert abs(clock.seconds(81000) - 1001.5) < 1e-6  # wrapped past 2**32: one second later
    assert abs(clock.seconds(2**32 - 18000) - 1000.4) < 1e-6  # a little before the report


def test_ice_servers_are_only_those_named_and_a_bad_one_is_refused_with_its_reason(tmp_path):
    from bystander.server.whip import IceServer
    from conftest import run_cli

    assert IceServer.parse("stun:stun.example.org:3478") == IceServer("stun:stun.example.org:3478")
    assert IceServer.parse("turn:ann:s3cret@turn.example.org:3478?transport=tcp") == \
        IceServer("turn:turn.example.org:3478?transport=tcp", "ann", "s3cret")
    proc = run_cli("serve", "--ice-server", "turn:ann:s3cret@", home=tmp_path)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        "bystander: error: --ice-server: credentials go with turn: only, as turn:USER:PASSWORD@HOST[:PORT]"]
    assert "s3cret" not in proc.stderr
    proc = run_cli("serve", "--ice-server", "https://stun.example.org", home=tmp_path)
    assert proc.returncode == 2 and "--ice-server: must be stun:HOST[:PORT]" in proc.stderr
