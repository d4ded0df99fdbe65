"""mod_groups: sessions join named groups and broadcast DSM events to them.

Actions
    ``groups.join(group)``               this session joins ``group``
    ``groups.leave(group)``              ... leaves it
    ``groups.leaveAll()``                ... leaves every group
    ``groups.postEvent(group[, vars])``  an ``event`` to every *other* member; ``vars`` is
                                         ``a;b;c`` (those variables, '' when unset) or
                                         ``var`` (all variables). ``$errno=arg`` if it
                                         reached nobody, cleared otherwise
    ``groups.get($array=group)``         members' local tags into ``$array[0..]`` (sorted)
    ``groups.getSize($var=group)``       number of members into ``$var``

No conditions.

Groups belong to the runtime, so they span all sessions of one donkey
instance (SEMS: the process).  A session that ends leaves all its groups; an
emptied group disappears.  As in SEMS, naming a variable in ``postEvent``
creates it (empty) in the sender if it did not exist.
"""

from __future__ import annotations

from typing import Any

from donkey.dsm import events as ev
from donkey.dsm.events import Event
from donkey.dsm.module import Module

_STATE = "mod_groups"


class Groups:
    """Group membership of one runtime, indexed both ways."""

    def __init__(self) -> None:
        self.members: dict[str, set[str]] = {}
        self.of_tag: dict[str, set[str]] = {}

    def join(self, group: str, ltag: str) -> None:
        self.members.setdefault(group, set()).add(ltag)
        self.of_tag.setdefault(ltag, set()).add(group)

    def leave(self, group: str, ltag: str) -> None:
        members = self.members.get(group)
        if members is not None:
            members.discard(ltag)
            if not members:
                del self.members[group]
        groups = self.of_tag.get(ltag)
        if groups is not None:
            groups.discard(group)
            if not groups:
                del self.of_tag[ltag]

    def leave_all(self, ltag: str) -> None:
        for group in list(self.of_tag.get(ltag, ())):
            self.leave(group, ltag)

    def get(self, group: str) -> list[str]:
        """Members in a stable order (SEMS: a sorted std::set)."""
        return sorted(self.members.get(group, ()))


def groups_of(runtime: Any) -> Groups:
    """The runtime's groups, made on first use."""
    return runtime.module_state(_STATE, Groups)


class GroupsModule(Module):
    """mod_groups: a session that ends leaves its groups."""

    def on_session_end(self, session: Any) -> None:
        groups_of(session.runtime).leave_all(session.ltag)


module = GroupsModule("mod_groups")


def _name(text: str) -> str:
    return text[1:] if text.startswith("$") else text


@module.action("groups.join")
def _join(session, event, args):
    groups_of(session.runtime).join(session.resolve(args[0], event), session.ltag)


@module.action("groups.leave")
def _leave(session, event, args):
    groups_of(session.runtime).leave(session.resolve(args[0], event), session.ltag)


@module.action("groups.leaveAll")
def _leave_all(session, event, args):
    groups_of(session.runtime).leave_all(session.ltag)


@module.action("groups.get", split="=")
def _get(session, event, args):
    array = _name(args[0])
    for i, ltag in enumerate(groups_of(session.runtime).get(session.resolve(args[1], event))):
        session.vars[f"{array}[{i}]"] = ltag


@module.action("groups.getSize", split="=")
def _get_size(session, event, args):
    size = len(groups_of(session.runtime).members.get(session.resolve(args[1], event), ()))
    session.vars[_name(args[0])] = str(size)


@module.action("groups.postEvent", split=",", optional=True)
def _post_event(session, event, args):
    group = session.resolve(args[0], event)
    spec = session.resolve(args[1], event)
    variables = session.vars
    if not spec:
        params: dict[str, str] = {}
    elif spec == "var":
        params = dict(variables)
    else:
        params = {name: variables.setdefault(name, "") for name in spec.split(";") if name}
    posted = False
    sessions = session.runtime.sessions
    for ltag in groups_of(session.runtime).get(group):
        if ltag == session.ltag:
            continue  # not to ourselves
        if sessions.post_event(ltag, Event(ev.EVENT, dict(params))):
            posted = True
        else:
            session.log.debug("could not post to call '{ltag}'", ltag=ltag)
    if posted:
        session.clear_errno()
    else:
        session.set_errno("arg", "event could not be posted\n")
