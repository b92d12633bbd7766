"""Answers take turns: at most ANSWERS_AT_ONCE are worked out at once, first come first served, and the
background work that waits for a gap sees the waiting ones too."""

from __future__ import annotations

import threading
import time

from bot.after_answer import ANSWERS_AT_ONCE, Answers


def _held(answers: Answers, started: list[int], release: threading.Event, n: int) -> threading.Thread:
    def answer() -> None:
        with answers:
            started.append(n)
            release.wait()

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    return thread


def _until(condition, what: str) -> None:
    deadline = time.monotonic() + 10  # patience on a loaded machine, never what is asserted
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.005)


def test_no_more_than_two_answers_are_worked_out_at_once_and_the_rest_go_in_arrival_order():
    assert ANSWERS_AT_ONCE == 2
    answers, started, release = Answers(), [], threading.Event()
    first = [_held(answers, started, release, n) for n in (0, 1)]
    _until(lambda: started == [0, 1], "the first two start at once")
    waiting = []
    for n in range(2, 6):  # each arrives after the one before it is waiting
        waiting.append(_held(answers, started, release, n))
        _until(lambda n=n: answers._next_ticket == n + 1, f"answer {n} waits for its turn")
    time.sleep(0.05)
    assert started == [0, 1]  # the four others wait while both places are taken
    release.set()
    for thread in first + waiting:
        thread.join(10)
    assert started == [0, 1, 2, 3, 4, 5]


def test_background_work_waits_while_an_answer_is_still_waiting_for_its_turn():
    answers, started, release = Answers(at_once=1), [], threading.Event()
    threads = [_held(answers, started, release, n) for n in (0, 1)]
    _until(lambda: started == [0] and answers._next_ticket == 2, "one works, one waits")
    gap = threading.Event()
    threading.Thread(target=lambda: (answers.wait_quiet(30), gap.set()), daemon=True).start()
    time.sleep(0.05)
    assert not gap.is_set()
    release.set()
    for thread in threads:
        thread.join(10)
    _until(gap.is_set, "the gap comes once both answers are done")
    assert started == [0, 1]
