"""SDP edits done on the text itself, for SIP-level defaults.

:mod:`donkey.media.sdp` parses and builds whole descriptions for the media
session; these two helpers only touch the lines they must, so whatever else
the last SDP said (codecs, ports, attributes we do not model) is sent again
exactly as before.  The call glue uses them when the media layer has no
better answer: hold/resume re-INVITEs and session-timer refreshes.
"""

from __future__ import annotations

import re

_DIRECTION_LINES = ("a=sendrecv", "a=sendonly", "a=recvonly", "a=inactive")


def bump_sdp_version(sdp: str) -> str:
    """Increment the ``o=`` session version (a refresh must not look like a no-op)."""

    def inc(m: re.Match[str]) -> str:
        return "%s%d%s" % (m.group(1), int(m.group(2)) + 1, m.group(3))

    return re.sub(r"(?m)^(o=\S+ \S+ )(\d+)( )", inc, sdp, count=1)


def _mirrored_direction(offer: str | None) -> str:
    """The direction that answers *offer*'s: hold (sendonly, 0.0.0.0) gets recvonly."""
    if not offer:
        return "sendrecv"
    if re.search(r"(?m)^a=inactive", offer):
        return "inactive"
    if re.search(r"(?m)^a=sendonly", offer) or re.search(r"(?m)^c=IN IP4 0\.0\.0\.0", offer):
        return "recvonly"
    if re.search(r"(?m)^a=recvonly", offer):
        return "sendonly"
    return "sendrecv"


def answer_hold(offer: str | None, local_sdp: str | None) -> str | None:
    """Default answer to a re-INVITE: our last SDP, direction mirrored.

    sendonly/inactive/0.0.0.0 offers (hold) get recvonly/inactive; anything
    else gets sendrecv.  This keeps hold/resume working when the app has
    no opinion.  None when there is no SDP of ours to start from.
    """
    if local_sdp is None:
        return None
    direction = "a=" + _mirrored_direction(offer)
    lines = [
        line
        for line in local_sdp.replace("\r\n", "\n").split("\n")
        if line and line not in _DIRECTION_LINES
    ]
    # the direction attribute goes at the end of every media section
    out: list[str] = []
    in_media = False
    for line in lines:
        if line.startswith("m=") and in_media:
            out.append(direction)
        if line.startswith("m="):
            in_media = True
        out.append(line)
    if in_media:
        out.append(direction)
    return bump_sdp_version("\r\n".join(out) + "\r\n")
