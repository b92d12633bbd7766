"""The hidden markers learnbot puts in the notes it writes to GitLab, signed so that nobody else can write one.

A marker names what a note reports (a decision event, a stored note) so that a retry whose first answer
was lost finds the note instead of writing it twice, and so that the note, coming back as a webhook,
is known as learnbot's own and not relayed. A plain `learnbot-note:7` could be typed by anyone into a
Reply or a comment: it would make learnbot skip a note it owes, or hide a comment from the requester.
So each marker carries an HMAC of what it names, keyed by a secret learnbot holds; typed text can
copy a marker it has seen, never make the next one.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

_MARK = re.compile(r"learnbot-([a-z][a-z-]{0,30}):([A-Za-z0-9_-]{1,64})\.([0-9a-f]{24})")
_SIG_HEX = 24  # 96 bits: not guessable, short enough to sit in a hidden comment


@dataclass(frozen=True)
class Markers:
    key: bytes

    @classmethod
    def keyed_by(cls, secret: str) -> Markers:
        """Markers keyed by `secret` (learnbot's GitLab token): the key itself never appears anywhere."""
        return cls(hashlib.sha256(b"learnbot note markers\x00" + secret.encode()).digest())

    def _signature(self, kind: str, ident: str) -> str:
        return hmac.new(self.key, f"{kind}:{ident}".encode(), hashlib.sha256).hexdigest()[:_SIG_HEX]

    def mark(self, kind: str, ident: int | str) -> str:
        """The marker for one thing learnbot writes, e.g. mark("decision-event", 12)."""
        return f"learnbot-{kind}:{ident}.{self._signature(kind, str(ident))}"

    def hidden(self, kind: str, ident: int | str) -> str:
        """The marker as it ends a note: an HTML comment GitLab does not show."""
        return f"<!-- {self.mark(kind, ident)} -->"

    def signed_in(self, text: str) -> bool:
        """Whether `text` carries a marker this learnbot signed (a note learnbot wrote)."""
        for kind, ident, signature in _MARK.findall(text or ""):
            if hmac.compare_digest(signature, self._signature(kind, ident)):
                return True
        return False
