"""The ``dsm`` DI interface: events into calls, live reload that never breaks what runs."""

import os

from twisted.trial import unittest

from donkey.app.control import make_dsm_interface
from test.dsm.helpers import harness_with, write_scripts

V1 = """
initial state A;
state B;
transition "go" A - event(#go == 1) / set($version=one) -> B;
"""
V2 = V1.replace("set($version=one)", "set($version=two)")


class ControlTests(unittest.TestCase):
    def setUp(self):
        self.h = harness_with(
            self,
            app=V1,
            sys="""
            initial state S;
            transition "boot" S - startup / set($how=startup) -> S;
            transition "reload" S - reload / set($how=reload) -> S;
            """,
        )
        self.dsm = make_dsm_interface(self.h.runtime).functions
        self.dir = write_scripts(self, app=V2)
        # the control plane loads only from configured directories
        self.h.runtime.main_config["allowed_config_dirs"] = self.dir
        self.conf = os.path.join(self.dir, "bundle.conf")
        with open(self.conf, "w") as f:
            f.write(
                f"diag_path={self.dir}\nload_diags=app\nregister_apps=app\n"
                "run_system_dsms=\ngreeting=hello\n"
            )

    def test_post_dsm_event_reaches_session_by_local_tag(self):
        """postDSMEvent to a live call's tag answers [200, OK] and the script sees it; an unknown tag gets 404."""
        s = self.h.system("app")
        self.assertEqual(self.dsm["postDSMEvent"]([s.session.ltag, [["go", "1"]]]), [200, "OK"])
        self.assertEqual(s.vars["version"], "one")
        self.assertEqual(self.dsm["postDSMEvent"](["nobody", []]), [404, "Session not found"])

    def test_load_config_applies_to_new_sessions_only(self):
        """loadConfig answers [200, OK]; running calls keep the old script, new calls get the new one."""
        old = self.h.system("app")
        self.assertEqual(self.dsm["loadConfig"]([self.conf, "bundle"]), [200, "OK"])
        new = self.h.system("app", bundle="bundle")
        for s in (old, new):
            s.event(go="1")
        self.assertEqual((old.vars["version"], new.vars["version"]), ("one", "two"))
        self.assertEqual(new.vars["config.greeting"], "hello")
        self.assertIs(self.h.runtime.apps["app"][0], self.h.runtime.bundles["bundle"])

    def test_broken_bundle_changes_nothing_and_names_the_problem(self):
        """loadConfig of a broken script answers 500 naming file, line and column, and the old bundle stays."""
        self.assertEqual(self.dsm["loadConfig"]([self.conf, "bundle"]), [200, "OK"])
        with open(os.path.join(self.dir, "app.dsm"), "w") as f:
            f.write('initial state A;\ntransition "t" A - nosuch() -> A;\n')
        code, reason = self.dsm["loadConfig"]([self.conf, "bundle"])
        self.assertEqual(code, 500)
        self.assertIn(f"{self.dir}/app.dsm:2:20: unknown condition 'nosuch'", reason)
        s = self.h.system("app", bundle="bundle")
        s.event(go="1")
        self.assertEqual(s.vars["version"], "two")

    def test_reload_event_for_system_dsms_of_a_reloaded_bundle(self):
        """A reloaded bundle's system DSMs start with the 'reload' event."""
        with open(self.conf, "a") as f:
            f.write("run_system_dsms=sys\n")
        with open(os.path.join(self.dir, "sys.dsm"), "w") as f:
            f.write('initial state S;\ntransition "r" S - reload / set($how=reload) -> S;\n')
        with open(self.conf) as f:
            text = f.read().replace("load_diags=app", "load_diags=app,sys")
        with open(self.conf, "w") as f:
            f.write(text)
        self.assertEqual(self.dsm["loadConfig"]([self.conf, "bundle"]), [200, "OK"])
        (sys_session,) = [s for s in self.h.runtime.system_sessions if s.app.name == "bundle"]
        self.assertEqual(sys_session.vars["how"], "reload")

    def test_create_system_dsm_has_dsm_list_dsms(self):
        """createSystemDSM, hasDSM, listDSMs and registerApplication answer as SEMS's DI methods do."""
        self.assertEqual(self.dsm["createSystemDSM"](["main", "sys"]), [200, "OK"])
        self.assertEqual(self.h.runtime.system_sessions[-1].vars["how"], "startup")
        self.assertEqual(self.dsm["createSystemDSM"](["main", "nope"])[0], 500)
        self.assertEqual(self.dsm["hasDSM"](["app"]), ["1"])
        self.assertEqual(self.dsm["hasDSM"](["nope"]), ["0"])
        self.assertEqual(self.dsm["listDSMs"]([]), ["app", "sys"])
        self.assertEqual(
            self.dsm["registerApplication"](["sys"]), [200, "registered DSM application"]
        )
        self.assertEqual(self.dsm["registerApplication"](["nope"])[0], 400)
