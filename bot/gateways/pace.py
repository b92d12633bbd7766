"""One pace for Slack's Web API, shared by every thread of a process: Slack's tiers, and its 429s.

Slack counts calls "per API method per app per workspace" in minute windows
(docs.slack.dev/apis/web-api/rate-limits): Tier 1 1+ a minute, Tier 2 20+, Tier 3 50+, Tier 4 100+.
chat.postMessage is special: about one message per second to a channel (short bursts allowed),
under a workspace-wide ceiling of "several hundred messages per minute". Past a limit Slack
answers HTTP 429 with `Retry-After` (seconds) and `{"ok": false, "error": "ratelimited"}`.

Every call learnbot's WebClient makes (bot/gateways/observed.py) first takes a permit here, so
a pool of threads fanning reminders out stays inside the tiers instead of learning them from
429s; a 429 that comes anyway is reported back, and nobody calls that method again before its
`Retry-After` has passed.

The API (the job runner uses `delay` to reschedule instead of holding a pool thread):

    pace = Pace()                                    # one per process: make_web_client makes it
    with pace.permit("chat.postMessage", channel="U0ADA", max_wait=30.0):
        ...                                          # the call; the permit counts until it ends
    pace.delay("chat.postMessage", channel="U0ADA")  # seconds until a call could start (0.0: now)
    pace.retry_after("chat.postMessage", 12.0)       # Slack said 429: no call for 12 s
    pace_of(client)                                  # the Pace of a WebClient, or None

`permit` waits (polling with short sleeps: no timed lock waits, which never return under
libfaketime) for at most `max_wait` seconds; when the wait would be longer it raises `Paced`
at once, whose `wait` says how long it would have been: ObservedWebClient turns that into the
429 Slack would have answered (Retry-After included, no call made), so a caller treats both
alike: owed work then waits that long (bot/services/runner.py's Wait), never counted as a failure.
ObservedWebClient's bound, `client.max_wait`, is MAX_WAIT (30 s); `delay(...)` says how long a
method would wait without taking a place.

How a window is counted: a call holds its place from its permit until it ends, then for one
window after it ended. The server sees a call somewhere between those two moments, so however
long the calls take, Slack never sees more than `limit` calls of a rule in any window.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

MINUTE = 60.0
# What chat.postMessage's reference says of the whole workspace: "several hundred messages per minute".
POSTS_PER_MINUTE = 600
# One message a second to a channel, with a short burst: at most 5 in any 5 seconds.
CHANNEL_BURST = 5
# Longer than this and a permit is refused (Paced) instead of holding the thread (a pool thread).
MAX_WAIT = 30.0
# What learnbot's WebClient waits at most for its turn: past it, the call is answered as Slack's own 429
# (with the wait as Retry-After) and owed work waits that long in the runner instead of holding a thread.
CLIENT_MAX_WAIT = MAX_WAIT
# How often a waiting caller looks again.
POLL = 0.05


@dataclass(frozen=True)
class Rule:
    """At most `limit` calls in any `window` seconds: of the method, or of the method to one channel."""

    limit: int
    window: float = MINUTE
    per_channel: bool = False


TIER_1 = (Rule(1),)
TIER_2 = (Rule(20),)
TIER_3 = (Rule(50),)
TIER_4 = (Rule(100),)


def post_message_rules(per_minute: int = POSTS_PER_MINUTE) -> tuple[Rule, ...]:
    return Rule(per_minute), Rule(CHANNEL_BURST, float(CHANNEL_BURST), per_channel=True)


# Each method learnbot calls, with the tier its reference page ("Facts: Rate limits") gives it.
# conversations.history/replies are Tier 3 for internal apps (the 2025 limits are for apps sold
# outside the Marketplace). auth.test and chat.getPermalink are "special": Tier 4 numbers are safe.
METHOD_RULES: dict[str, tuple[Rule, ...]] = {
    "auth.test": TIER_4,
    "users.info": TIER_4,
    "users.list": TIER_2,
    "conversations.open": TIER_3,
    "conversations.history": TIER_3,
    "conversations.replies": TIER_3,
    "chat.postMessage": post_message_rules(),
    "chat.update": TIER_3,
    "chat.postEphemeral": TIER_4,
    "chat.getPermalink": TIER_4,
    "views.open": TIER_4,
    "views.update": TIER_4,
    "views.push": TIER_4,
    "views.publish": TIER_4,
    "usergroups.users.list": TIER_2,
    "files.getUploadURLExternal": TIER_4,  # files_upload_v2's two methods (the report's chart and CSV)
    "files.completeUploadExternal": TIER_4,
    "apps.connections.open": TIER_1,
    "functions.completeSuccess": TIER_3,  # the Workflow Builder step's end (issue 18)
    "functions.completeError": TIER_3,
}
# A method not listed above: Tier 2, which "most methods" allow at least.
DEFAULT_RULES = TIER_2


class Paced(Exception):
    """The permit would take longer than the caller would wait; `wait` is how long (seconds)."""

    def __init__(self, method: str, wait: float):
        super().__init__(f"{method}: Slack's pace allows the next call in {wait:.1f}s")
        self.method = method
        self.wait = wait


class _Slot:
    """One call's place in a window: counted while in flight (end None) and one window after its end."""

    __slots__ = ("end",)

    def __init__(self) -> None:
        self.end: float | None = None


def _wait_in(slots: list[_Slot], rule: Rule, now: float) -> float:
    """Seconds until `slots` (pruned to the live ones) leave room for one more call under `rule`."""
    slots[:] = [s for s in slots if s.end is None or s.end > now - rule.window]
    over = len(slots) - rule.limit + 1
    if over <= 0:
        return 0.0
    ended = sorted(s.end for s in slots if s.end is not None)
    if over > len(ended):  # calls still in flight fill it: at least a window once they end
        return rule.window
    return ended[over - 1] + rule.window - now


class Pace:
    """Permits for Slack Web API calls, by method (and channel), thread-safe; see the module docstring."""

    def __init__(self, rules: Mapping[str, tuple[Rule, ...]] | None = None, *,
                 posts_per_minute: int = POSTS_PER_MINUTE, default: tuple[Rule, ...] = DEFAULT_RULES,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], Any] = time.sleep,
                 poll: float = POLL):
        self.rules = dict(METHOD_RULES if rules is None else rules)
        if rules is None:
            self.rules["chat.postMessage"] = post_message_rules(posts_per_minute)
        self.default = default
        self.clock = clock
        self.sleep = sleep
        self.poll = poll
        self._lock = threading.Lock()
        self._slots: dict[tuple[str, int, str | None], list[_Slot]] = {}
        self._held_until: dict[str, float] = {}
        self._since_sweep = 0

    def rules_for(self, method: str) -> tuple[Rule, ...]:
        return self.rules.get(method, self.default)

    def _keys(self, method: str, channel: str | None) -> list[tuple[tuple[str, int, str | None], Rule]]:
        return [((method, i, channel if rule.per_channel else None), rule)
                for i, rule in enumerate(self.rules_for(method)) if channel is not None or not rule.per_channel]

    def _delay(self, method: str, channel: str | None, now: float) -> float:
        wait = self._held_until.get(method, now) - now
        for key, rule in self._keys(method, channel):
            slots = self._slots.get(key)
            if slots:
                wait = max(wait, _wait_in(slots, rule, now))
        return max(wait, 0.0)

    def delay(self, method: str, channel: str | None = None) -> float:
        """Seconds until a call of `method` (to `channel`) could start; 0.0 when it could start now."""
        with self._lock:
            return self._delay(method, channel, self.clock())

    def retry_after(self, method: str, seconds: float) -> None:
        """Slack answered 429: nobody calls `method` (any channel) for `seconds` from now."""
        with self._lock:
            until = self.clock() + max(seconds, 0.0)
            self._held_until[method] = max(self._held_until.get(method, until), until)

    def _take(self, method: str, channel: str | None) -> tuple[_Slot | None, float]:
        """A slot if the call may start now, else how long until it may."""
        with self._lock:
            now = self.clock()
            wait = self._delay(method, channel, now)
            if wait > 0:
                return None, wait
            slot = _Slot()
            for key, _rule in self._keys(method, channel):
                self._slots.setdefault(key, []).append(slot)
            self._sweep(now)
            return slot, 0.0

    def _sweep(self, now: float) -> None:
        """Forget channels nobody wrote to for a window (a DM per person: thousands of keys a day)."""
        self._since_sweep += 1
        if self._since_sweep < 1000:
            return
        self._since_sweep = 0
        for key in list(self._slots):
            rule = self.rules_for(key[0])[key[1]]
            slots = self._slots[key]
            slots[:] = [s for s in slots if s.end is None or s.end > now - rule.window]
            if not slots:
                del self._slots[key]
        self._held_until = {m: t for m, t in self._held_until.items() if t > now}

    @contextmanager
    def permit(self, method: str, *, channel: str | None = None, max_wait: float = MAX_WAIT) -> Iterator[None]:
        """Wait (at most `max_wait` s, else Paced) until a call may start; it counts until the block ends."""
        started = self.clock()
        while True:
            slot, wait = self._take(method, channel)
            if slot is not None:
                break
            if self.clock() - started + wait > max_wait:
                raise Paced(method, wait)
            self.sleep(min(wait, self.poll))
        try:
            yield
        finally:
            with self._lock:
                slot.end = self.clock()


def pace_of(client: object) -> Pace | None:
    """The Pace a WebClient calls through (ObservedWebClient has one), or None."""
    pace = getattr(client, "pace", None)
    return pace if isinstance(pace, Pace) else None
