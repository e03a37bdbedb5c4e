"""Registered people stay visible among other people, and no bystander inherits their identity:
group scenes composed from real clips and stills (tests/scenes.py), the pedestrian walker and the
Hamilton clip, redacted by the real command and scored by the shared judge against ground truth
(tests/gt/, checked by eye)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from conftest import measure
from groups_cases import CASES, Case, redact_and_score

# The claim: a registered person is shown in the frames where they are unhidden and large enough to
# recognise (the target: 97% of them), and no bystander is ever shown. Every case not listed below
# shows all such frames but the Hamilton clip (147/149); 97% leaves one to three frames of margin (one
# of 43-60, two of 96 or 149, three of 120) for int8 results that shift slightly on another CPU.
REGISTERED_VISIBLE = Fraction(97, 100)

# Where a case misses that, by how much and why (measured; each a floor at what the code does):
EXPECTED = {
    # He turns his face down, half hidden behind a boy's head, from frame 23 to 46: every view of him
    # there reads 0.01-0.25 against his registration, a stranger's range, and no identity is shown on
    # such evidence. From frame 47 to the end he is shown in every frame: 57 of 82 on the AVX-512
    # machines, 56 on the AVX2-only one (int8 results shift); the floor leaves one frame below that.
    "pedestrians 1080p, the walker in glasses registered": Fraction(55, 82),
    # As she walks in front of him, his views read 0.39-0.45; beside another face a frontal view under
    # 0.40 counts against his identity, back to his last match: two frames since the detectors' input
    # is stretched to a multiple of 32 rather than padded (one before; faces cut by the border gained).
    "crossing, gap 0.1, female in front, male registered": Fraction(30, 32),
    # Her face behind his is still detected clearly for two frames, and a clear detection of a
    # bystander is always redacted, over a registered face too.
    "crossing, gap 0.1, male in front, male registered": Fraction(58, 60),
}

@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_registered_people_stay_visible_among_others(case: Case, media, tmp_path):
    score = redact_and_score(case, tmp_path)
    measure(f"{case.name}: {score.summary}")
    assert score.leak.startswith("na") or score.bystander_leaks == 0, score.summary
    assert score.registered_visible >= EXPECTED.get(case.name, REGISTERED_VISIBLE), score.summary
