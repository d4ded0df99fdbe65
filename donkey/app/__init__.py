"""The top room: where SIP, media, DI, monitoring and the DSM host meet for a call.

``call`` (one call's glue), ``controller`` (the SIP stack's call factory and
dial-out), ``control`` (the ``dsm`` DI interface), ``monitoring_di`` (the
``monitoring`` DI interface) and ``server`` (the daemon's service tree).
"""
