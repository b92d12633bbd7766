"""The pathway timeline and other plans, counted back from the anchor date (SPEC §4)."""

from datetime import date

from bot.catalog import load_catalog
from bot.domain.planning import add_business_days, off_weekend, plan_milestones

CATALOG = load_catalog()
PATHWAY = CATALOG.model("new-pathway").plan
LIVE = CATALOG.model("live-learning").plan


def by_key(plan):
    return {m.key: m for m in plan.milestones}


def test_pathway_timeline_counts_back_from_launch():
    launch = date(2027, 3, 3)  # a Wednesday: every offset lands on a Wednesday too
    plan = plan_milestones(PATHWAY, launch, today=date(2027, 1, 20))
    got = {k: m.due_on for k, m in by_key(plan).items()}
    assert got == {
        "open-issue": date(2027, 1, 20),  # done by the bot at submission, so dated today
        "collaborate": date(2027, 2, 3),
        "handbook-changes": date(2027, 2, 10),
        "evangelist-training": date(2027, 2, 10),
        "first-upload": date(2027, 2, 17),
        "review": date(2027, 2, 24),
        "final-edits": date(2027, 2, 24),
        "launch": date(2027, 3, 3),
    }
    assert by_key(plan)["open-issue"].done
    assert not plan.compressed and plan.warning is None


def test_weekend_dates_move_to_the_friday_before():
    assert off_weekend(date(2027, 3, 6)) == date(2027, 3, 5)  # Saturday
    assert off_weekend(date(2027, 3, 7)) == date(2027, 3, 5)  # Sunday
    assert off_weekend(date(2027, 3, 8)) == date(2027, 3, 8)  # Monday stays
    plan = plan_milestones(PATHWAY, date(2027, 3, 7), today=date(2027, 1, 1))  # launch on a Sunday
    assert all(m.due_on.weekday() < 5 for m in plan.milestones)
    assert by_key(plan)["launch"].due_on == date(2027, 3, 5)


def test_short_notice_compresses_the_plan_without_dropping_steps():
    today = date(2027, 2, 15)
    plan = plan_milestones(PATHWAY, date(2027, 3, 3), today=today)  # 16 days: under five weeks
    assert len(plan.milestones) == len(PATHWAY.milestones)
    late = [m for m in plan.milestones if m.pulled_forward]
    assert {m.key for m in late} == {"collaborate", "handbook-changes", "evangelist-training"}
    assert all(m.due_on == today for m in late)
    assert by_key(plan)["first-upload"].due_on == date(2027, 2, 17)
    assert plan.compressed
    assert "5 weeks" in plan.warning and "16 days" in plan.warning and "3 steps" in plan.warning


def test_live_learning_plan_uses_business_days_around_the_session():
    session = date(2027, 3, 8)  # Monday
    plan = by_key(plan_milestones(LIVE, session, today=date(2027, 1, 1)))
    assert plan["promote"].due_on == date(2027, 2, 22)
    assert plan["test-setup"].due_on == date(2027, 3, 4)  # two business days before: Thursday
    assert plan["host-reminder"].due_on == date(2027, 3, 5)  # the business day before: Friday
    assert plan["recording"].due_on == date(2027, 3, 9)


def test_recording_after_a_friday_session_is_due_monday():
    plan = by_key(plan_milestones(LIVE, date(2027, 3, 5), today=date(2027, 1, 1)))
    assert plan["recording"].due_on == date(2027, 3, 8)


def test_add_business_days_skips_weekends_both_ways():
    assert add_business_days(date(2027, 3, 5), 1) == date(2027, 3, 8)
    assert add_business_days(date(2027, 3, 8), -1) == date(2027, 3, 5)
    assert add_business_days(date(2027, 3, 8), -2) == date(2027, 3, 4)
