"""Core actions and conditions that the conformance traces do not pin down."""

from twisted.internet.defer import Deferred
from twisted.trial import unittest

from donkey.di.registry import DIInterface, DIRegistry
from test.dsm.helpers import harness_with


class TestConditionTests(unittest.TestCase):
    def check(self, expr, **vars_):
        h = harness_with(
            self,
            s=f"""
            initial state A;
            state YES;
            transition "t" A - key; test({expr}) -> YES;
            """,
        )
        s = h.system("s")
        s.vars.update(vars_)
        s.key(1)
        return s.state == "YES"

    def test_numbers_compare_numerically_strings_lexically(self):
        """test() compares numbers as numbers and other text as strings."""
        self.assertTrue(self.check("$a < $b", a="2", b="10"))
        self.assertFalse(self.check("$a < $b", a="x2", b="x10"))
        self.assertTrue(self.check("$a > $b", a="-1", b="-5"))

    def test_prefix_and_len(self):
        """test() matches a trailing * as a prefix and compares len() of values."""
        self.assertTrue(self.check("$a == 49*", a="4930"))
        self.assertFalse(self.check("$a == 49*", a="4"))
        self.assertTrue(self.check("len($a) == 4", a="abcd"))
        self.assertTrue(self.check("len($a) < len($b)", a="ab", b="abc"))

    def test_event_params_and_selects(self):
        """test() reads event parameters, a missing one as empty."""
        self.assertTrue(self.check("#key == 1"))
        self.assertTrue(self.check('#missing == ""'))


class DITests(unittest.TestCase):
    def setUp(self):
        self.h = harness_with(
            self,
            s="""
            initial state A;
            state DONE;
            transition "call" A - key(#key == 1) / {
              set($who=world);
              set($arr[0]=x);
              set($arr[1]=y);
              DIgetResult(greeter, greet, $who, (int)5, "lit $who", (array)arr);
              set($after=$DI_res0);
            } -> DONE;
            transition "array" A - key(#key == 2) / DIgetResultArray(greeter, list) -> DONE;
            transition "missing" A - key(#key == 3) / DI(nosuch, f) -> DONE;
            transition "slow" A - key(#key == 4) / { DIgetResult(greeter, slow); set($got=$DI_res); } -> DONE;
            """,
        )
        iface = DIInterface("greeter")
        self.calls = []
        self.slow = Deferred()

        @iface.function("greet")
        def greet(args):
            self.calls.append(args)
            return ["hello " + args[0], args[1] + 1]

        iface.add("list", lambda args: ["a", "b", 3])
        iface.add("slow", lambda args: self.slow)
        self.h.runtime.di = DIRegistry()
        self.h.runtime.di.register("greeter", iface)

    def test_typed_arguments_and_result_variables(self):
        """DIgetResult passes typed arguments and leaves $DI_res0.. and an empty $errno."""
        s = self.h.system("s")
        s.key(1)
        self.assertEqual(self.calls, [["world", 5, "lit $who", ["x", "y"]]])
        self.assertEqual((s.vars["DI_res0"], s.vars["DI_res1"]), ("hello world", "6"))
        self.assertEqual(s.vars["after"], "hello world")
        self.assertEqual(s.vars["errno"], "")

    def test_result_array(self):
        """DIgetResultArray leaves $DI_res[i] and $DI_res_size."""
        s = self.h.system("s")
        s.key(2)
        self.assertEqual([s.vars[f"DI_res[{i}]"] for i in range(3)], ["a", "b", "3"])
        self.assertEqual(s.vars["DI_res_size"], "3")

    def test_unknown_interface_sets_config_errno(self):
        """A DI call to an unknown interface sets $errno=config and the script goes on."""
        s = self.h.system("s")
        s.key(3)
        self.assertEqual(s.vars["errno"], "config")
        self.assertEqual(s.state, "DONE")

    def test_deferred_result_waits(self):
        """A DI function answering later holds the transition until it answers."""
        s = self.h.system("s")
        s.key(4)
        self.assertEqual(s.state, "A")
        self.slow.callback("late")
        self.assertEqual((s.state, s.vars["got"]), ("DONE", "late"))


class EventQueueTests(unittest.TestCase):
    def test_registered_queue_name_receives_events(self):
        """postEvent to a registered queue name reaches the session that registered it."""
        h = harness_with(
            self,
            hub="""
            initial state A enter { registerEventQueue(hub); };
            transition "count" A - event(#hello == 1) / inc($n) -> A;
            """,
            leg="""
            initial state A;
            transition "say" A - key / { set($hello=1); postEvent(hub, hello); } -> A;
            """,
        )
        hub = h.system("hub")
        leg = h.system("leg")
        leg.key(1)
        leg.key(1)
        self.assertEqual(hub.vars["n"], "2")


class LogTests(unittest.TestCase):
    def test_log_levels_and_interpolation(self):
        """log, logs and info write at their levels, with $(x) and #(key) filled in."""
        h = harness_with(
            self,
            s="""
            initial state A;
            transition "log" A - key / {
              set($x=42);
              log(1, $x);
              logs(2, "x is $(x), key #(key) and #(nothing)");
              info("hello $x");
            } -> A;
            """,
        )
        s = h.system("s")
        s.key(7)
        text = "\n".join(s.record.logs)
        self.assertIn("FSM: $x '42'", text)
        self.assertIn("FSM: 'x is 42, key 7 and '", text)
        self.assertIn("FSM: 'hello 42'", text)
        levels = [e["log_level"].name for e in h.log_events if e.get("dsm_log")]
        self.assertEqual(levels, ["warn", "info", "info"])


class CallActionTests(unittest.TestCase):
    def test_param_select_and_file_exception(self):
        """param() and @selects read the call; a missing playFile file throws a file exception."""
        h = harness_with(
            self,
            s="""
            import(mod_dlg);
            initial state START;
            transition "start" START - sessionStart -> WAIT;
            state WAIT;
            transition "key" WAIT - key / {
              param($k=key);
              set($who=@user);
              logSelects(3);
              playFile(/no/such/file.wav);
              set($not_reached=1);
            } -> WAIT;
            transition "no file" WAIT - exception; test(#type == file) / set($missing=#path) -> DONE;
            state DONE;
            transition "hang up" DONE - hangup / stop(true) -> DONE;
            """,
        )
        call = h.call("s", user="35")
        call.key(4)
        self.assertEqual((call.vars["k"], call.vars["who"]), ("4", "35"))
        self.assertEqual(call.vars["missing"], "/no/such/file.wav")
        self.assertNotIn("not_reached", call.vars)
        self.assertIn("FSM:  @user='35'", "\n".join(call.record.logs))
        call.hangup()
        self.assertEqual(call.record.byes, 1)
        self.assertTrue(call.ended)

    def test_playlist_direction_names_follow_sems(self):
        """setInputPlaylist and setOutputPlaylist mean what they mean in SEMS."""
        h = harness_with(
            self,
            s="""
            initial state A enter { setInputPlaylist(); setOutputPlaylist(); setInOutPlaylist(); };
            """,
        )
        call = h.call("s")
        names = [c[0] for c in call.record.media_calls]
        # SEMS's input receives the caller's audio: donkey's media calls that "output".
        self.assertEqual(
            names[:3], ["set_output_playlist", "set_input_playlist", "set_in_out_playlist"]
        )
