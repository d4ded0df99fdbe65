"""Tests for L{donkey.di.registry}."""

from twisted.internet import defer
from twisted.trial import unittest

from donkey.di.registry import (
    DIArgumentError,
    DIError,
    DIInterface,
    DINotImplemented,
    DIRegistry,
)


class PlainInterface:
    """Any object with a C{functions} table will do."""

    def __init__(self):
        self.functions = {"double": lambda args: args[0] * 2}


class DIInterfaceTests(unittest.TestCase):
    def test_decorator(self):
        iface = DIInterface("echo")

        @iface.function("echo")
        def echo(args):
            return args

        self.assertIs(iface.functions["echo"], echo)
        self.assertEqual(iface.name, "echo")
        self.assertIn("echo", repr(iface))

    def test_add(self):
        iface = DIInterface("x")
        iface.add("f", len)
        self.assertIs(iface.functions["f"], len)


class RegistryTests(unittest.TestCase):
    def setUp(self):
        self.registry = DIRegistry()
        self.iface = DIInterface("test")

        @self.iface.function("sum")
        def sum_(args):
            return sum(args)

        @self.iface.function("later")
        def later(args):
            return defer.succeed(["later", *args])

        @self.iface.function("boom")
        def boom(args):
            raise RuntimeError("kaboom")

        @self.iface.function("strict")
        def strict(args):
            raise DIArgumentError("strict: needs nothing")

        @self.iface.function("_hidden")
        def hidden(args):
            return "hidden"

        self.registry.register("test", self.iface)

    def test_syncResultWrapped(self):
        d = self.registry.invoke("test", "sum", [1, 2, 3])
        self.assertIsInstance(d, defer.Deferred)
        self.assertEqual(self.successResultOf(d), 6)

    def test_deferredResult(self):
        self.assertEqual(
            self.successResultOf(self.registry.invoke("test", "later", [1])), ["later", 1]
        )

    def test_argsCopied(self):
        seen = []
        self.iface.add("keep", seen.append)
        args = [1]
        self.registry.invoke("test", "keep", args)
        self.assertIsNot(seen[0], args)

    def test_unknownInterface(self):
        f = self.failureResultOf(self.registry.invoke("nope", "sum", []), DIError)
        self.assertEqual(f.value.kind, "config")
        self.assertIn("nope", str(f.value))

    def test_unknownFunction(self):
        f = self.failureResultOf(self.registry.invoke("test", "nope", []), DINotImplemented)
        self.assertEqual(f.value.kind, "not_implemented")
        self.assertIn("nope", f.value.message)

    def test_exceptionBecomesFailure(self):
        self.failureResultOf(self.registry.invoke("test", "boom", []), RuntimeError)

    def test_argumentError(self):
        f = self.failureResultOf(self.registry.invoke("test", "strict", [1]), DIArgumentError)
        self.assertEqual(f.value.kind, "args")

    def test_listFunction(self):
        self.assertEqual(
            self.successResultOf(self.registry.invoke("test", "_list", [])),
            ["sum", "later", "boom", "strict"],
        )

    def test_ownListWins(self):
        self.iface.add("_list", lambda args: ["sum"])
        self.assertEqual(self.successResultOf(self.registry.invoke("test", "_list", [])), ["sum"])

    def test_namesAndLookup(self):
        self.registry.register("plain", PlainInterface())
        self.assertEqual(self.registry.names(), ["test", "plain"])
        self.assertIn("plain", self.registry)
        self.assertEqual(self.registry.lookup("plain", "double")([4]), 8)
        self.assertEqual(self.registry.function_names("plain"), ["double"])

    def test_replaceAndUnregister(self):
        other = DIInterface("test")
        self.registry.register("test", other)
        self.assertIs(self.registry.get("test"), other)
        self.registry.unregister("test")
        self.registry.unregister("test")
        self.assertIsNone(self.registry.get("test"))

    def test_registerRejectsNonInterface(self):
        self.assertRaises(TypeError, self.registry.register, "x", object())
