"""Time left in a job (engine/jobs/eta.py): from measured steps, never from the first alone."""
from engine.jobs.eta import EtaClock
from engine.jobs.events import JobProgress


def test_the_first_step_alone_gives_no_estimate_as_it_carries_one_off_work():
    # A cold first step (tracing, compiling) of 1.5 s, then steps of 0.1 s: 20 steps take 3.4 s.
    clock = EtaClock()
    clock.add(1.5)
    assert clock.eta(1, 20) is None, "1.5 s x 19 steps would say about 28 s for 2 s of work"
    assert JobProgress(1, "denoising", 1, 20, clock.eta(1, 20)).describe() == "Step 1 of 20"
    clock.add(0.1)
    assert abs(clock.eta(2, 20) - 0.1 * 18) < 1e-9, "the second step counts without the first"
    clock.add(0.12)
    assert abs(clock.eta(3, 20) - 0.11 * 17) < 1e-9


def test_the_estimate_adds_the_decode_time_measured_before():
    clock = EtaClock(decode_guess=2.0)
    clock.add(1.0)
    clock.add(0.5)
    assert clock.eta(2, 4) == 0.5 * 2 + 2.0
    assert clock.eta(4, 4) == 2.0


def test_a_one_step_job_ends_on_its_decode_time():
    clock = EtaClock(decode_guess=1.25)
    assert clock.eta(0, 1) is None
    clock.add(3.0)
    assert clock.eta(1, 1) == 1.25


def test_the_median_of_the_last_ten_steps_ignores_a_one_off_stall():
    clock = EtaClock()
    for seconds in [5.0] + [0.2] * 12 + [4.0]:
        clock.add(seconds)
    assert abs(clock.eta(14, 30) - 0.2 * 16) < 1e-9


def test_the_last_job_of_the_size_stands_in_for_the_cold_first_step():
    clock = EtaClock(decode_guess=1.0, step_guess=0.1)
    clock.add(0.1)  # warm: the engine already ran this size
    assert abs(clock.eta(1, 20) - (0.1 * 19 + 1.0)) < 1e-9
    clock.add(0.2)
    assert abs(clock.eta(2, 20) - (0.2 * 18 + 1.0)) < 1e-9, "then its own steps"
