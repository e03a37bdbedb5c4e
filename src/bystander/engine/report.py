"""The privacy report of a file or stream: who was kept, how many others were blurred, and where
the judge could not decide."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .face import Decision, Reason
from .judge import Judged

# A track counts as a person blurred once it was detected clearly on this many frames: fewer is
# more likely a false detection (a hand, a pattern) than someone.
_PERSON_FRAMES = 3
# A face redacted although it resembled someone registered this much: a moment the judge was unsure.
_UNSURE_SIMILARITY = 0.4


def people_blurred(decisions: list[Decision], clear: float) -> int:
    """Other people a photo's decisions blur: redacted faces detected clearly (``clear``: the score
    recognition asks for). A faint detection (a sleeve, a hand) is blurred as well, but not counted
    as a person, as a video counts only tracks detected clearly."""
    return sum(1 for d in decisions if d.redact and d.face.score >= clear)


def others_blurred_text(n: int) -> str:
    return f"{n} other {'person' if n == 1 else 'people'} blurred"


@dataclass
class PrivacyReport:
    frames: int = 0
    kept_frames: Counter = field(default_factory=Counter)  # person -> frames shown
    whole_frames: int = 0  # frames redacted whole: not judged in time, or the engine failed on them
    fault_frames: int = 0  # of those, the frames the engine failed on (detection or redaction raised)
    unsure_frames: int = 0  # frames with a face recognised as someone registered but not shown
    _blurred: Counter = field(default_factory=Counter)  # track -> clear detections redacted
    _kept_tracks: set = field(default_factory=set)

    def add(self, judged: Judged, fault: bool = False) -> None:
        """One frame as judged; ``fault``: it is unjudged because the engine failed on it."""
        self.frames += 1
        if judged.decisions is None:
            self.whole_frames += 1
            self.fault_frames += fault
            return
        unsure = False
        for d in judged.decisions:
            if not d.redact:
                self.kept_frames[d.person] += 1
                self._kept_tracks.add(d.track_id)
            elif d.reason in (Reason.UNKNOWN, Reason.UNCONFIRMED, Reason.EVERYONE, Reason.CROSSING):
                self._blurred[d.track_id] += 1
                unsure |= d.reason is not Reason.UNKNOWN and d.similarity is not None and d.similarity >= _UNSURE_SIMILARITY
        self.unsure_frames += unsure

    def redacted_whole(self) -> None:
        """A frame already added as judged went out redacted whole: redacting it as judged failed."""
        self.whole_frames += 1
        self.fault_frames += 1

    def merge(self, other: "PrivacyReport", tag: object) -> None:
        """Add ``other``'s counts: a part of the same file judged apart (a cluster segment), whose
        track numbers are told apart from this report's by ``tag``."""
        self.frames += other.frames
        self.kept_frames.update(other.kept_frames)
        self.whole_frames += other.whole_frames
        self.fault_frames += other.fault_frames
        self.unsure_frames += other.unsure_frames
        self._blurred.update({(tag, t): n for t, n in other._blurred.items()})
        self._kept_tracks.update((tag, t) for t in other._kept_tracks)

    @property
    def others_blurred(self) -> int:
        """Distinct other people blurred (tracks, so one person who leaves and comes back counts twice).
        In an input shorter than ``_PERSON_FRAMES``, a face in all of it counts."""
        enough = min(_PERSON_FRAMES, self.frames)
        return sum(1 for t, n in self._blurred.items() if n >= enough and t not in self._kept_tracks)

    def as_dict(self, fps: float) -> dict:
        per = 1 / fps if fps else 0.0
        return {
            "kept": [{"person": p, "seconds": round(n * per, 2), "frames": n}
                     for p, n in self.kept_frames.most_common()],
            "others_blurred": self.others_blurred,
            "frames": self.frames,
            "frames_redacted_whole": self.whole_frames,
            "frames_redacted_whole_for_faults": self.fault_frames,
            "whole_frame_reason": self._whole_frame_reason(),
            "unsure_frames": self.unsure_frames,
        }

    def _whole_frame_reason(self) -> str | None:
        reasons = [*(["not judged by its deadline"] if self.whole_frames > self.fault_frames else []),
                   *(["the engine failed on it"] if self.fault_frames else [])]
        return ", or ".join(reasons) or None

    def summary(self, fps: float) -> str:
        kept = ", ".join(f"{p} {n / fps:.1f} s" for p, n in self.kept_frames.most_common()) if fps else ""
        text = f"kept: {kept or 'nobody'}; {others_blurred_text(self.others_blurred)}"
        if self.whole_frames:
            text += f"; {self.whole_frames} frames redacted whole"
        return text
