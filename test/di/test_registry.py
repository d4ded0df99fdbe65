"""Tests for :mod:`donkey.di.registry`."""

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
    """Any object with a ``functions`` table will do."""

    def __init__(self):
        self.functions = {"double": lambda args: args[0] * 2}


class DIInterfaceTests(unittest.TestCase):
    def test_decorator(self):
        """The decorator files a function under its name and returns it unchanged."""
        iface = DIInterface("echo")

        @iface.function("echo")
        def echo(args):
            return args

        self.assertIs(iface.functions["echo"], echo)
        self.assertEqual(iface.name, "echo")
        self.assertIn("echo", repr(iface))

    def test_add(self):
        """add() files a function under a name without the decorator."""
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

    def test_sync_result_wrapped(self):
        """A plain function's result still arrives as a Deferred."""
        d = self.registry.invoke("test", "sum", [1, 2, 3])
        self.assertIsInstance(d, defer.Deferred)
        self.assertEqual(self.successResultOf(d), 6)

    def test_deferred_result(self):
        """A function returning a Deferred is answered with what it fires."""
        self.assertEqual(
            self.successResultOf(self.registry.invoke("test", "later", [1])), ["later", 1]
        )

    def test_args_copied(self):
        """The function gets its own copy of the argument list."""
        seen = []
        self.iface.add("keep", seen.append)
        args = [1]
        self.registry.invoke("test", "keep", args)
        self.assertIsNot(seen[0], args)

    def test_unknown_interface(self):
        """Calling an interface nobody registered fails with a config error naming it."""
        f = self.failureResultOf(self.registry.invoke("nope", "sum", []), DIError)
        self.assertEqual(f.value.kind, "config")
        self.assertIn("nope", str(f.value))

    def test_unknown_function(self):
        """Calling a missing function fails with not_implemented naming it."""
        f = self.failureResultOf(self.registry.invoke("test", "nope", []), DINotImplemented)
        self.assertEqual(f.value.kind, "not_implemented")
        self.assertIn("nope", f.value.message)

    def test_exception_becomes_failure(self):
        """An exception raised by the function arrives as the Deferred's failure."""
        self.failureResultOf(self.registry.invoke("test", "boom", []), RuntimeError)

    def test_argument_error(self):
        """A function rejecting its arguments fails with kind args."""
        f = self.failureResultOf(self.registry.invoke("test", "strict", [1]), DIArgumentError)
        self.assertEqual(f.value.kind, "args")

    def test_list_function(self):
        """_list answers the interface's public function names, in definition order."""
        self.assertEqual(
            self.successResultOf(self.registry.invoke("test", "_list", [])),
            ["sum", "later", "boom", "strict"],
        )

    def test_own_list_wins(self):
        """An interface that defines _list itself is answered by its own."""
        self.iface.add("_list", lambda args: ["sum"])
        self.assertEqual(self.successResultOf(self.registry.invoke("test", "_list", [])), ["sum"])

    def test_names_and_lookup(self):
        """Any object with a functions table registers, lists and resolves like a DIInterface."""
        self.registry.register("plain", PlainInterface())
        self.assertEqual(self.registry.names(), ["test", "plain"])
        self.assertIn("plain", self.registry)
        self.assertEqual(self.registry.lookup("plain", "double")([4]), 8)
        self.assertEqual(self.registry.function_names("plain"), ["double"])

    def test_replace_and_unregister(self):
        """Registering a name again replaces it; unregistering (twice) removes it."""
        other = DIInterface("test")
        self.registry.register("test", other)
        self.assertIs(self.registry.get("test"), other)
        self.registry.unregister("test")
        self.registry.unregister("test")
        self.assertIsNone(self.registry.get("test"))

    def test_register_rejects_non_interface(self):
        """Registering an object without a functions table is refused."""
        self.assertRaises(TypeError, self.registry.register, "x", object())
