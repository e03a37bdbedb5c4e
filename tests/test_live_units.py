"""Live mode's pure parts: the frame scheduler, key masking, bitrates."""

import time
from fractions import Fraction

from bystander.engine.judge import Mode
from bystander.live.encode import youtube_bitrate
from bystander.live.judging import look_ahead
from bystander.live.schedule import COST_SAMPLES, Budget, LookAhead, Pace, Scheduler, analysis_sizes
from bystander.live.secret import mask, mask_url


def test_scheduler_detects_every_frame_when_detection_is_cheap():
    s = Scheduler(Budget(interval=1 / 30))
    actions = []
    for _ in range(6):
        a = s.choose(lag=0.005, backlog=0)
        actions.append(a)
        s.detected(0.010)
    assert actions == [Mode.DETECT] * 6


def test_scheduler_strides_when_detection_costs_more_than_a_frame():
    s = Scheduler(Budget(interval=1 / 30))
    actions = []
    for _ in range(COST_SAMPLES + 6):
        a = s.choose(lag=0.005, backlog=0)
        if a is Mode.DETECT:
            s.detected(0.050)
        actions.append(a)
    # Every frame is detected until enough detections say what one costs, then every other.
    assert actions == [Mode.DETECT] * COST_SAMPLES + [Mode.SKIP, Mode.DETECT] * 3


def test_one_slow_detection_changes_nothing():
    """A stream's first detection (cold caches, everything starting at once) or a pause of the
    machine costs several frames' time: the next ones are still detected every frame, at full size."""
    s = Scheduler(Budget(interval=1 / 30), sizes=(640, 480))
    for seconds in [0.047, 0.045, 0.018, 0.016, 0.017, 0.018, 0.180, 0.012, 0.008, 0.019]:
        assert s.choose(lag=0.0, backlog=0) is Mode.DETECT
        s.detected(seconds)
        assert not s.reduced and s.stride == 1


def test_scheduler_never_coasts_too_long_and_blanks_late_frames():
    s = Scheduler(Budget(interval=1 / 30, max_delay=0.25, max_stride=3))
    assert s.choose(0.0, backlog=0) is Mode.DETECT
    # Behind: coast, but at most max_stride - 1 frames in a row.
    assert [s.choose(0.05, backlog=5) for _ in range(3)] == [Mode.SKIP, Mode.SKIP, Mode.DETECT]
    assert s.choose(0.30, backlog=5) is Mode.BLANK
    assert s.choose(0.01, backlog=0) is Mode.DETECT  # tracks are stale after a blanked frame
    # A burst handed over at once and paced by ``Pace``: frames queued behind one not yet due are
    # detected; once it is due, a queue is a reason to coast again.
    assert [s.choose(-0.2, backlog=20) for _ in range(3)] == [Mode.DETECT] * 3
    assert [s.choose(0.01, backlog=5) for _ in range(2)] == [Mode.SKIP, Mode.SKIP]


def test_a_late_engine_coasts_longer_runs_and_blanks_only_by_the_patient_pace():
    s = Scheduler(Budget(interval=1 / 30, max_delay=0.25, max_stride=2, late_stride=4))
    assert s.choose(0.0, backlog=0) is Mode.DETECT
    # Behind by a frame: every other frame. More than two frames behind: three in a row.
    assert [s.choose(0.05, backlog=5) for _ in range(2)] == [Mode.SKIP, Mode.DETECT]
    assert [s.choose(0.2, backlog=5) for _ in range(4)] == [Mode.SKIP] * 3 + [Mode.DETECT]
    assert not s.late(0.1) and s.late(0.2)
    # Working a burst off at the faster pace, a frame 0.3 s late by it but not by the patient pace
    # is judged; late by the patient pace too, it is blanked.
    assert s.choose(0.3, backlog=5, overdue=0.1) is not Mode.BLANK
    assert s.choose(0.3, backlog=5, overdue=0.3) is Mode.BLANK


def test_stream_keys_are_masked():
    assert mask_url("rtmp://a.rtmp.youtube.com/live2/abcd-1234") == "rtmp://a.rtmp.youtube.com/live2/****"
    assert mask_url("rtmps://user:pw@host/app/key?token=x") == "rtmps://host/app/****?****"
    text = "failed rtmp://h:1935/app/KEY1 with key KEY2"
    assert mask(text, ["KEY2"]) == "failed rtmp://h:1935/app/**** with key ****"


def test_bitrate_follows_youtube_recommendations():
    assert youtube_bitrate(1280, 720, 30) == 4000
    assert youtube_bitrate(1920, 1080, 30) == 6000
    assert youtube_bitrate(1920, 1080, 60) == 9000
    assert youtube_bitrate(640, 360, 29.97) == 1000
    assert youtube_bitrate(720, 1280, 30) == 4000  # portrait phone streams


def test_live_command_rejects_bad_arguments_with_one_line(home):
    from conftest import run_cli

    cases = [
        (["live", "--to", "rtmp://127.0.0.1/app/x"], "stream key"),
        (["live", "--key", "k"], "nowhere to send"),
        (["live", "--key", "k", "--to", "rtmp://h/app/x", "--listen", "http://0.0.0.0:1935/live"], "--listen"),
        (["live", "--key", "k", "--to", "http://h/app/secret-dest-key"], "rtmp://"),
        (["live", "--key", "k", "--record", "/no/such/folder/out.mp4"], "does not exist"),
        (["live", "--key", "k", "--to", "rtmp://h/app/x", "--max-height", "10"], "--max-height"),
    ]
    for args, message in cases:
        proc = run_cli(*args, home=home, env={"BYSTANDER_STREAM_KEY": ""})
        assert proc.returncode == 2, proc.stderr
        assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
        assert "secret-dest-key" not in proc.stderr


def test_scheduler_detects_on_a_smaller_copy_before_it_skips_frames():
    sizes = analysis_sizes(1280, 720, 1280)
    assert sizes == (1280, 960)  # a 20 px face stays 15 px
    assert analysis_sizes(1920, 1080, 1280) == (1280,)  # already analysed at two thirds
    s = Scheduler(Budget(interval=1 / 30), sizes=sizes)
    assert s.choose(0.0, backlog=0) is Mode.DETECT and s.analysis_size == 1280
    for _ in range(COST_SAMPLES):  # over the frame's share at full size
        assert not s.reduced
        s.choose(0.0, backlog=0)
        s.detected(0.035)
    assert s.reduced and s.analysis_size == 960
    for _ in range(20):  # the smaller copy fits: every frame is detected there
        assert s.choose(0.0, backlog=0) is Mode.DETECT
        s.detected(0.018)
    assert s.analysis_size == 960
    for _ in range(40):  # much cheaper now (a quiet scene): back to full size
        s.choose(0.0, backlog=0)
        s.detected(0.005)
    assert not s.reduced and s.analysis_size == 1280


def test_scheduler_skips_frames_only_when_the_smaller_copy_is_too_slow():
    s = Scheduler(Budget(interval=1 / 30), sizes=(1280, 960))
    actions = []
    for _ in range(40):
        a = s.choose(lag=0.005, backlog=0)
        if a is Mode.DETECT:
            s.detected(0.080 if s.analysis_size == 1280 else 0.045)
        actions.append(a)
    assert s.reduced and actions[-6:] == [Mode.DETECT, Mode.SKIP] * 3


def test_a_burst_is_due_at_the_streams_pace_and_a_late_frame_on_arrival():
    pace = Pace()
    # Five frames 100 ms apart on the stream's clock, all handed over at once (a server's buffered
    # start): due one after the other, at the stream's pace less the catch-up.
    assert [round(pace.due(10.0, 100 * i), 3) for i in range(5)] == [10.0, 10.09, 10.18, 10.27, 10.36]
    assert pace.due(12.0, 500) == 12.0  # came later than the pace: due when it came
    assert pace.due(12.0, 60_000) == 12.9  # a jump in the clock counts one second at most, less the catch-up


def test_a_bursts_lead_is_worked_off_and_a_fast_sender_builds_none():
    pace = Pace()
    for i in range(30):  # a second of frames at once
        pace.due(0.0, round(i * 1000 / 30))
    leads = [pace.due(t := (1 + k) / 30, round((30 + k) * 1000 / 30)) - t for k in range(300)]
    assert 0.8 < leads[0] and all(a >= b for a, b in zip(leads, leads[1:])) and leads[-1] == 0.0
    pace = Pace()  # a publisher whose frames come 1 % faster than their timestamps say
    assert max(pace.due(k * 0.033, round(k * 33.33)) - k * 0.033 for k in range(3000)) < 0.005


def test_the_look_ahead_leaves_one_frame_of_the_delay_for_encoding_and_sending():
    assert look_ahead(0.5, 30) == 14
    assert look_ahead(0.0, 30) == 0


def test_a_slow_pipeline_holds_fewer_frames_so_the_output_keeps_to_the_delay():
    interval = 1 / 30
    la = LookAhead(nominal=14, shortest=8, interval=interval)

    def second(overhead: float) -> int:  # a second of frames, each leaving the judge this much late
        for _ in range(30):
            frames = la.left(la.frames * interval + overhead)
        return frames

    assert second(0.005) == 14  # a fast machine: the whole look-ahead
    # Judging takes three frames more than the look-ahead allows for: one frame fewer each second.
    assert [second(0.1) for _ in range(4)] == [13, 12, 11, 11]
    assert [second(0.0) for _ in range(4)] == [12, 13, 14, 14]  # and back once it is fast again
    assert [second(1.0) for _ in range(8)][-1] == 8  # never fewer than a new face is covered back


def test_the_streamer_is_told_when_the_machine_is_the_limit():
    from bystander.live.stats import Analysis, LiveStats

    assert Analysis(1280, 1280, 1).limit() is None
    assert Analysis(1280, 1920, 1).limit() is None  # 1080p is always analysed at 1280
    assert Analysis(960, 1280, 3).limit() == "this machine keeps up by looking for faces in every 3rd frame, on a 960 px copy"
    stats = LiveStats()
    stats.analysis = Analysis(1280, 1280, 2)
    assert stats.machine(time.monotonic()) == "this machine keeps up by looking for faces in every 2nd frame"
    stats.count(frames=1, blank=1)
    assert "cannot keep up" in stats.machine(time.monotonic())


def test_after_a_blanked_frame_detection_resumes_with_half_the_delay_in_hand():
    """Resumed at the limit, the detection a blanked frame calls for makes the frames behind it late
    again: a slow machine would blank two frames of three for the rest of the stream."""
    s = Scheduler(Budget(interval=1 / 30, max_delay=0.25))
    assert s.choose(0.30, backlog=5) is Mode.BLANK
    assert s.choose(0.20, backlog=5) is Mode.BLANK  # under the limit, but not by half
    assert s.choose(0.12, backlog=5) is Mode.DETECT
    assert s.choose(0.20, backlog=5) is not Mode.BLANK  # judging again: the limit is the whole delay


def test_the_schedule_starts_from_the_detection_costs_measured_before_the_stream():
    """What the warm-up measured decides the first frames' size and stride, instead of five slow
    detections at full size on a machine that cannot afford them."""
    sizes = (1280, 960)
    slow = Scheduler(Budget(interval=1 / 30, max_stride=4), sizes=sizes, expected={1280: 0.062, 960: 0.039})
    assert slow.analysis_size == 960 and slow.stride == 2
    fast = Scheduler(Budget(interval=1 / 30, max_stride=4), sizes=sizes, expected={1280: 0.020, 960: 0.011})
    assert fast.analysis_size == 1280 and fast.stride == 1
    # The stream's own detections soon decide: three at what one core of a loaded machine costs.
    for _ in range(3):
        slow.choose(0.0, backlog=0)
        slow.detected(0.085)
    assert slow.analysis_size == 960 and slow.stride == 3
    # A fixed stride is the user's: nothing measured changes it.
    fixed = Scheduler(Budget(interval=1 / 30), stride=1, sizes=sizes, expected={1280: 0.062, 960: 0.039})
    assert fixed.analysis_size == 1280 and fixed.stride == 1


def test_the_relay_steps_down_to_720p_only_where_the_machine_cannot_keep_up_with_1080p():
    """The decision on the first frame, from what the warm-up measures: a fast machine's two cores
    keep 1080p30, one core of it does not (it blanked 741 of 945 frames at 1080p), and 720p is
    never stepped down further."""
    from bystander.live.capacity import Capacity
    from bystander.live.stats import Analysis, LiveStats, Output

    detection = {1280: 0.020, 960: 0.012}
    per_pixel = 1 / (1280 * 720)  # the warm-up's measure: seconds for a 720p frame, per pixel
    two_cores, one_core = Capacity(detection, 0.0093 * per_pixel, 2), Capacity(detection, 0.0096 * per_pixel, 1)
    assert two_cores.output_size(1920, 1080, Fraction(30), 6) == (1920, 1080)
    assert one_core.output_size(1920, 1080, Fraction(30), 6) == (1280, 720)
    assert one_core.output_size(1280, 720, Fraction(30), 6) == (1280, 720)
    assert one_core.output_size(1080, 1920, Fraction(30), 6) == (608, 1080)  # a phone held upright keeps its shape
    slow = Capacity({1280: 0.062, 960: 0.039}, 0.030 * per_pixel, 1)
    assert slow.output_size(3840, 2160, Fraction(30), 6) == (1280, 720)  # nothing fits: 720p at the least
    stats = LiveStats()
    stats.output = Output(1280, 720, 30.0, 1080)
    assert stats.machine(time.monotonic()) == "this machine keeps up with 720p30; 1080p is sent at 720p"
    stats.analysis = Analysis(960, 1280, 2)
    assert stats.machine(time.monotonic()) == "this machine keeps up with 720p30 by looking for faces in every " \
                                              "2nd frame, on a 960 px copy; 1080p is sent at 720p"
    stats.count(frames=1, blank=1)
    assert stats.machine(time.monotonic()) == \
        "1080p is sent at 720p, and even so this machine cannot keep up: some frames are sent blurred whole"
