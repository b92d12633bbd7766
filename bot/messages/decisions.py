"""Block Kit for decisions: the deciders' message, its modals, the requester's DM and the Reply modal."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime

from bot.domain.decisions import (
    STATE_LABEL,
    TEXT_REQUIRED,
    VERB_LABEL,
    Capacity,
    Route,
    State,
    Verb,
    verbs,
)
from bot.domain.safe_text import slack_escape, slack_plain
from bot.messages.ids import Action, Callback
from bot.messages.kit import MESSAGE_BLOCKS_MAX, Block, button, context, header, link, plain, section

TEXT_MAX = 2000  # what a decider or requester may type (a note must fit a message with the rest)
ACTION_OF = {
    Verb.ACCEPT: Action.DECIDE_ACCEPT, Verb.WAITLIST: Action.DECIDE_WAITLIST, Verb.DECLINE: Action.DECIDE_DECLINE,
    Verb.ASK: Action.DECIDE_ASK, Verb.APPROVE: Action.DECIDE_APPROVE,
    Verb.REQUEST_CHANGES: Action.DECIDE_REQUEST_CHANGES,
}
VERB_OF = {a.value: v for v, a in ACTION_OF.items()}
PAST = {
    State.ACCEPTED: "accepted", State.WAITLISTED: "waitlisted", State.DECLINED: "declined",
    State.NEEDS_INFO: "asked a question about", State.APPROVED: "approved for GitLab Learn",
    State.CHANGES_REQUESTED: "requested changes to", State.NEW: "reopened for a decision",
}


@dataclass(frozen=True)
class SimilarRef:
    """An earlier request that reads like this one (docs/similar-requests.md), as the card names it."""

    iid: int
    url: str
    team: str | None  # the requester's team or audience, as the request holds it
    linked: bool = False  # Link as related was pressed


@dataclass(frozen=True)
class RequestCard:
    """What the deciders see about one request (built by the service from the store)."""

    request_id: int
    version: int
    title: str
    model_name: str
    requester: str
    route: Route
    state: str
    capacity: Capacity
    url: str | None = None
    iid: int | None = None
    business_impact: str | None = None
    okr_url: str | None = None
    impacted: str | None = None
    score: int | None = None
    dates: list[tuple[str, date]] = field(default_factory=list)
    plan_compressed: bool = False
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None
    waitlist_until: date | None = None
    waitlist_place: int | None = None
    needs_decision: bool = True
    closed: bool = False
    similar: list[SimilarRef] = field(default_factory=list)


def _value(card: RequestCard) -> str:
    return f"{card.request_id}:{card.version}"


def _decision_line(card: RequestCard) -> str | None:
    if card.state == State.NEW and not card.decided_by:
        return None
    if not card.needs_decision:
        return ":white_check_mark: *Accepted on filing* — this kind of request needs no decision."
    when = f" on {card.decided_at.date().isoformat()}" if card.decided_at else ""
    who = f"<@{card.decided_by}>" if card.decided_by and card.decided_by[:1] in ("U", "W") else (
        slack_escape(card.decided_by or "someone"))
    line = f"*{STATE_LABEL[State(card.state)]}* by {who}{when}"
    if card.state == State.WAITLISTED:
        until = f"until {card.waitlist_until.isoformat()}" if card.waitlist_until else "until capacity frees up"
        place = f", number {card.waitlist_place} in the queue" if card.waitlist_place else ""
        line += f" ({until}{place})"
    if card.reason:
        line += f"\n>{slack_plain(card.reason, TEXT_MAX).replace(chr(10), chr(10) + '>')}"
    return line


def deciders_message(card: RequestCard) -> tuple[str, list[Block]]:
    """The one message per request in the deciders' channel, updated in place as it is decided."""
    ref = link(card.url, f"#{card.iid} {card.title}") if card.url and card.iid else (
        f"{slack_escape(card.title)} _(GitLab issue being opened…)_")
    blocks: list[Block] = [
        header(f"{card.model_name}: {card.title}"),
        section(f"{ref}\nRequested by <@{card.requester}> · decided by *{slack_escape(card.route.team)}*"),
    ]
    if card.route.chosen_by is not None:
        question, answer = card.route.chosen_by
        blocks.append(context(f":compass: {slack_escape(card.route.team)} decides because the requester "
                              f"answered “{slack_plain(answer, 200)}” to “{slack_plain(question, 200)}”."))
    criteria = [
        f"*Capacity now*\n{card.capacity.text()}" + (" :warning: full" if card.capacity.full else ""),
        f"*Business impact*\n{slack_plain(card.business_impact or '—', 200)}",
        f"*OKR link*\n{link(card.okr_url, 'OKR') if card.okr_url else '—'}",
        f"*People impacted*\n{slack_plain(card.impacted or '—', 50)}",
        f"*Score*\n{card.score if card.score is not None else '—'}",
    ]
    blocks.append({"type": "section", "fields": [{"type": "mrkdwn", "text": t} for t in criteria]})
    if card.dates:
        lines = [f"{slack_escape(label)}: `{d.isoformat()}`" for label, d in card.dates[:8]]
        fits = (":warning: the plan is compressed: the date leaves less time than the plan needs"
                if card.plan_compressed else ":white_check_mark: the plan fits")
        blocks.append(section("*Dates*\n" + "\n".join(lines) + f"\n{fits}"))
    blocks += _similar_blocks(card)
    decision = _decision_line(card)
    if decision:
        blocks.append(section(decision))
    if card.closed:
        blocks.append(context(":lock: The request is closed."))
    buttons = [] if card.closed else [button(VERB_LABEL[v], ACTION_OF[v], value=_value(card),
                      style="primary" if v in (Verb.ACCEPT, Verb.APPROVE) else (
                          "danger" if v is Verb.DECLINE else None))
               for v in verbs(card.route, card.state)] if card.needs_decision else []
    if buttons:
        blocks.append({"type": "actions", "block_id": f"decide-{card.request_id}", "elements": buttons})
    state = STATE_LABEL.get(State(card.state), card.state) if card.needs_decision else "Accepted on filing"
    text = f"{card.model_name}: “{slack_plain(card.title, 200)}” from <@{card.requester}> — {state}"
    return text, blocks[:MESSAGE_BLOCKS_MAX]


def similar_line(similar: list[SimilarRef]) -> str:
    """"Similar: #12 (Sales), #31 (Support)", each a link to its issue; the team is the requester's words."""
    refs = [link(ref.url, f"#{ref.iid}") + (f" ({slack_plain(ref.team, 100)})" if ref.team else "")
            for ref in similar]
    return "*Similar:* " + ", ".join(refs)


def _similar_blocks(card: RequestCard) -> list[Block]:
    if not card.similar:
        return []
    if all(ref.linked for ref in card.similar):
        return [section(similar_line(card.similar)), context(":link: Linked as related in GitLab.")]
    if card.closed:
        return [section(similar_line(card.similar))]
    return [section(similar_line(card.similar), accessory=button(
        "Link as related", Action.LINK_SIMILAR, value=str(card.request_id)))]


def decision_modal(card: RequestCard, verb: Verb, *, gitlab_username: str | None = None) -> Block:
    """The modal a decider fills after pressing a button: the reason, the question, the date…"""
    blocks: list[Block] = [section(f"*{slack_escape(card.title)}*\nfrom <@{card.requester}>")]
    if verb is Verb.ACCEPT:
        if card.capacity.full:
            blocks.append(section(f":warning: {slack_escape(card.route.team)} is at capacity "
                                  f"({card.capacity.text()}). Accept anyway, or close this and choose Waitlist."))
            blocks.append({"type": "input", "block_id": "confirm", "label": plain("Beyond capacity"),
                           "element": {"type": "checkboxes", "action_id": "value", "options": [
                               {"text": plain("Accept anyway"), "value": "yes"}]}})
        element: Block = {"type": "plain_text_input", "action_id": "value", "max_length": 255,
                          "placeholder": plain("e.g. jdoe")}
        if gitlab_username:
            element["initial_value"] = gitlab_username
        blocks.append({"type": "input", "block_id": "gitlab_username", "optional": True,
                       "label": plain("Your GitLab username (assigned to the issue)"), "element": element,
                       "hint": plain("Asked once and remembered. Leave empty to leave the issue unassigned.")})
    if verb is Verb.WAITLIST:
        blocks.append({"type": "input", "block_id": "until", "optional": True, "label": plain("Waitlist until"),
                       "element": {"type": "datepicker", "action_id": "value"},
                       "hint": plain("Leave empty: until capacity frees up.")})
    label = {
        Verb.DECLINE: "Why is it declined? (the requester reads this)",
        Verb.REQUEST_CHANGES: "What needs to change? (the contributor reads this)",
        Verb.ASK: "Your question to the requester",
    }.get(verb, "A note for the requester (optional)")
    blocks.append({"type": "input", "block_id": "text", "optional": verb not in TEXT_REQUIRED, "label": plain(label),
                   "element": {"type": "plain_text_input", "action_id": "value", "multiline": True,
                               "max_length": TEXT_MAX}})
    return {
        "type": "modal", "callback_id": Callback.DECIDE.value,
        "private_metadata": json.dumps({"request": card.request_id, "version": card.version, "verb": verb.value}),
        "title": plain(VERB_LABEL[verb] if len(VERB_LABEL[verb]) <= 24 else "Approve", 24),
        "submit": plain("Send" if verb is Verb.ASK else "Decide", 24), "close": plain("Cancel", 24),
        "blocks": blocks,
    }


def decided_view(text: str) -> Block:
    return {"type": "modal", "title": plain("Decision", 24), "close": plain("Close", 24),
            "blocks": [section(text)]}


def requester_notice(*, title: str, url: str | None, state: str, decider: str, reason: str | None,
                     request_id: int, version: int, waitlist_place: int | None = None,
                     waitlist_until: date | None = None, team: str = "L&D",
                     likely: str | None = None) -> tuple[str, list[Block]]:
    """The requester's one DM about a decision, the decider's words quoted and escaped; a waitlisted
    request's with its likely week (`likely`, messages.turns.turn_text)."""
    what = slack_plain(title, 300)
    ref = link(url, title) if url else f"“{what}”"
    by = f"<@{decider}>" if decider[:1] in ("U", "W") else slack_escape(decider)
    lead = {
        State.ACCEPTED: f":white_check_mark: Your request {ref} was *accepted* by {by}. Its reminders start now.",
        State.APPROVED: f":white_check_mark: Your contribution {ref} was *approved for GitLab Learn* by {by}.",
        State.DECLINED: f":no_entry: Your request {ref} was *declined* by {by}.",
        State.WAITLISTED: f":hourglass: Your request {ref} is *waitlisted* by {by}.",
        State.NEEDS_INFO: f":question: {by} has a question about your request {ref}.",
        State.CHANGES_REQUESTED: f":pencil2: {by} asks for changes to your contribution {ref}.",
        State.NEW: f":arrows_counterclockwise: Your request {ref} is waiting for a decision again.",
    }[State(state)]
    blocks: list[Block] = [section(lead)]
    if reason:
        blocks.append(section(">" + slack_plain(reason, TEXT_MAX).replace("\n", "\n>")))
    if state == State.WAITLISTED:
        until = f"until {waitlist_until.isoformat()}" if waitlist_until else "until capacity frees up"
        place = f" You are number {waitlist_place} in the queue;" if waitlist_place else ""
        blocks.append(context(f"Waitlisted {until}.{place} I'll tell you when that changes."))
        if likely:
            blocks.append(context(likely))
    if state in (State.NEEDS_INFO, State.CHANGES_REQUESTED):
        blocks.append({"type": "actions", "elements": [
            button("Reply", Action.DECISION_REPLY, value=f"{request_id}:{version}", style="primary")]})
        blocks.append(context(f"Your answer goes to the {slack_escape(team)} team and onto the GitLab issue."))
    text = {
        State.ACCEPTED: "accepted", State.APPROVED: "approved for GitLab Learn", State.DECLINED: "declined",
        State.WAITLISTED: "waitlisted", State.NEEDS_INFO: "a question for you",
        State.CHANGES_REQUESTED: "changes requested", State.NEW: "waiting for a decision again",
    }[State(state)]
    return f"Your request “{what}”: {text}", blocks


def waitlist_moved(title: str, place: int, *, likely: str | None = None) -> tuple[str, list[Block]]:
    """The requester moved up the waitlist; with their likely week (`likely`, messages.turns.turn_text)."""
    text = f":hourglass: Your request “{slack_plain(title, 300)}” is now number {place} in the waitlist."
    return text, [section(text), *([context(likely)] if likely else [])]


def reply_modal(*, request_id: int, version: int, title: str, question: str | None) -> Block:
    blocks: list[Block] = [section(f"*{slack_escape(title)}*")]
    if question:
        blocks.append(section(">" + slack_plain(question, TEXT_MAX).replace("\n", "\n>")))
    blocks.append({"type": "input", "block_id": "text", "label": plain("Your answer"),
                   "element": {"type": "plain_text_input", "action_id": "value", "multiline": True,
                               "max_length": TEXT_MAX}})
    return {"type": "modal", "callback_id": Callback.REPLY.value,
            "private_metadata": json.dumps({"request": request_id, "version": version}),
            "title": plain("Reply", 24), "submit": plain("Send", 24), "close": plain("Cancel", 24),
            "blocks": blocks}


def history_line(*, kind: str, state: str, actor: str, text: str | None) -> str:
    """One reply in the decision message's thread: the request's history."""
    who = f"<@{actor}>" if actor[:1] in ("U", "W") else slack_escape(actor)
    if kind == "answered":
        line = f":speech_balloon: {who} answered"
    elif kind == "gitlab":
        line = f":fox_face: Changed in GitLab by {who}: *{STATE_LABEL.get(State(state), state)}*"
    elif kind == "nudge":
        line = f":alarm_clock: Still waiting for a decision ({slack_escape(text or '')})"
        return line
    else:
        line = f"{who} {PAST.get(State(state), state)} this request"
    if text:
        line += "\n>" + slack_plain(text, TEXT_MAX).replace("\n", "\n>")
    return line


def assignee_not_set(*, title: str, url: str | None, username: str, why: str) -> tuple[str, list[Block]]:
    """To the decider who asked to be assigned: the decision is on the issue, the assignee is not."""
    ref = link(url, title) if url else f"“{slack_plain(title, 300)}”"
    text = (f":warning: Your decision is on {ref}, but GitLab did not assign `{slack_plain(username, 255)}` "
            f"({slack_plain(why, 300)}). Assign yourself on the issue, or ask an L&D admin to check "
            "the GitLab token (it must be allowed to list users).")
    return f"GitLab did not assign you to “{slack_plain(title, 300)}”", [section(text)]
