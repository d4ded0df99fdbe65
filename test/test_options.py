"""``twistd donkeysm``'s options, as a user types them (no daemon is started)."""

from __future__ import annotations

import os
import socket

from twisted.python import usage
from twisted.trial import unittest

from donkey import tap
from donkey.config import default_config_path, default_state_dir


def parse(*argv: str) -> tap.Options:
    options = tap.Options()
    options.parseOptions(list(argv))
    return options


class RtpPortsTests(unittest.TestCase):
    def test_range_is_taken(self):
        """--rtp-ports 20000-20099 becomes the RTP range."""
        cfg = parse("--rtp-ports", "20000-20099").server_config
        self.assertEqual((cfg.rtp_low_port, cfg.rtp_high_port), (20000, 20099))

    def test_single_port_is_refused(self):
        """--rtp-ports 10000 is an error saying LOW-HIGH, not silently 10000-20000."""
        e = self.assertRaises(usage.UsageError, parse, "--rtp-ports", "10000")
        self.assertEqual(str(e), "--rtp-ports takes LOW-HIGH (e.g. 10000-10999), got '10000'")

    def test_bad_ranges_are_refused_with_the_reason(self):
        """Words, ports out of 1..65535, LOW >= HIGH and an odd LOW each say what is wrong."""
        for text, reason in [
            ("a-b", "takes LOW-HIGH"),
            ("10000-", "takes LOW-HIGH"),
            ("0-100", "0 is not a port (1-65535)"),
            ("10000-70000", "70000 is not a port (1-65535)"),
            ("20000-10000", "LOW must be below HIGH"),
            ("10000-10000", "LOW must be below HIGH"),
            ("10001-10999", "LOW must be even"),
        ]:
            e = self.assertRaises(usage.UsageError, parse, "--rtp-ports", text)
            self.assertIn(reason, str(e), text)

    def test_without_option_the_config_range_stays(self):
        """Without --rtp-ports the bundled sems.conf's range is used."""
        cfg = parse().server_config
        self.assertEqual((cfg.rtp_low_port, cfg.rtp_high_port), (10000, 11999))


class LoglevelTests(unittest.TestCase):
    def test_loglevel_overrides_sems_conf(self):
        """--loglevel 3 wins over loglevel=2 of the bundled sems.conf."""
        self.assertEqual(parse().server_config.loglevel, 2)
        self.assertEqual(parse("--loglevel", "3").server_config.loglevel, 3)
        self.assertEqual(parse("--loglevel", "0").server_config.loglevel, 0)

    def test_bad_loglevel_is_refused(self):
        """A level outside 0-3 names the SEMS levels."""
        for text in ("4", "-1", "debug"):
            e = self.assertRaises(usage.UsageError, parse, "--loglevel", text)
            self.assertIn("--loglevel takes 0-3 (0 error, 1 warning, 2 info, 3 debug)", str(e))


class ConfigFileTests(unittest.TestCase):
    def test_missing_config_is_one_line(self):
        """-c with a file that does not exist exits 1 with one line naming it."""
        missing = os.path.abspath(self.mktemp())
        e = self.assertRaises(SystemExit, parse, "-c", missing)
        self.assertEqual(e.code, f"donkeysm: cannot read {missing}: No such file or directory")

    def test_unreadable_config_is_one_line(self):
        """-c naming a directory says it cannot be read, in one line."""
        folder = os.path.abspath(self.mktemp())
        os.mkdir(folder)
        e = self.assertRaises(SystemExit, parse, "-c", folder)
        self.assertEqual(e.code, f"donkeysm: cannot read {folder}: Is a directory")

    def test_overrides_apply_to_the_named_config(self):
        """-c, --sip-ip, --sip-port and --xmlrpc-port end up in the parsed configuration."""
        options = parse(
            "-c", default_config_path(), "--sip-ip", "127.0.0.2", "--sip-port", "5099",
            "--xmlrpc-port", "8099",
        )  # fmt: skip
        cfg = options.server_config
        self.assertEqual(cfg.path, default_config_path())
        self.assertEqual((cfg.sip_ip, cfg.sip_port), ("127.0.0.2", 5099))
        self.assertEqual(cfg.xmlrpc["xmlrpc_port"], "8099")


class StateDirTests(unittest.TestCase):
    def test_state_dir_option(self):
        """--state-dir names where the demo database goes."""
        where = os.path.abspath(self.mktemp())
        self.assertEqual(parse("--state-dir", where).server_config.state_dir, where)

    def test_default_follows_xdg(self):
        """Without state_dir the state directory is $XDG_STATE_HOME/donkey, else ~/.local/state."""
        self.patch(os, "environ", {"XDG_STATE_HOME": "/srv/state", "HOME": "/home/ann"})
        self.assertEqual(default_state_dir(), "/srv/state/donkey")
        self.assertEqual(parse().server_config.state_dir, "/srv/state/donkey")
        self.patch(os, "environ", {"HOME": "/home/ann"})
        self.assertEqual(default_state_dir(), "/home/ann/.local/state/donkey")

    def test_demo_database_is_in_the_state_dir(self):
        """The bundled quizconnect bundle's db_url points into the state directory."""
        from donkey.app.server import bundle_files
        from donkey.config import read_config

        cfg = parse("--state-dir", "/var/lib/donkey-test").server_config
        conf_dir = os.path.join(cfg.plugin_dir, cfg.dsm["conf_dir"])  # type: ignore[attr-defined]
        (path,) = [p for name, p in bundle_files(conf_dir) if name == "quizconnect"]
        self.assertEqual(
            read_config(path, cfg.state_dir)["db_url"],
            "sqlite:///var/lib/donkey-test/quizconnect.db",
        )


class PortInUseTests(unittest.TestCase):
    def _taken(self, kind: int) -> tuple[socket.socket, int]:
        s = socket.socket(socket.AF_INET, kind)
        self.addCleanup(s.close)
        s.bind(("127.0.0.1", 0))
        if kind == socket.SOCK_STREAM:
            s.listen()
        return s, s.getsockname()[1]

    def test_sip_port_in_use_names_the_port(self):
        """makeService on a taken SIP port exits with one line naming udp:IP:PORT."""
        _, port = self._taken(socket.SOCK_DGRAM)
        options = parse("--sip-port", str(port), "--xmlrpc-port", "0")
        e = self.assertRaises(SystemExit, tap.makeService, options, object())
        self.assertEqual(
            e.code,
            f"donkeysm: cannot listen for SIP on udp:127.0.0.1:{port}: "
            "already in use (is another donkey running?)",
        )

    def test_xmlrpc_port_in_use_names_the_port(self):
        """makeService on a taken XML-RPC port exits with one line naming tcp:IP:PORT."""
        _, port = self._taken(socket.SOCK_STREAM)
        options = parse("--sip-port", "0", "--xmlrpc-port", str(port))
        e = self.assertRaises(SystemExit, tap.makeService, options, object())
        self.assertEqual(
            e.code,
            f"donkeysm: cannot listen for XML-RPC on tcp:127.0.0.1:{port}: "
            "already in use (is another donkey running?)",
        )
