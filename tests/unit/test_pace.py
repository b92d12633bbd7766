"""The shared Slack pace: tiers, bursts, a channel's own limit, Retry-After, many threads (a fake clock)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from slack_sdk.errors import SlackApiError

from bot.gateways.observed import ObservedWebClient
from bot.gateways.pace import CHANNEL_BURST, Pace, Paced, Rule
from tests.standins.slack import FakeSlack


class FakeClock:
    """A monotonic clock that moves only when someone sleeps (or a test says so): no wall time raced."""

    def __init__(self) -> None:
        self.now = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now += max(seconds, 0.001)

    def advance(self, seconds: float) -> None:
        self.sleep(seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def pace(clock: FakeClock, **kw) -> Pace:
    return Pace(clock=clock, sleep=clock.sleep, **kw)


def call(p: Pace, method: str, *, channel: str | None = None, max_wait: float = 30.0, lasts: float = 0.0,
         clock: FakeClock | None = None) -> None:
    with p.permit(method, channel=channel, max_wait=max_wait):
        if clock is not None and lasts:
            clock.advance(lasts)


def test_a_tier_allows_its_burst_at_once_then_waits_a_window_from_the_first_end(clock):
    p = pace(clock)
    for _ in range(20):  # users.list is Tier 2: 20 a minute
        call(p, "users.list")
    assert clock.now == 0.0  # the burst went at once
    assert p.delay("users.list") == pytest.approx(60.0)
    assert p.delay("users.info") == 0.0  # another method, another count
    with pytest.raises(Paced) as refused:
        call(p, "users.list", max_wait=5)
    assert refused.value.wait == pytest.approx(60.0) and clock.now == 0.0  # refused at once, no waiting
    clock.advance(59.0)
    assert p.delay("users.list") == pytest.approx(1.0)
    call(p, "users.list")  # waits the last second
    assert clock.now >= 60.0


def test_a_call_counts_from_its_end_so_slow_calls_never_bunch_up_at_slack(clock):
    p = pace(clock, rules={"users.list": (Rule(1),)})
    call(p, "users.list", lasts=10.0, clock=clock)  # started at 0, ended at 10
    assert p.delay("users.list") == pytest.approx(60.0)  # Slack may have seen it at 10: 70 is safe


def test_a_call_in_flight_holds_its_place(clock):
    p = pace(clock, rules={"m": (Rule(1),)})
    with p.permit("m"):
        assert p.delay("m") == pytest.approx(60.0)
        with pytest.raises(Paced):
            call(p, "m", max_wait=1)


def test_post_message_is_paced_per_channel_with_a_short_burst(clock):
    p = pace(clock)
    for _ in range(CHANNEL_BURST):
        call(p, "chat.postMessage", channel="U0ADA")
    assert clock.now == 0.0
    assert p.delay("chat.postMessage", channel="U0ADA") == pytest.approx(CHANNEL_BURST)
    assert p.delay("chat.postMessage", channel="U0GRACE") == 0.0  # someone else's DM goes now
    call(p, "chat.postMessage", channel="U0GRACE")
    call(p, "chat.postMessage", channel="U0ADA")  # waits for its channel
    assert clock.now == pytest.approx(CHANNEL_BURST, abs=0.1)


def test_post_message_keeps_under_the_workspace_ceiling_across_channels(clock):
    p = pace(clock, posts_per_minute=30)
    for i in range(30):
        call(p, "chat.postMessage", channel=f"U{i}")
    assert p.delay("chat.postMessage", channel="U999") == pytest.approx(60.0)
    assert p.delay("chat.postMessage") == pytest.approx(60.0)  # also asked without a channel


def test_retry_after_blocks_the_method_for_everyone_until_it_has_passed(clock):
    p = pace(clock)
    p.retry_after("chat.postMessage", 12)
    assert p.delay("chat.postMessage", channel="U0ADA") == pytest.approx(12.0)
    assert p.delay("chat.postMessage", channel="U0GRACE") == pytest.approx(12.0)
    assert p.delay("users.info") == 0.0
    with pytest.raises(Paced):
        call(p, "chat.postMessage", channel="U0ADA", max_wait=5)
    call(p, "chat.postMessage", channel="U0ADA")  # within 30 s: waits it out
    assert clock.now >= 12.0
    p.retry_after("chat.postMessage", 1)  # a shorter answer later never shortens a longer hold
    p.retry_after("chat.postMessage", 0.5)
    assert p.delay("chat.postMessage") == pytest.approx(1.0)


def test_many_threads_never_exceed_the_rate(clock):
    rule = Rule(20, 60.0)
    p = pace(clock, rules={"users.list": (rule,), "chat.postMessage": (Rule(30), Rule(3, 3.0, per_channel=True))})
    starts: list[tuple[str, str | None, float]] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        for i in range(10):
            method, channel = ("users.list", None) if i % 2 else ("chat.postMessage", f"U{(n + i) % 4}")
            with p.permit(method, channel=channel, max_wait=10_000):
                with lock:
                    starts.append((method, channel, clock()))
                clock.advance(0.15)  # the call takes a while

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads) and len(starts) == 160

    def most_in_any_window(times: list[float], window: float) -> int:
        times = sorted(times)
        return max(sum(1 for u in times if t <= u < t + window) for t in times)

    assert most_in_any_window([t for m, _, t in starts if m == "users.list"], 60.0) <= 20
    assert most_in_any_window([t for m, _, t in starts if m == "chat.postMessage"], 60.0) <= 30
    for channel in {c for m, c, _ in starts if m == "chat.postMessage"}:
        assert most_in_any_window([t for m, c, t in starts if c == channel], 3.0) <= 3
    # ...and the pace is used, not wasted: 80 users.list calls at 20 a minute is a little over 3 minutes.
    assert clock.now < 5 * 60


def test_unknown_methods_get_tier_2(clock):
    p = pace(clock)
    for _ in range(20):
        call(p, "reactions.add")
    assert p.delay("reactions.add") > 0


# --- through learnbot's WebClient, against the stand-in Slack -------------------------------------------

def observed(slack, clock: FakeClock | None = None, **pace_kw) -> ObservedWebClient:
    p = Pace(clock=clock, sleep=clock.sleep, **pace_kw) if clock is not None else Pace(**pace_kw)
    return ObservedWebClient(token="xoxb-t", base_url=slack.url, retry_handlers=[], pace=p)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        fake.add_user("U0ADA")
        yield fake


def test_a_429_is_waited_out_for_everyone_then_the_call_goes_once(slack, clock):
    client = observed(slack, clock)
    slack.fail_next("chat.postMessage", status=429, retry_after=7)
    assert client.chat_postMessage(channel="U0ADA", text="hi")["ok"] is True
    assert clock.now >= 7.0  # the pace held it for Retry-After (a fake clock: no real waiting)
    assert [c.status for c in slack.calls_to("chat.postMessage")] == [429, 200]
    assert client.pace.delay("chat.postMessage", channel="U0OTHER") == 0.0  # and it has passed for everyone


def test_a_retry_after_longer_than_a_pool_thread_waits_reaches_the_caller_and_holds_the_method(slack, clock):
    client = observed(slack, clock)
    slack.fail_next("chat.postMessage", status=429, retry_after=120)
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="U0ADA", text="hi")
    assert err.value.response.status_code == 429 and clock.now == 0.0
    assert client.pace.delay("chat.postMessage") == pytest.approx(120.0)
    with pytest.raises(SlackApiError) as again:  # nobody calls it before Retry-After: answered here
        client.chat_postMessage(channel="U0ADA", text="hi")
    assert again.value.response.status_code == 429 and again.value.response.headers["Retry-After"] == "120"
    assert again.value.response["error"] == "ratelimited"
    assert len(slack.calls_to("chat.postMessage")) == 1  # only the first reached Slack


def test_threads_sharing_the_client_stay_inside_the_stand_ins_limit(slack):
    # A small window keeps this quick; the limit is the same number on both sides, as for Slack's tiers.
    slack.set_rate_limit("users.info", (10, 1.0, False))
    client = observed(slack, rules={"users.info": (Rule(10, 1.0),)})
    answers: list[bool] = []

    def ask() -> None:
        for _ in range(4):
            answers.append(client.users_info(user="U0ADA")["ok"])

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert answers == [True] * 32
    assert [c.status for c in slack.calls_to("users.info")] == [200] * 32  # not one 429


def test_learnbot_keeps_to_no_more_than_the_stand_in_slack_allows():
    """Every method the stand-in limits has a rule here at least as strict (same window, no higher count)."""
    from bot.gateways.pace import METHOD_RULES
    from tests.standins.slack import RATE_LIMITS

    assert set(RATE_LIMITS) <= set(METHOD_RULES)
    for method, slack_rules in RATE_LIMITS.items():
        ours = {(r.window, r.per_channel): r.limit for r in METHOD_RULES[method]}
        for calls, window, per_channel in slack_rules:
            assert ours.get((window, per_channel), calls + 1) <= calls, (method, calls, window, per_channel)
