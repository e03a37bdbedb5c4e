"""The outgoing timeline (live/timeline.py): where the publisher's timestamps land, in ms."""

from bystander.live.timeline import Timeline


def near(a: int, b: int) -> bool:
    """Equal within the 1 ms that arrival seconds lose on their way to whole milliseconds."""
    return abs(a - b) <= 1


def feed(t: Timeline, frames):
    """(publisher ms, arrival s) pairs through ``t.video``; the outgoing timestamps."""
    return [t.video(ms, arrival) for ms, arrival in frames]


def test_a_stream_starts_at_zero_and_keeps_the_publishers_spacing_even_when_irregular():
    t = Timeline()
    assert not t.started
    # Variable frame rate as phones send it: 33, 34, 66 and 16 ms apart.
    out = feed(t, [(5000, 10.0), (5033, 10.033), (5067, 10.067), (5133, 10.133), (5149, 10.149)])
    assert t.started
    assert out == [0, 33, 67, 133, 149]


def test_audio_gets_the_same_shift_as_video_so_sync_is_the_publishers():
    t = Timeline()
    t.new_session()
    assert t.video(5000, 10.0) == 0
    assert t.audio(4990, 4990, 10.0) == (-10, -10)  # audio a little ahead of the first frame
    assert t.audio(5011, 5013, 10.02) == (13, 11)  # (pts, dts)
    assert t.video(5033, 10.033) == 33


def test_a_gap_shorter_than_the_jump_limit_is_kept_as_sent():
    t = Timeline()
    feed(t, [(0, 1.0), (33, 1.033)])
    assert t.video(2033, 3.033) == 2033  # two seconds without frames: the hole stays a hole


def test_a_clock_jumping_ahead_of_real_time_continues_after_the_real_time_that_passed():
    t = Timeline()
    feed(t, [(0, 1.0), (33, 1.033)])
    # The publisher's clock leaps an hour while 33 ms pass: placed 33 ms after the last frame.
    assert t.video(3_600_000, 1.066) == 66
    assert t.video(3_600_033, 1.099) == 99


def test_a_clock_going_backwards_in_one_connection_is_placed_after_what_was_sent():
    t = Timeline()
    feed(t, [(10_000, 1.0), (10_033, 1.033), (10_066, 1.066)])
    # The encoder restarted: its 0 comes after the 434 ms of real time since the last frame.
    assert near(t.video(0, 1.5), 66 + 434)
    assert near(t.video(33, 1.533), 66 + 434 + 33)


def test_small_backwards_steps_never_reorder_frames():
    t = Timeline()
    feed(t, [(1000, 1.0), (1033, 1.033)])
    assert t.video(1020, 1.05) == 34  # within the jump limit: kept after the previous frame


def test_a_reconnecting_publisher_continues_after_the_time_it_was_away():
    t = Timeline()
    feed(t, [(0, 1.0), (33, 1.033), (66, 1.066)])
    t.new_session()
    # Back 2.5 s later with its clock restarted at 0, or anywhere: the gap is kept as real time.
    back = t.video(0, 3.566)
    assert near(back, 66 + 2500)
    assert t.video(33, 3.599) == back + 33
    t.new_session()
    assert near(t.video(9_000_000, 4.0), back + 33 + 401)


def test_audio_of_a_returning_publisher_that_overlaps_what_was_sent_is_dropped():
    t = Timeline()
    t.video(0, 1.0)
    assert t.audio(0, 0, 1.0) == (0, 0)
    assert t.audio(21, 21, 1.021) == (21, 21)
    assert t.audio(21, 21, 1.022) is None  # the same packet's time again
