"""Joining redacted segments into one file by stream copy, with the input's audio copied once.

Every segment is an MP4 with its frames' input timestamps, in the input's time base, and starts
with a keyframe of its own, so its packets go into the output as they are: the frame count and
timestamps are the input's. (MP4 keeps where a stream starts in milliseconds, so a segment's
timestamps come back shifted by up to half a millisecond; each is put back at its known start.) The
audio comes from the input in one piece, never per segment: cutting audio at segment boundaries is
what makes chunked pipelines drift.
"""

from __future__ import annotations

import contextlib
import heapq
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av

from ..errors import BystanderError
from ..media.video import AudioOut, file_metadata, open_input, write_metadata


def stitch(segments: list[tuple[Path, int]], src: Path, dst: Path, container_format: str,
           keep_metadata: bool = False) -> int:
    """Write ``dst`` from the video of ``segments`` (in order, each with the timestamp of its first
    frame) and the audio (and with ``keep_metadata`` the tags) of ``src``; returns the number of
    video frames written."""
    try:
        return _stitch(segments, src, dst, container_format, keep_metadata)
    except av.error.FFmpegError as exc:  # closing writes the index: a full disk shows up here too
        raise BystanderError(f"{dst}: cannot write the output ({exc.strerror or exc})") from None


def _stitch(segments: list[tuple[Path, int]], src: Path, dst: Path, container_format: str,
            keep_metadata: bool) -> int:
    with contextlib.ExitStack() as stack:
        parts = [stack.enter_context(av.open(str(p), mode="r")) for p, _ in segments]
        first = parts[0].streams.video[0]
        for part in parts[1:]:
            if part.streams.video[0].codec_context.extradata != first.codec_context.extradata:
                raise BystanderError(f"{dst}: the segments were encoded differently and cannot be joined")
        source = stack.enter_context(open_input(src))
        audio_in = source.streams.audio[0] if source.streams.audio else None
        out = stack.enter_context(av.open(str(dst), mode="w", format=container_format))
        write_metadata(out, file_metadata(source) if keep_metadata else None, container_format)
        video = out.add_stream_from_template(first)
        video.time_base = first.time_base
        audio = AudioOut(out, audio_in) if audio_in is not None else None
        written = 0
        streams = [_video_packets(parts, [start for _, start in segments])]
        if audio is not None:
            streams.append(_audio_packets(source, audio_in))
        for _, _, packet in heapq.merge(*streams, key=lambda item: item[:2]):
            if packet.stream.type == "video":
                packet.stream = video
                _mux(out, packet, dst)
                written += 1
            else:
                for p in audio.packets(packet):
                    _mux(out, p, dst)
        if audio is not None:
            for p in audio.flush():
                _mux(out, p, dst)
    return written


def _video_packets(parts: list[av.container.InputContainer],
                   starts: list[int]) -> Iterator[tuple[Fraction, int, av.Packet]]:
    for part, start in zip(parts, starts):
        shift = None
        for packet in _packets(part.demux(part.streams.video[0])):
            if shift is None:  # a segment opens with its keyframe, its earliest frame
                shift = start - packet.pts
            packet.pts += shift
            if packet.dts is not None:
                packet.dts += shift
            yield _timed(packet)


def _audio_packets(source: av.container.InputContainer,
                   audio: av.audio.stream.AudioStream) -> Iterator[tuple[Fraction, int, av.Packet]]:
    for packet in _packets(source.demux(audio)):
        if packet.dts is not None:
            yield _timed(packet)


def _packets(packets: Iterator[av.Packet]) -> Iterator[av.Packet]:
    return (p for p in packets if p.size)  # without the demuxer's empty flush packet


def _timed(packet: av.Packet) -> tuple[Fraction, int, av.Packet]:
    """The packet with its decoding time, for interleaving (video first on ties)."""
    when = packet.dts if packet.dts is not None else packet.pts
    return (when or 0) * packet.time_base, 0 if packet.stream.type == "video" else 1, packet


def _mux(out: av.container.OutputContainer, packet: av.Packet, dst: Path) -> None:
    try:
        out.mux(packet)
    except av.error.ArgumentError as exc:
        raise BystanderError(f"{dst}: the segments cannot be joined ({exc})") from None
    except OSError as exc:
        raise BystanderError(f"{dst}: cannot write the output ({exc.strerror or exc})") from None
