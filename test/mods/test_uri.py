"""mod_uri as a script sees it: the variables parse/parseNameaddr/getHeader/encode set."""

from __future__ import annotations

import os
from types import SimpleNamespace

from twisted.trial import unittest

from donkey.dsm.harness import Harness, HarnessSession
from donkey.mods.uri import get_header, module, parse_nameaddr, parse_uri, url_decode, url_encode


class ScriptCase(unittest.TestCase):
    def run_script(self, body: str, variables: dict[str, str] | None = None) -> HarnessSession:
        directory = self.mktemp()
        os.makedirs(directory)
        with open(os.path.join(directory, "t.dsm"), "w") as f:
            f.write(
                "import(mod_uri);\ninitial state A;\n"
                f'transition "go" A - sessionStart / {{\n{body}\n}} -> B;\nstate B;\n'
            )
        h = Harness()
        h.load("main", {"diag_path": directory, "load_diags": "t"})
        session = h.call("t", variables=variables)
        self.assertEqual(h.errors(), [])
        return session

    def parts(self, s: HarnessSession, prefix: str) -> dict[str, str]:
        return {k[len(prefix) :]: v for k, v in s.vars.items() if k.startswith(prefix)}


class Parse(ScriptCase):
    def test_parse_full_uri(self):
        """uri.parse splits a full SIP URI into user, host, port, params and headers variables."""
        s = self.run_script(
            "uri.parse($u, r_);", {"u": "sip:alice@example.com:5070;transport=tcp?Subject=hi"}
        )
        self.assertEqual(
            self.parts(s, "r_"),
            {
                "user": "alice",
                "host": "example.com",
                "port": "5070",
                "param": "transport=tcp",
                "headers": "Subject=hi",
            },
        )
        self.assertEqual(s.vars["errno"], "")

    def test_parse_select_and_no_user(self):
        """uri.parse of @remote_uri works, and a URI without user gives an empty user."""
        s = self.run_script(
            "uri.parse(@remote_uri, remote_);\nuri.parse($u, h_);", {"u": "sip:gw.example.net"}
        )
        self.assertEqual(s.vars["remote_user"], "caller")
        self.assertEqual(s.vars["remote_host"], "127.0.0.1")
        self.assertEqual(
            self.parts(s, "h_"),
            {"user": "", "host": "gw.example.net", "port": "", "param": "", "headers": ""},
        )

    def test_parse_in_angle_brackets_with_display_name(self):
        """A sips URI in angle brackets with display name and IPv6 host parses into its parts."""
        s = self.run_script(
            "uri.parse($u, p_);", {"u": '"Bob" <sips:bob@[2001:db8::1]:5061;user=phone>'}
        )
        self.assertEqual(
            self.parts(s, "p_"),
            {
                "user": "bob",
                "host": "[2001:db8::1]",
                "port": "5061",
                "param": "user=phone",
                "headers": "",
            },
        )

    def test_parse_failure_sets_errno(self):
        """A URI that is not SIP sets $errno=general, names it in $strerror, and sets no parts."""
        s = self.run_script("uri.parse($u, p_);", {"u": "tel:+4930123"})
        self.assertEqual(s.vars["errno"], "general")
        self.assertIn("tel:+4930123", s.vars["strerror"])
        self.assertNotIn("p_user", s.vars)

    def test_parse_nameaddr(self):
        """uri.parseNameaddr gives display name, URI parts and each header parameter."""
        s = self.run_script(
            "uri.parseNameaddr($pai, n_);",
            {"pai": '"Alice Smith" <sip:alice@example.com;user=phone>;tag=a1b2;lr;Expires=60'},
        )
        self.assertEqual(
            self.parts(s, "n_"),
            {
                "display_name": "Alice Smith",
                "user": "alice",
                "host": "example.com",
                "port": "",
                "headers": "",
                "param": "user=phone",
                "uri_param.tag": "a1b2",
                "uri_param.lr": "",
                "uri_param.expires": "60",
            },
        )

    def test_parse_nameaddr_addr_spec(self):
        """A bare addr-spec parses with an empty display name; its ;params belong to the URI."""
        s = self.run_script("uri.parseNameaddr($a, n_);", {"a": "sip:100@10.0.0.1;foo=bar"})
        self.assertEqual(
            self.parts(s, "n_"),
            {
                "display_name": "",
                "user": "100",
                "host": "10.0.0.1",
                "port": "",
                "headers": "",
                "param": "",
                "uri_param.foo": "bar",
            },
        )

    def test_parse_nameaddr_stops_at_comma(self):
        """uri.parseNameaddr of a list takes the first name-addr only."""
        s = self.run_script("uri.parseNameaddr($a, n_);", {"a": "<sip:a@x>;q=1, <sip:b@y>;q=2"})
        self.assertEqual((s.vars["n_user"], s.vars["n_uri_param.q"]), ("a", "1"))

    def test_parse_nameaddr_failure(self):
        """A name-addr with an unclosed quote sets $errno=general."""
        s = self.run_script("uri.parseNameaddr($a, n_);", {"a": '"unclosed <sip:a@b>'})
        self.assertEqual(s.vars["errno"], "general")


class Headers(ScriptCase):
    HDRS = (
        "P-Asserted-Identity: <sip:+4930123@gw>\r\nX-Empty:\r\nx-custom :  one\r\nX-Custom: two\r\n"
    )

    def test_get_header(self):
        """uri.getHeader finds a header of $hdrs by name in any case, empty when missing."""
        s = self.run_script(
            "uri.getHeader(P-Asserted-Identity, PAI);\n"
            "uri.getHeader(X-CUSTOM, c);\nuri.getHeader(X-Missing, m);\n"
            "uri.getHeader(x-empty, e);",
            {"hdrs": self.HDRS},
        )
        self.assertEqual(s.vars["PAI"], "<sip:+4930123@gw>")
        self.assertEqual(s.vars["c"], "one")
        self.assertEqual((s.vars["m"], s.vars["e"]), ("", ""))

    def test_hdrs_filled_from_the_call_at_start(self):
        """A call's $hdrs holds its INVITE headers from the start, for incoming and outgoing legs."""
        session = SimpleNamespace(vars={}, call=SimpleNamespace(invite_hdrs="A: 1\r\n"))
        module.on_session_start(session)
        self.assertEqual(session.vars["hdrs"], "A: 1\r\n")
        leg_like = SimpleNamespace(
            vars={}, call=SimpleNamespace(request_headers=SimpleNamespace(raw="B: 2\r\n"))
        )
        module.on_session_start(leg_like)
        self.assertEqual(leg_like.vars["hdrs"], "B: 2\r\n")
        preset = SimpleNamespace(vars={"hdrs": "mine"}, call=SimpleNamespace(invite_hdrs="x"))
        module.on_session_start(preset)
        self.assertEqual(preset.vars["hdrs"], "mine")

    def test_get_header_function(self):
        """Header lookup matches whole names only, never a prefix."""
        self.assertEqual(get_header("Via: a\nTo: <sip:x>\n", "to"), "<sip:x>")
        self.assertEqual(get_header("To-Tag: 1\r\n", "To"), "")
        self.assertEqual(get_header("To: x\r\n", ""), "")


class Encoding(ScriptCase):
    def test_encode_decode(self):
        """uri.encode percent-encodes all but unreserved characters (UTF-8) and uri.decode reverses it."""
        s = self.run_script(
            "uri.encode($e=$raw);\nuri.decode($d=$e);", {"raw": "abc-_.~ <sip:a@b>;x=1&ü"}
        )
        self.assertEqual(s.vars["e"], "abc-_.~%20%3Csip%3Aa%40b%3E%3Bx%3D1%26%C3%BC")
        self.assertEqual(s.vars["d"], "abc-_.~ <sip:a@b>;x=1&ü")

    def test_decode_quirks(self):
        """uri.decode handles %% and broken escapes as SEMS does."""
        self.assertEqual(url_decode("100%%"), "100%")
        self.assertEqual(url_decode("a%zzb%4"), "ab")
        self.assertEqual(url_decode("%+1x"), "x")
        self.assertEqual(url_encode("a b"), "a%20b")


class Parser(unittest.TestCase):
    def test_user_without_host_separator_quirks(self):
        """The URI parser takes SEMS's quirks (space before params) and refuses URIs without a scheme."""
        p = parse_uri("sip:alice@host:5060 ;x")
        self.assertEqual((p.user, p.host, p.port, p.param), ("alice", "host", "5060", "x"))
        self.assertIsNone(parse_uri(""))
        self.assertIsNone(parse_uri("alice@host"))

    def test_nameaddr_quoted_specials(self):
        """Separators inside a quoted display name do not split the name-addr."""
        p = parse_nameaddr('"a;b,<c>" <sip:u@h>;tag=1')
        self.assertEqual((p.display_name, p.user, p.params), ("a;b,<c>", "u", {"tag": "1"}))
