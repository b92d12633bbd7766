"""Ticking a box in the issue touches learnbot's line and nothing that others wrote."""

from datetime import date

from bot.domain.checklist import StepState, sync_checklist, ticked_keys

DESCRIPTION = """## New learning pathway: Async

Someone's note added in GitLab after filing.

- [ ] a checklist item a person wrote
- [ ] 2027-02-03 — Start collaboration <!-- learnbot:milestone:collaborate -->
- [ ] 2027-02-17 — First upload (renamed by a human) <!-- learnbot:milestone:first-upload -->
- [x] 2027-03-03 — Launch your course <!-- learnbot:milestone:launch -->

<!-- learnbot-request:abc -->
"""


def test_ticks_only_the_done_step():
    out = sync_checklist(DESCRIPTION, {"collaborate": StepState(True, date(2027, 2, 3))})
    assert "- [x] 2027-02-03 — Start collaboration <!-- learnbot:milestone:collaborate -->" in out
    assert out.replace("- [x] 2027-02-03 — Start", "- [ ] 2027-02-03 — Start") == DESCRIPTION


def test_rewrites_dates_and_keeps_human_titles():
    out = sync_checklist(DESCRIPTION, {"first-upload": StepState(False, date(2027, 3, 3))})
    assert "- [ ] 2027-03-03 — First upload (renamed by a human) <!-- learnbot:milestone:first-upload -->" in out


def test_never_unticks_a_box_ticked_in_gitlab():
    out = sync_checklist(DESCRIPTION, {"launch": StepState(False, date(2027, 3, 10))})
    assert "- [x] 2027-03-10 — Launch your course" in out


def test_ticked_keys():
    assert ticked_keys(DESCRIPTION) == {"launch"}
