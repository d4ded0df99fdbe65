"""The seed's quizconnect scripts, driven through the harness with an SQLite database."""

import os
import sqlite3

from twisted.trial import unittest

from donkey.dsm.harness import Harness
from test.util import wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
APP = os.path.normpath(os.path.join(HERE, "..", "..", "conf", "dsm", "quizconnect"))


class QuizconnectTests(unittest.TestCase):
    timeout = 20

    def setUp(self):
        self.db = os.path.abspath(self.mktemp()) + ".db"
        con = sqlite3.connect(self.db)
        con.execute(
            "CREATE TABLE callees (id INTEGER PRIMARY KEY AUTOINCREMENT, "
            "caller VARCHAR(128) NOT NULL, callee VARCHAR(128) NOT NULL, "
            "pin VARCHAR(32) NOT NULL)"
        )
        con.execute("insert into callees (caller,callee,pin) values ('35','john','12345')")
        con.execute("insert into callees (caller,callee,pin) values ('35','anna','54321')")
        con.commit()
        con.close()
        self.harness = Harness()
        self.harness.load(
            "quizconnect",
            {
                "diag_path": APP,
                "load_diags": "quizconnect_caller,quizconnect_callee",
                "register_apps": "quizconnect_caller,quizconnect_callee",
                "run_invite_event": "yes",
                "set_param_variables": "yes",
                "prompt_path": os.path.join(APP, "prompts"),
                "db_url": f"sqlite:///{self.db}",
                "outbound_domain": "127.0.0.1:5080",
            },
        )
        self.addCleanup(self._close_pools)

    def _close_pools(self):
        return self.harness.runtime.shutdown()

    async def settle(self, predicate, what):
        """Let the real reactor run (DB threads) and the fake clock tick until ``predicate``."""

        def advanced():
            self.harness.advance(0)
            return predicate()

        await wait_until(advanced, 5, what, interval=0.01)

    async def test_caller_creates_callee_legs_and_waits(self):
        """Caller 35 gets 183 and welcome_caller.wav while john and anna are dialled and hear welcome_callee.wav."""
        caller = self.harness.call("quizconnect_caller", "quizconnect", user="35")
        await self.settle(
            lambda: caller.state == "WAIT_CALLEE" and len(self.harness.dialed) == 2,
            "caller in WAIT_CALLEE",
        )
        self.assertEqual(
            caller.path,
            [
                "START",
                "RUN_INVITE",
                "CREATE_CALLEE_LEGS",
                "CREATE_CALLEE_LEGS",
                "CREATE_CALLEE_LEGS",
                "WAIT_CALLEE",
                "START",
                "WAIT_CALLEE",
            ],
        )
        self.assertEqual(caller.record.replies, [(183, "Session Progress")])
        self.assertEqual(
            caller.record.played, [os.path.join(APP, "prompts") + "/welcome_caller.wav"]
        )
        self.assertEqual(
            [leg.session.call.ruri for leg in self.harness.dialed],
            ["sip:john@127.0.0.1:5080", "sip:anna@127.0.0.1:5080"],
        )
        john, anna = self.harness.dialed
        await self.settle(lambda: john.state == anna.state == "ENTER_PIN", "callees in ENTER_PIN")
        self.assertEqual(john.path, ["START", "RUN_INVITE", "START", "ENTER_PIN"])
        self.assertEqual(john.vars["pin"], "12345")
        self.assertEqual(john.vars["a_ltag"], caller.session.ltag)
        self.assertEqual(caller.vars["b_ltags[1]"], anna.session.ltag)

    async def test_wrong_pin_then_right_pin_connects(self):
        """Anna's wrong PIN and # give her sorry_pin_wrong in ENTER_PIN; john's 12345 connects him to the caller."""
        caller = self.harness.call("quizconnect_caller", "quizconnect", user="35")
        await self.settle(
            lambda: (
                len(self.harness.dialed) == 2
                and all(leg.state == "ENTER_PIN" for leg in self.harness.dialed)
            ),
            "callees in ENTER_PIN",
        )
        john, anna = self.harness.dialed
        for key in (9, 9, "#"):  # anna: wrong PIN, then '#'
            anna.key(key)
        self.harness.advance(0)
        self.assertEqual(anna.state, "ENTER_PIN")
        self.assertEqual(
            anna.path[-6:],
            ["TEST_PIN", "ENTER_PIN", "TEST_PIN", "ENTER_PIN", "TEST_PIN_FINAL", "ENTER_PIN"],
        )
        self.assertTrue(anna.record.played[-1].endswith("sorry_pin_wrong.wav"))
        self.assertNotIn("entered_pin", anna.vars)
        for key in (1, 2, 3, 4, 5):  # john: the right PIN
            john.key(key)
        self.harness.advance(0)
        self.assertEqual(john.path[-3:], ["TEST_PIN", "MATCHING_PIN", "CONNECTED"])
        self.assertEqual(caller.state, "CONNECTED")
        self.assertEqual(caller.record.replies, [(183, "Session Progress"), (200, "OK")])
        self.assertTrue(anna.ended)  # told to cancel: stop(true)
        self.assertEqual(anna.record.byes, 1)
        self.assertFalse(john.ended)
        room = self.harness.runtime.conference
        self.assertEqual(
            sorted(room.members(caller.session.ltag), key=id),
            sorted([caller.session, john.session], key=id),
        )
        caller.hangup()  # caller hangs up: john gets BYE
        self.harness.advance(0)
        self.assertTrue(caller.ended)
        self.assertTrue(john.ended)
        self.assertEqual(john.record.byes, 1)
        self.assertEqual(room.size(caller.session.ltag), 0)

    async def test_cancel_while_callees_ring(self):
        """A caller hanging up while the callees ring gets 487 and both callee legs end."""
        caller = self.harness.call("quizconnect_caller", "quizconnect", user="35")
        await self.settle(
            lambda: caller.state == "WAIT_CALLEE" and len(self.harness.dialed) == 2,
            "caller in WAIT_CALLEE",
        )
        caller.hangup()
        self.harness.advance(0)
        self.assertEqual(caller.record.replies[-1], (487, "Request Terminated"))
        self.assertTrue(caller.ended)
        self.assertTrue(all(leg.ended for leg in self.harness.dialed))

    async def test_unknown_number_gets_404(self):
        """A number with no callees in the table gets 183 and then 404 Not found; nobody is dialled."""
        caller = self.harness.call("quizconnect_caller", "quizconnect", user="99")
        await self.settle(lambda: caller.ended, "caller ended")
        self.assertEqual(caller.record.replies, [(183, "Session Progress"), (404, "Not found")])
        self.assertEqual(self.harness.dialed, [])

    async def test_database_down_gets_500(self):
        """With the database unreachable the caller gets 500 and the script ends."""
        self.harness.runtime.bundles["quizconnect"].config["db_url"] = (
            "mysql://nobody:wrong@127.0.0.1:1/none"
        )
        caller = self.harness.call("quizconnect_caller", "quizconnect", user="35")
        await self.settle(lambda: caller.ended, "caller ended")
        self.assertEqual(caller.record.replies, [(500, "Server Internal Error")])
        self.assertEqual(caller.path[-1], "END")
