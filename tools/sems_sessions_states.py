#!/usr/bin/python3
from xmlrpc.client import *

s = ServerProxy("http://127.0.0.1:8090")
print("calls: %d" % s.calls())
calls_states =  s.getAttributeActive("dsm_state")
print("call id                                 state")
for state in calls_states:
    print(state[0] + "     " + state[1])
