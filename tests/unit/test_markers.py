"""learnbot's hidden note markers: known when learnbot wrote them, unforgeable by anyone who types."""

from bot.domain.markers import Markers

MARKERS = Markers.keyed_by("glpat-learnbot")


def test_a_marker_learnbot_wrote_is_known_as_its_own():
    body = f"**Accepted** by Lena (via learnbot)\n\n{MARKERS.hidden('decision-event', 7)}"
    assert MARKERS.signed_in(body)


def test_typed_markers_are_not_learnbots():
    # What a requester could type into a Reply, knowing the old scheme or the shape of the new one.
    for typed in ("learnbot-decision-event:8", "<!-- learnbot-decision-event:8 -->", "learnbot-note:3",
                  "learnbot-decision-event:8.000000000000000000000000",
                  MARKERS.mark("decision-event", 7).replace(":7.", ":8.")):
        assert not MARKERS.signed_in(typed), typed


def test_the_next_marker_cannot_be_made_from_the_last():
    seen = MARKERS.mark("decision-event", 7)
    assert seen.rpartition(".")[2] != MARKERS.mark("decision-event", 8).rpartition(".")[2]
    assert MARKERS.mark("decision-event", 7) not in MARKERS.mark("decision-event", 70)  # not a prefix either


def test_another_key_signs_differently():
    assert not Markers.keyed_by("another-token").signed_in(MARKERS.mark("note", 1))
