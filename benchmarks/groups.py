"""Registered people among other people: composed group scenes, the pedestrian walker and the
Hamilton clip, each redacted by the real ``bystander video`` command and scored by the shared judge.

    .venv/bin/python benchmarks/groups.py [--only NAME]

Group scenes are composed from real clips and stills (tests/scenes.py: the head-pose man and woman
shoulder to shoulder at gaps of 0.1 to 1 face-width or walking past each other, photos of two
people panned and zoomed), with ground truth that follows from where each face was pasted.
Printed per case: registered_visible and bystander_leak (../shared/eval/score.py).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from groups_cases import CASES, redact_and_score  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", help="cases whose name contains this")
    ap.add_argument("--detect-every", type=int, help="passed on to bystander video")
    a = ap.parse_args()
    extra = ["--detect-every", str(a.detect_every)] if a.detect_every else []
    print(f"{'case':58} {'registered_visible':>20} {'bystander_leak':>16}")
    with tempfile.TemporaryDirectory(prefix="bystander-bench-groups-") as tmp:
        for case in CASES:
            if a.only and a.only not in case.name:
                continue
            r = redact_and_score(case, Path(tmp), extra)
            print(f"{case.name:58} {r.visible:>20} {r.leak:>16}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
