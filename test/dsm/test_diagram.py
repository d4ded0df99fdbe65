"""rewrite_actions: the one walk over every action of compiled diagrams."""

import dataclasses

from twisted.trial import unittest

from donkey.dsm.diagram import rewrite_actions
from test.dsm.helpers import harness_with


class RewriteActionsTests(unittest.TestCase):
    def test_every_action_is_reached_and_replaced(self):
        """Enter, exit, transition, if/else and for bodies all get the rewritten action."""
        h = harness_with(
            self,
            s="""
            initial state A enter { set($a=1); } exit { set($b=1); };
            transition "t" A - key / {
                if test($a == 1) { set($c=1); } else { set($d=1); };
                for ($i in range(0, 2)) { set($e=1); };
                set($f=1);
            } -> B;
            state B;
            """,
        )
        seen = []

        def rewrite(action):
            seen.append(action.text)
            func = action.spec.func

            def counted(session, event, args):
                session.vars["calls"] = str(int(session.vars.get("calls", "0")) + 1)
                return func(session, event, args)

            return dataclasses.replace(action, spec=dataclasses.replace(action.spec, func=counted))

        bundle = h.runtime.bundles["main"]
        rewrite_actions(bundle.diagrams.values(), rewrite)
        self.assertEqual(len(seen), 6)
        s = h.system("s")
        s.key(1)
        self.assertEqual(s.state, "B")
        # enter a, exit b, c (the if's then), e twice (the for body), f
        self.assertEqual(s.vars["calls"], "6")
        self.assertNotIn("d", s.vars)
