"""The watermark answers only with positions old enough to have settled."""

from realtime.watermark import Watermark


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def watermark(clock: Clock) -> Watermark:
    return Watermark(store=None, ordered=False, settle=1.0, clock=clock)  # type: ignore[arg-type]


def test_nothing_is_settled_before_the_first_sample_is_old_enough() -> None:
    clock = Clock()
    mark = watermark(clock)
    mark.sample(10)
    clock.now += 0.5
    assert mark.settled() == 0


def test_the_newest_sample_older_than_the_settle_time_wins() -> None:
    clock = Clock()
    mark = watermark(clock)
    for head in (10, 20, 30):
        mark.sample(head)
        clock.now += 0.4
    # Samples are 1.2 s, 0.8 s and 0.4 s old: only the first has settled.
    assert mark.settled() == 10
    clock.now += 0.4
    assert mark.settled() == 20


def test_the_settled_position_never_moves_back() -> None:
    clock = Clock()
    mark = watermark(clock)
    mark.sample(50)
    clock.now += 2
    assert mark.settled() == 50
    mark.sample(40)  # a lagging replica's answer must not move it back
    clock.now += 2
    assert mark.settled() == 50
