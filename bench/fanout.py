"""Due reminders while Slack takes 150 ms a call: many at a time, at Slack's pace.

    python -m bench.fanout [--people 2000] [--latency 0.15] [--pools 1,12] [--posts-per-minute 600]
                           [--database-url URL]

Stores one due reminder for each of `--people` people (their time zones cached, as the daily bulk
refresh leaves them), makes the Slack stand-in (its own process) answer every chat.postMessage
after `--latency` seconds, and times dispatch passes, a minute apart as the worker runs them,
until every reminder is sent, for each pool size. The baseline in the same run is the
one-at-a-time floor: people x latency, what a pass that never has more than one Slack call in
flight cannot beat. Slack's limits are on, in the stand-in and in learnbot's own pace alike:
`--posts-per-minute` is chat.postMessage's workspace-wide ceiling for both
(LEARNBOT_SLACK_POSTS_PER_MINUTE; Slack says only "several hundred a minute"). Also counted: SQL
statements per reminder, and the 429s Slack answered. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import delete, event, insert, select

from bench.standins_proc import PROJECT, StandIns
from bot.config import load_settings
from bot.container import build_services
from bot.store.migrate import upgrade
from bot.store.models import Milestone, Person, Reminder, Request, RequestStatus

ZONE = "Europe/London"


def seed(services, people: list[str], now: datetime) -> None:
    with services.db.session() as s:
        for table in (Reminder, Milestone, Request, Person):  # a --database-url is reused from pool to pool
            s.execute(delete(table))
        s.execute(insert(Person), [{"slack_user_id": p, "tz": ZONE, "display_name": p, "refreshed_at": now}
                                   for p in people])
        for start in range(0, len(people), 500):
            chunk = people[start:start + 500]
            requests = [Request(support_model="content-review", requester_id=p, title=f"Review {p}", answers={},
                                status=RequestStatus.OPEN, gitlab_iid=i + 1 + start,
                                gitlab_url=f"https://gitlab.example/issues/{i + 1 + start}", created_at=now,
                                updated_at=now) for i, p in enumerate(chunk)]
            for r in requests:
                m = Milestone(key="review", title="Review the content", position=0, due_on=date(now.year, now.month,
                                                                                              now.day))
                m.reminders.append(Reminder(recipient_id=r.requester_id, zone_checked=True, snoozed=True,
                                            due_at=now - timedelta(minutes=1)))
                r.milestones.append(m)
            s.add_all(requests)


def run_once(database_url: str, people: int, latency: float, pool: int, posts_per_minute: int) -> dict[str, float]:
    standins = StandIns()
    try:
        names = standins("add_people", people, ZONE)
        standins("slow_method", "chat.postMessage", latency)
        standins("enforce_limits", posts_per_minute)
        upgrade(database_url)
        env = {"SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": "bench-secret",
               "SLACK_API_URL": standins.slack_url, "GITLAB_URL": standins.gitlab_url,
               "GITLAB_TOKEN": standins.gitlab_token, "GITLAB_PROJECT": PROJECT, "DATABASE_URL": database_url,
               "LEARNBOT_SLACK_POSTS_PER_MINUTE": str(posts_per_minute)}
        services = build_services(load_settings(env))
        now = datetime.now(UTC)
        seed(services, names, now)
        services.dispatcher.runner.pool_size = pool
        statements = [0]

        def count(*_args: object) -> None:
            statements[0] += 1

        event.listen(services.db.engine, "before_cursor_execute", count)
        started = time.perf_counter()
        sent = 0
        while sent < people and time.perf_counter() - started < 1800:
            # As the worker runs them: a pass a minute (a pass stops claiming when its budget is spent or
            # Slack's pace is, and the next one goes on).
            began = time.perf_counter()
            report = services.dispatcher.run_once(now=now)
            sent += sum(1 for r in report.reminders if r.said == "sent")
            if sent < people:
                time.sleep(max(0.0, 60.0 - (time.perf_counter() - began)))
            now += timedelta(seconds=time.perf_counter() - began)
        elapsed = time.perf_counter() - started
        with services.db.session() as s:
            unsent = len(list(s.scalars(select(Reminder.id).where(Reminder.sent_at.is_(None)))))
        return {"elapsed": elapsed, "sent": sent, "unsent": unsent, "posted": standins("posted_dms"),
                "statements": statements[0] / max(people, 1), "refused": standins("refused", "chat.postMessage")}
    finally:
        standins.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.15)
    parser.add_argument("--pools", default="1,12")
    parser.add_argument("--posts-per-minute", type=int, default=600)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    floor = args.people * args.latency
    print(f"{args.people} due reminders, Slack {args.latency * 1000:.0f} ms a call, at most "
          f"{args.posts_per_minute} posts a minute; one-at-a-time floor {floor:.1f} s\n")
    print("| pool | pass(es) took | floor / took | DMs posted | SQL statements / reminder | 429s |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for pool in (int(p) for p in args.pools.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            url = args.database_url or f"sqlite:///{tmp}/fanout.db"
            r = run_once(url, args.people, args.latency, pool, args.posts_per_minute)
        assert r["unsent"] == 0 and r["posted"] == args.people, r
        print(f"| {pool} | {r['elapsed']:.1f} s | {floor / r['elapsed']:.1f}x | {r['posted']:.0f} | "
              f"{r['statements']:.1f} | {r['refused']:.0f} |")


if __name__ == "__main__":
    main()
