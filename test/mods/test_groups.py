"""mod_groups as scripts see it: membership, broadcast events, leaving at the end."""

from __future__ import annotations

import os

from twisted.trial import unittest

from donkey.dsm.harness import Harness

# One script for every member: actions arrive as events (#do=...), results are
# variables.  Group events from other members land in $got_*.
MEMBER = """\
import(mod_groups);
initial state IN;
transition "join" IN - event(#do == join) / { groups.join(#group); } -> IN;
transition "leave" IN - event(#do == leave) / { groups.leave(#group); } -> IN;
transition "leaveAll" IN - event(#do == leaveAll) / { groups.leaveAll(); } -> IN;
transition "size" IN - event(#do == size) / { groups.getSize($size=#group); } -> IN;
transition "get" IN - event(#do == get) / { clearArray($m); groups.get($m=#group); } -> IN;
transition "post" IN - event(#do == post) / {
  set($key=5);
  set($who=@local_tag);
  groups.postEvent(#group, key;who;unset_var);
} -> IN;
transition "post all" IN - event(#do == postall) / { groups.postEvent(#group, var); } -> IN;
transition "post none" IN - event(#do == postnone) / { groups.postEvent(#group); } -> IN;
transition "stop" IN - event(#do == stop) / { stop(false); } -> END;
transition "group event" IN - event(#key != "") / {
  inc($got);
  set($got_key=#key);
  set($got_who=#who);
  set($got_unset=#unset_var);
} -> IN;
transition "group event without params" IN - event / { inc($got_plain); } -> IN;
state END;
"""


class Groups(unittest.TestCase):
    def setUp(self) -> None:
        directory = self.mktemp()
        os.makedirs(directory)
        with open(os.path.join(directory, "member.dsm"), "w") as f:
            f.write(MEMBER)
        self.h = Harness()
        self.h.load("main", {"diag_path": directory, "load_diags": "member"})

    def member(self):
        return self.h.system("member")

    def test_join_get_size_and_leave(self):
        """groups.join, size and get list the group's members by call tag; leaving removes one."""
        a, b, c = self.member(), self.member(), self.member()
        for s in (a, b):
            s.event(do="join", group="g")
        c.event(do="join", group="other")
        a.event(do="size", group="g")
        a.event(do="get", group="g")
        self.assertEqual(a.vars["size"], "2")
        self.assertEqual({a.vars["m[0]"], a.vars["m[1]"]}, {a.session.ltag, b.session.ltag})
        self.assertEqual(sorted([a.vars["m[0]"], a.vars["m[1]"]]), [a.vars["m[0]"], a.vars["m[1]"]])
        self.assertNotIn("m[2]", a.vars)
        b.event(do="leave", group="g")
        a.event(do="size", group="g")
        a.event(do="get", group="g")
        self.assertEqual(a.vars["size"], "1")
        self.assertEqual(a.vars["m[0]"], a.session.ltag)
        c.event(do="size", group="nonexistent")
        self.assertEqual(c.vars["size"], "0")

    def test_post_event_reaches_the_others_only(self):
        """groups.postEvent reaches every other member with the variables named, not the sender nor outsiders."""
        a, b, c, outsider = self.member(), self.member(), self.member(), self.member()
        for s in (a, b, c):
            s.event(do="join", group="g")
        a.event(do="post", group="g")
        for s in (b, c):
            self.assertEqual(s.vars["got"], "1")
            self.assertEqual((s.vars["got_key"], s.vars["got_who"]), ("5", a.session.ltag))
            self.assertEqual(s.vars["got_unset"], "")
        self.assertNotIn("got", a.vars)
        self.assertNotIn("got", outsider.vars)
        self.assertEqual(a.vars["errno"], "")
        self.assertEqual(a.vars["unset_var"], "")  # SEMS creates it in the sender

    def test_post_all_variables_and_none(self):
        """postEvent can carry all variables or none."""
        a, b = self.member(), self.member()
        a.event(do="join", group="g")
        b.event(do="join", group="g")
        a.session.vars["key"] = "7"
        a.event(do="postall", group="g")
        self.assertEqual(b.vars["got_key"], "7")
        a.event(do="postnone", group="g")
        self.assertEqual(b.vars["got_plain"], "1")

    def test_post_to_nobody_sets_errno(self):
        """Posting to an empty group, or one holding only ourselves, sets $errno=arg."""
        a = self.member()
        a.event(do="post", group="empty")
        self.assertEqual(a.vars["errno"], "arg")
        a.event(do="join", group="alone")
        a.event(do="post", group="alone")  # only ourselves
        self.assertEqual(a.vars["errno"], "arg")

    def test_leave_all(self):
        """groups.leaveAll takes a call out of every group it joined."""
        a, b = self.member(), self.member()
        for g in ("g1", "g2"):
            a.event(do="join", group=g)
            b.event(do="join", group=g)
        a.event(do="leaveAll")
        for g in ("g1", "g2"):
            b.event(do="size", group=g)
            self.assertEqual(b.vars["size"], "1")

    def test_ended_session_leaves_its_groups(self):
        """A call that ends leaves its groups by itself."""
        a, b = self.member(), self.member()
        a.event(do="join", group="g")
        b.event(do="join", group="g")
        b.event(do="stop")
        self.assertTrue(b.ended)
        a.event(do="size", group="g")
        self.assertEqual(a.vars["size"], "1")
        a.event(do="post", group="g")
        self.assertEqual(a.vars["errno"], "arg")

    def test_groups_are_per_runtime(self):
        """Groups of one server are not seen by another runtime."""
        a = self.member()
        a.event(do="join", group="g")
        other = Harness()
        other.runtime.bundles["main"] = self.h.runtime.bundles["main"]
        x = other.system("member")
        x.event(do="size", group="g")
        self.assertEqual(x.vars["size"], "0")
