"""AfterAnswer: bounded lanes off the answering path, explicit back-pressure, and their metrics."""

from __future__ import annotations

import threading

import pytest
from prometheus_client import REGISTRY

from bot.after_answer import BACKGROUND, UI, AfterAnswer, lane_of


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def pool():
    made: list[AfterAnswer] = []

    def make(**kw) -> AfterAnswer:
        made.append(AfterAnswer(**kw))
        return made[-1]

    yield make
    for p in made:
        p.shutdown(wait=False)


def test_kinds_choose_their_lane():
    assert lane_of("ui.open_form") == UI
    assert lane_of("file_issue") == BACKGROUND
    assert lane_of("gitlab_event") == BACKGROUND


def test_work_runs_on_another_thread_and_submit_never_waits_for_it(pool):
    after = pool()
    release, ran_on = threading.Event(), []

    def work(x, *, y):
        ran_on.append((threading.current_thread().name, x, y))
        release.wait(5)

    assert after.submit("file_issue", work, 1, y=2) is True  # returns while work() is still blocked
    release.set()
    after.shutdown(wait=True, timeout=5)
    assert ran_on and ran_on[0][1:] == (1, 2)
    assert ran_on[0][0].startswith("after-answer-background")


def test_a_full_lane_refuses_work_without_running_it_and_counts_it(pool):
    after = pool(workers=1, queue_max=2)
    release, started = threading.Event(), threading.Event()
    ran: list[int] = []

    def block():
        started.set()
        release.wait(5)

    rejected_before = sample("learnbot_after_answer_rejected_total", lane=BACKGROUND, kind="file_issue")
    assert after.submit("block", block)
    assert started.wait(5)
    assert after.submit("file_issue", ran.append, 1) and after.submit("file_issue", ran.append, 2)
    assert after.depth(BACKGROUND) == 2
    assert after.submit("file_issue", ran.append, 3) is False  # full: left to the worker's stored job
    assert after.depth(BACKGROUND) == 2  # memory stays bounded
    assert sample("learnbot_after_answer_rejected_total", lane=BACKGROUND, kind="file_issue") == rejected_before + 1
    release.set()
    after.shutdown(wait=True, timeout=5)
    assert ran == [1, 2]


def test_a_stuck_background_lane_never_holds_up_the_ui_lane(pool):
    after = pool(workers=2, queue_max=4)
    release = threading.Event()
    for _ in range(6):  # every background thread busy (GitLab hanging) and its queue full
        after.submit("file_issue", release.wait, 10)
    assert after.submit("file_issue", release.wait, 10) is False
    opened = threading.Event()
    assert after.submit("ui.open_form", opened.set)
    assert opened.wait(5), "ui work waited behind background work"
    release.set()


def test_a_failure_is_counted_and_the_lane_goes_on(pool):
    after = pool(workers=1)
    done = threading.Event()
    failed_before = sample("learnbot_after_answer_failed_total", lane=BACKGROUND, kind="boom")

    def boom():
        raise RuntimeError("GitLab said no")

    after.submit("boom", boom)
    after.submit("next", done.set)
    assert done.wait(5)
    assert sample("learnbot_after_answer_failed_total", lane=BACKGROUND, kind="boom") == failed_before + 1


def test_metrics_show_depth_submissions_and_run_time(pool):
    after = pool(ui_workers=1, ui_queue=8)
    release, started = threading.Event(), threading.Event()
    submitted_before = sample("learnbot_after_answer_submitted_total", lane=UI, kind="ui.tell")
    runs_before = sample("learnbot_after_answer_run_seconds_count", lane=UI, kind="ui.tell")
    depth_before = sample("learnbot_after_answer_queue_depth", lane=UI)

    def first():
        started.set()
        release.wait(5)

    after.submit("ui.tell", first)
    assert started.wait(5)
    after.submit("ui.tell", lambda: None)
    after.submit("ui.tell", lambda: None)
    assert sample("learnbot_after_answer_queue_depth", lane=UI) == depth_before + 2
    assert sample("learnbot_after_answer_running", lane=UI) >= 1
    release.set()
    after.shutdown(wait=True, timeout=5)
    assert sample("learnbot_after_answer_queue_depth", lane=UI) == depth_before
    assert sample("learnbot_after_answer_submitted_total", lane=UI, kind="ui.tell") == submitted_before + 3
    assert sample("learnbot_after_answer_run_seconds_count", lane=UI, kind="ui.tell") == runs_before + 3


def test_shutdown_finishes_queued_work_then_refuses_more(pool):
    after = pool(workers=1)
    ran: list[int] = []
    for i in range(5):
        after.submit("file_issue", ran.append, i)
    after.shutdown(wait=True, timeout=5)
    assert ran == [0, 1, 2, 3, 4]
    assert after.submit("file_issue", ran.append, 9) is False


def test_threads_start_only_as_work_arrives(pool):
    after = pool(workers=8)
    before = set(threading.enumerate())
    done = threading.Event()
    after.submit("file_issue", done.set)
    assert done.wait(5)
    started = set(threading.enumerate()) - before
    assert len([t for t in started if t.name.startswith("after-answer-")]) == 1
