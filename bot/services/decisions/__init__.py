"""Decisions (§12): the deciders' message, decisions stored before Slack is answered, and what they owe.

card.py      the deciders' card: route, capacity, waitlist, the message's thread (reads only)
deciders.py  who may decide a request
deciding.py  a decision stored: the conditional UPDATE on decision_version, its history row, what it owes
owed.py      the owed writes, as jobs: the deciders' message redrawn, the GitLab label, assignee and notes
service.py   DecisionService, the entry points the listeners, intake, the webhook and the worker call
"""

from bot.services.decisions.owed import KINDS, JobResult, Outcome
from bot.services.decisions.service import Decided, DecisionService, is_status_label

__all__ = ["KINDS", "Decided", "DecisionService", "JobResult", "Outcome", "is_status_label"]
