"""The media layer's plumbing on plain Python values: decoding ahead on a thread."""

import threading
import time

import pytest

from bystander.media.video import in_background


def test_items_come_in_order_at_most_depth_ahead():
    made = []

    def items():
        for i in range(20):
            made.append(i)
            yield i

    got = []
    for item in in_background(items(), depth=3):
        time.sleep(0.005)
        assert len(made) - len(got) <= 3 + 2  # the queue, plus one being put and one being taken
        got.append(item)
    assert got == list(range(20))


def test_an_error_while_producing_is_raised_to_the_consumer_after_what_came_before():
    def items():
        yield 1
        yield 2
        raise ValueError("damaged at frame 3")

    got = []
    with pytest.raises(ValueError, match="frame 3"):
        for item in in_background(items(), depth=4):
            got.append(item)
    assert got == [1, 2]


def test_a_consumer_that_stops_early_stops_the_producer():
    def items():
        i = 0
        while True:
            yield i
            i += 1

    before = threading.active_count()
    for item in in_background(items(), depth=2):
        if item == 5:
            break
    time.sleep(0.2)
    assert threading.active_count() == before
