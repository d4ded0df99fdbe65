"""Operator scripts for a running donkey (or SEMS) over XML-RPC.

Each script runs standalone (``python tools/list_calls.py``) and, apart from
the two seed scripts that run at import, exposes ``main(argv=None) -> int``
for console-script entry points.
"""
