"""The vocabulary every room shares, and nothing else: it imports no other part of donkey.

``dtmf`` is the one DTMF key map (SIP INFO bodies, RFC 4733 events, in-band
tones and DSM ``#key`` values all use it); ``truthy`` is the one reading of a
configuration switch.
"""
