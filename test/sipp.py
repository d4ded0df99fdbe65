"""The one builder of sipp scenarios the tests run.

A :class:`Scenario` is a list of sipp steps (send, recv, pause, label, ...)
written as XML on demand; :class:`Uac` and :class:`Uas` add the SIP messages
a caller or a callee sends, so a test says *what* its far end does ("offer
PCMU, expect 183 with SDP, then 200, hang up") and never repeats the
message text.  The scenarios the SIP and DSM tests share are the functions at
the bottom; :func:`named` maps their historical file names
(``uac_expect_404.xml`` ...) to them so ``sipp_uac(test, "uac_answer_bye.xml",
...)`` keeps working.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Self
from xml.sax.saxutils import escape

RTPMAP = {
    0: "PCMU/8000",
    8: "PCMA/8000",
    18: "G729/8000",
    101: "telephone-event/8000",
}


def sdp(
    port: int | str = "[media_port]",
    pts: Sequence[int] = (0, 101),
    direction: str | None = None,
    origin: str = "user1",
    version: int = 2353687637,
    fmtp: bool = False,
) -> str:
    """An audio offer/answer on *port* with payload types *pts* (sipp keywords for the IP)."""
    lines = [
        "v=0",
        f"o={origin} 53655765 {version} IN IP[local_ip_type] [local_ip]",
        "s=-",
        "c=IN IP[media_ip_type] [media_ip]",
        "t=0 0",
        f"m=audio {port} RTP/AVP {' '.join(str(p) for p in pts)}",
    ]
    for pt in pts:
        lines.append(f"a=rtpmap:{pt} {RTPMAP[pt]}")
        if pt == 101 and fmtp:
            lines.append("a=fmtp:101 0-15")
    if direction:
        lines.append(f"a={direction}")
    return "\n".join(lines) + "\n"


def _attrs(**attrs: object) -> str:
    out = []
    for key, value in attrs.items():
        if value is None or value is False:
            continue
        text = "true" if value is True else str(value)
        out.append(f' {key}="{escape(text, {chr(34): "&quot;"})}"')
    return "".join(out)


def _message(lines: Iterable[str | None], body: str | None = None) -> str:
    text = "\n".join(f"      {line}" for line in lines if line is not None)
    if body is not None:
        text += "\n\n" + "\n".join(f"      {b}" for b in body.rstrip("\n").split("\n"))
    return text + "\n\n"


@dataclass
class Check:
    """An ``ereg`` a received message must match (else sipp fails the call)."""

    regexp: str
    search_in: str = "msg"
    header: str | None = None
    assign_to: str | None = None  # a name to jump on (``test=``); else one is made up
    required: bool = True  # False: only sets the variable when it matches


@dataclass
class Scenario:
    """A sipp scenario: steps in order, written out by :meth:`write`."""

    name: str
    steps: list[str] = field(default_factory=list)
    _vars: int = 0

    # -- generic steps ---------------------------------------------------------
    def send(self, message: str, **attrs: object) -> Self:
        self.steps.append(
            f"  <send{_attrs(**attrs)}>\n    <![CDATA[\n{message}    ]]>\n  </send>\n"
        )
        return self

    def recv(self, checks: Sequence[Check] = (), **attrs: object) -> Self:
        if not checks:
            self.steps.append(f"  <recv{_attrs(**attrs)}/>\n")
            return self
        actions, names = [], []
        for check in checks:
            self._vars += 1
            name = check.assign_to or f"v{self._vars}"
            names.append(name)
            actions.append(
                "      <ereg"
                + _attrs(
                    regexp=check.regexp,
                    search_in=check.search_in,
                    header=check.header,
                    check_it=check.required,
                    assign_to=name,
                )
                + "/>\n"
            )
        self.steps.append(
            f"  <recv{_attrs(**attrs)}>\n    <action>\n{''.join(actions)}    </action>\n  </recv>\n"
            f'  <Reference variables="{",".join(names)}"/>\n'
        )
        return self

    def pause(self, ms: int | None = None) -> Self:
        """Wait *ms*, or sipp's ``-d`` when None."""
        self.steps.append(f"  <pause{_attrs(milliseconds=ms)}/>\n")
        return self

    def play_pcap(self, path: str) -> Self:
        """sipp plays the RTP of the pcap at *path* to the far end."""
        self.steps.append(f"  <nop><action><exec{_attrs(play_pcap_audio=path)}/></action></nop>\n")
        return self

    def save_var(self, var: str, path: str) -> Self:
        """Write sipp variable *var* (an ``ereg`` group, say) to the file *path* for the test."""
        command = f"echo [${var}] | tee {path}"  # sipp does not unescape a "&gt;"
        self.steps.append(f"  <nop><action><exec{_attrs(command=command)}/></action></nop>\n")
        return self

    def raw(self, xml: str) -> Self:
        self.steps.append(xml)
        return self

    def label(self, name: str) -> Self:
        return self.raw(f'  <label id="{name}"/>\n')

    def jump(self, to: str, test: str | None = None) -> Self:
        """Go to label *to* (only when variable *test* is set, if given)."""
        return self.raw(f"  <nop{_attrs(hide=True, test=test, next=to)}/>\n")

    # -- output ----------------------------------------------------------------
    def xml(self) -> str:
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<!DOCTYPE scenario SYSTEM "sipp.dtd">\n'
            f"<scenario{_attrs(name=self.name)}>\n" + "".join(self.steps) + "</scenario>\n"
        )

    def write(self, path: str) -> str:
        with open(path, "w") as f:
            f.write(self.xml())
        return path


class Uac(Scenario):
    """A caller: INVITE to ``[service]``, then what the test adds."""

    def __init__(
        self,
        name: str,
        user: str = "sipp",
        display: str = "sipp",
        to_display: str = "[service] ",
        contact_params: str = "",
        angle_contact: bool = False,
    ) -> None:
        super().__init__(name)
        self.from_hdr = (
            f"{display} <sip:{user}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]"
        )
        self.to_hdr = f"{to_display}<sip:[service]@[remote_ip]:[remote_port]>"
        contact = f"sip:{user}@[local_ip]:[local_port]{contact_params}"
        self.contact = f"<{contact}>" if angle_contact else contact
        self.cseq = 0

    def request(
        self,
        method: str,
        headers: Sequence[str] = (),
        body: str | None = None,
        content_type: str = "application/sdp",
        in_dialog: bool = True,
        txn: str | None = None,
        contact: bool = True,
        retrans: bool = True,
        cseq: int | None = None,
    ) -> Self:
        """Send *method* (its own transaction, a fresh CSeq unless given)."""
        if cseq is None:
            self.cseq += 1
            cseq = self.cseq
        lines = [
            f"{method} sip:[service]@[remote_ip]:[remote_port] SIP/2.0",
            "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]",
            f"From: {self.from_hdr}",
            f"To: {self.to_hdr}" + ("[peer_tag_param]" if in_dialog else ""),
            "Call-ID: [call_id]",
            f"CSeq: {cseq} {method}",
            f"Contact: {self.contact}" if contact else None,
            "Max-Forwards: 70",
            *headers,
        ]
        if body is None:
            lines.append("Content-Length: 0")
        else:
            lines += [f"Content-Type: {content_type}", "Content-Length: [len]"]
        self.send(_message(lines, body), retrans=500 if retrans else None, start_txn=txn)
        return self

    def invite(self, offer: str | None = None, headers: Sequence[str] = ("X-App: test",)) -> Self:
        """The initial INVITE, offering *offer* (default: PCMU + telephone-event)."""
        return self.request(
            "INVITE", headers=list(headers), body=offer or sdp(), in_dialog=False
        ).recv(response=100, optional=True)

    def provisional(self, *codes: int) -> Self:
        for code in codes:
            self.recv(response=code, optional=True)
        return self

    def answered(self, checks: Sequence[Check] = (), rrs: bool = False) -> Self:
        """Expect 200 (after any 180/183), ACK it."""
        self.provisional(180, 183)
        self.recv(checks, response=200, rtd=True, rrs=rrs)
        return self.ack()

    def ack(self, txn: str | None = None, cseq: int | None = None) -> Self:
        """ACK a 2xx: a new transaction in the dialog."""
        number = self.cseq if cseq is None else cseq
        lines = [
            "ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0",
            "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]",
            f"From: {self.from_hdr}",
            f"To: {self.to_hdr}[peer_tag_param]",
            "Call-ID: [call_id]",
            f"CSeq: {number} ACK",
            f"Contact: {self.contact}",
            "Max-Forwards: 70",
            "Content-Length: 0",
        ]
        return self.send(_message(lines), ack_txn=txn)

    def ack_failure(self) -> Self:
        """ACK a final failure: part of the INVITE transaction (its Via)."""
        lines = [
            "ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0",
            "[last_Via:]",
            f"From: {self.from_hdr}",
            f"To: {self.to_hdr}[peer_tag_param]",
            "Call-ID: [call_id]",
            "CSeq: 1 ACK",
            "Max-Forwards: 70",
            "Content-Length: 0",
        ]
        return self.send(_message(lines))

    def rejected(self, code: int) -> Self:
        """Expect the final failure *code*, ACK it."""
        self.recv(response=code)
        return self.ack_failure()

    def cancel(self, headers: Sequence[str] = ()) -> Self:
        """CANCEL the INVITE; expect 200 to it, then 487 to the INVITE (ACKed)."""
        lines = [
            "CANCEL sip:[service]@[remote_ip]:[remote_port] SIP/2.0",
            "[last_Via:]",
            f"From: {self.from_hdr}",
            f"To: {self.to_hdr}",
            "Call-ID: [call_id]",
            "CSeq: 1 CANCEL",
            "Max-Forwards: 70",
            *headers,
            "Content-Length: 0",
        ]
        self.send(_message(lines), start_txn="cancel")
        self.recv(response=200, response_txn="cancel")
        return self.rejected(487)

    def reinvite(
        self, offer: str, headers: Sequence[str] = (), checks: Sequence[Check] = ()
    ) -> Self:
        """A re-INVITE offering *offer*; its 200 must match *checks*; ACKed."""
        txn = f"reinvite{self.cseq + 1}"
        self.request("INVITE", headers=headers, body=offer, txn=txn)
        self.recv(response=100, optional=True)
        self.recv(checks, response=200, response_txn=txn)
        return self.ack(txn=txn)

    def info(
        self,
        content_type: str,
        body: str,
        headers: Sequence[str] = (),
        checks: Sequence[Check] = (),
        contact: bool = True,
    ) -> Self:
        """An INFO in the dialog; its 200 must match *checks*."""
        self.request(
            "INFO",
            headers=headers,
            body=body,
            content_type=content_type,
            txn="info",
            contact=contact,
        )
        return self.recv(checks, response=200, response_txn="info")

    def answer_reinvite(self, checks: Sequence[Check] = (), answer: str | None = None) -> Self:
        """The far end re-INVITEs (its offer must match *checks*): 200 with *answer*, ACK."""
        self.recv(checks, request="INVITE", timeout=15000)
        hdrs = [f"Contact: {self.contact}"]
        self.send(_message(reply_lines(200, "OK", headers=hdrs, body=True), answer or sdp()))
        return self.recv(request="ACK", timeout=5000)

    def bye(self, headers: Sequence[str] = ("X-Bye-Reason: done",)) -> Self:
        """The caller hangs up; expect 200."""
        self.request("BYE", headers=headers, txn="bye")
        return self.recv(response=200, crlf=True, response_txn="bye")

    def answer_request(
        self,
        method: str,
        code: int = 200,
        reason: str = "OK",
        headers: Sequence[str] = (),
        timeout_ms: int | None = None,
    ) -> Self:
        """Wait for the far end's *method* and answer it *code*."""
        self.recv(request=method, timeout=timeout_ms)
        return self.send(_message(reply_lines(code, reason, headers=headers)))

    def wait_bye(self, timeout_ms: int = 10000, headers: Sequence[str] = ()) -> Self:
        """The far end hangs up: wait for its BYE, answer 200."""
        return self.answer_request("BYE", timeout_ms=timeout_ms, headers=headers)


def reply_lines(
    code: int,
    reason: str,
    to_tag: bool = False,
    headers: Sequence[str] = (),
    body: bool = False,
    cseq: str = "[last_CSeq:]",
) -> list[str]:
    """The lines of a reply to the last request received."""
    return [
        f"SIP/2.0 {code} {reason}",
        "[last_Via:]",
        "[last_From:]",
        "[last_To:]" + (";tag=[pid]SIPpTag01[call_number]" if to_tag else ""),
        "[last_Call-ID:]",
        cseq,
        *headers,
        "Content-Type: application/sdp" if body else None,  # type: ignore[list-item]
        "Content-Length: [len]" if body else "Content-Length: 0",
    ]


class Uas(Scenario):
    """A callee: answers what donkey sends it."""

    def __init__(self, name: str, contact: str = "<sip:callee@[local_ip]:[local_port]>") -> None:
        super().__init__(name)
        self.contact = contact

    def reply(
        self,
        code: int,
        reason: str,
        answer: str | None = None,
        headers: Sequence[str] = (),
        to_tag: bool = True,
        contact: bool = True,
        retrans: bool = False,
        cseq: str = "[last_CSeq:]",
        **attrs: object,
    ) -> Self:
        hdrs = ([f"Contact: {self.contact}"] if contact else []) + list(headers)
        lines = reply_lines(code, reason, to_tag, hdrs, answer is not None, cseq)
        self.send(_message(lines, answer), retrans=500 if retrans else None, **attrs)
        return self

    def answer_reinvite(self, checks: Sequence[Check] = (), answer: str | None = None) -> Self:
        """donkey re-INVITEs (its offer must match *checks*): 200 with *answer*, ACK."""
        self.recv(checks, request="INVITE", timeout=15000)
        self.reply(200, "OK", answer=answer or sdp(), to_tag=False)
        return self.recv(request="ACK", timeout=5000)

    def invited(self, checks: Sequence[Check] = ()) -> Self:
        """The initial INVITE (matching *checks*); its Contact is where in-dialog requests go."""
        return self.recv(
            checks,
            request="INVITE",
            rrs=True,
            timeout=15000,
        )

    def acked(self) -> Self:
        """The ACK of our 200."""
        return self.recv(request="ACK")

    def challenged(
        self,
        user: str,
        password: str,
        challenge: int = 401,
        checks: Sequence[Check] = (),
    ) -> Self:
        """Challenge the INVITE (401/407); the retried one must carry *user*'s digest.

        A wrong digest gets 403 and a jump to :data:`AUTH_FAILED`, which the
        scenario must end with (the INVITE is then not answered).  The
        retried INVITE must match *checks*; its Contact is kept as
        :meth:`invited` does.
        """
        header = "WWW-Authenticate" if challenge == 401 else "Proxy-Authenticate"
        reason = "Unauthorized" if challenge == 401 else "Proxy Authentication Required"
        self.recv(request="INVITE", timeout=15000)
        nonce = 'nonce="[pid]n[call_number]"'
        self.reply(
            challenge,
            reason,
            headers=[f'{header}: Digest realm="sipp.test", {nonce}, algorithm=MD5'],
            contact=False,
        )
        self.recv(request="ACK")
        actions = "".join(
            "      <ereg"
            + _attrs(regexp=c.regexp, search_in=c.search_in, header=c.header, check_it=True)
            + f' assign_to="authcheck{i}"/>\n'
            for i, c in enumerate(checks)
        )
        refs = ",".join(f"authcheck{i}" for i in range(len(checks)))
        self.raw(
            '  <recv request="INVITE" rrs="true" timeout="15000">\n    <action>\n'
            f'      <verifyauth assign_to="authvalid"{_attrs(username=user, password=password)}/>\n'
            f"{actions}    </action>\n  </recv>\n"
            + (f'  <Reference variables="{refs}"/>\n' if refs else "")
        )
        self.jump("auth_good", test="authvalid")
        self.reply(403, "Forbidden", contact=False, next=AUTH_FAILED)
        return self.label("auth_good")

    def bye(self, headers: Sequence[str] = (), cseq: int = 1) -> Self:
        """The callee hangs up: BYE to the Contact of the INVITE (``invited`` kept its route).

        The last request received must be donkey's (its From and To are
        swapped), and *cseq* only has to be above the callee's own earlier ones.
        """
        lines = [
            "BYE [next_url] SIP/2.0",
            "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]",
            "[routes]",
            "From: [last_To:]",
            "To: [last_From:]",
            "Call-ID: [call_id]",
            f"CSeq: {cseq} BYE",
            f"Contact: {self.contact}",
            "Max-Forwards: 70",
            *headers,
            "Content-Length: 0",
        ]
        self.send(_message(lines), start_txn="bye", retrans=500)
        return self.recv(response=200, response_txn="bye")


# ------------------------------------------------------- the shared scenarios
CONTACT_UDP = ";transport=UDP"  # the callers' Contact carries transport=UDP on purpose


def uac_answer_bye() -> Scenario:
    """Caller: INVITE, 200, ACK, talk 200 ms, BYE (with X-Bye-Reason)."""
    uac = Uac("uac answer then BYE", contact_params=CONTACT_UDP)
    uac.invite().answered().pause(200)
    return uac.bye()


def uac_cancel() -> Scenario:
    """Caller: INVITE, 180, CANCEL (with a Reason); 200 to the CANCEL, 487."""
    uac = Uac("uac cancel", contact_params=CONTACT_UDP)
    uac.invite().recv(response=180)
    uac.pause(100)
    return uac.cancel(headers=['Reason: SIP;cause=200;text="Call completed elsewhere"'])


def uac_early_media() -> Scenario:
    """Caller: 183 with SDP (PCMU + telephone-event), then 200; ACK, BYE."""
    uac = Uac("uac early media", contact_params=CONTACT_UDP)
    uac.invite().recv([Check("m=audio [0-9]+ RTP/AVP 0 101", "body")], response=183)
    uac.recv(response=200)
    uac.ack().pause(100)
    return uac.bye()


def uac_expect(code: int) -> Scenario:
    """Caller: the INVITE is refused with *code* (ACKed)."""
    uac = Uac(f"uac expects {code}", contact_params=CONTACT_UDP)
    return uac.invite().rejected(code)


def uac_hold_call() -> Scenario:
    """Caller "bee" <sip:5@...>: answered, stays for sipp's ``-d`` ms, BYE."""
    uac = Uac("uac hold call", user="5", display='"bee"', to_display="")
    uac.invite(headers=()).answered().pause()
    return uac.bye(headers=())


def uac_hold_resume() -> Scenario:
    """Caller: call, hold (sendonly -> recvonly), resume (sendrecv), INFO DTMF 5, BYE."""
    uac = Uac("uac hold and resume", contact_params=CONTACT_UDP)
    uac.invite().recv(response=200)
    uac.ack()
    uac.reinvite(
        sdp(direction="sendonly", version=2353687638), checks=[Check("a=recvonly", "body")]
    )
    uac.reinvite(
        sdp(direction="sendrecv", version=2353687639), checks=[Check("a=sendrecv", "body")]
    )
    uac.info("application/dtmf-relay", "Signal=5\nDuration=160", contact=False)
    return uac.bye()


def uac_info_reply(code: int) -> Scenario:
    """Caller: answered; the server's INFO gets *code*; the server's BYE gets 200."""
    reasons = {408: "Request Timeout", 481: "Call Leg/Transaction Does Not Exist"}
    uac = Uac(f"uac answers the server's INFO with {code}")
    uac.invite(headers=()).answered()
    uac.answer_request("INFO", code, reasons[code], timeout_ms=10000)
    return uac.wait_bye()


def uac_info_request() -> Scenario:
    """Caller: answered; an INFO whose 200 must carry ``X-Donkey: replied-by-script``."""
    uac = Uac("uac INFO answered by the script", contact_params=CONTACT_UDP)
    uac.invite().answered().pause(100)
    uac.info(
        "application/x-donkey",
        "ping",
        headers=["X-Info-Test: hello"],
        checks=[Check("replied-by-script", "hdr", "X-Donkey:")],
    )
    uac.pause(100)
    return uac.bye()


def uac_st_timeout() -> Scenario:
    """Caller refreshes a 3 s session timer once by re-INVITE, then stops: expect BYE."""
    timer = ["Supported: timer", "Session-Expires: 3;refresher=uac"]
    uac = Uac("uac session timer timeout", contact_params=CONTACT_UDP)
    uac.invite(headers=["X-App: test", *timer, "Min-SE: 1"]).recv(response=200)
    uac.ack().pause(1000)
    uac.reinvite(sdp(), headers=timer, checks=[Check("Session-Expires: *3;refresher=uac")])
    return uac.wait_bye(timeout_ms=6000)


def uac_st_uas_refresh() -> Scenario:
    """Caller asks the callee to refresh every 2 s: two UPDATEs answered, then BYE."""
    uac = Uac("uac session timer refreshed by the UAS", contact_params=CONTACT_UDP)
    uac.invite(
        headers=[
            "X-App: test",
            "Supported: timer",
            "Session-Expires: 2;refresher=uas",
            "Min-SE: 1",
            "Allow: INVITE, ACK, BYE, CANCEL, UPDATE, INFO",
        ]
    )
    uac.recv([Check("Session-Expires: *2;refresher=uas")], response=200)
    uac.ack()
    refreshed = [
        "Contact: <sip:sipp@[local_ip]:[local_port]>",
        "Supported: timer",
        "Session-Expires: 2;refresher=uac",
    ]
    uac.answer_request("UPDATE", headers=refreshed)
    uac.answer_request("UPDATE", headers=refreshed)
    return uac.bye()


def uac_wait_bye() -> Scenario:
    """Caller: answered, then waits (10 s at most) for the server's BYE."""
    uac = Uac("uac waits for the server's BYE")
    return uac.invite(headers=()).answered().wait_bye()


def uas_auth(user: str = "alice", password: str = "secret", challenge: int = 401) -> Scenario:
    """Callee: challenges the first INVITE (401/407), answers a correct digest, waits for BYE.

    A wrong digest gets 403.
    """
    uas = Uas("uas digest auth", contact="<sip:[local_ip]:[local_port];transport=UDP>")
    uas.challenged(user, password, challenge)
    uas.reply(200, "OK", answer=sdp(pts=(0,)))
    uas.recv(request="ACK")
    uas.recv(request="BYE")
    uas.reply(200, "OK", to_tag=False, contact=False)
    return uas.label(AUTH_FAILED)


#: the label :meth:`Uas.challenged` jumps to after its 403: the end of the scenario
AUTH_FAILED = "auth_failed"


_NAMED: dict[str, Callable[[], Scenario]] = {
    "uac_answer_bye": uac_answer_bye,
    "uac_cancel": uac_cancel,
    "uac_early_media": uac_early_media,
    "uac_hold_call": uac_hold_call,
    "uac_hold_resume": uac_hold_resume,
    "uac_info_request": uac_info_request,
    "uac_st_timeout": uac_st_timeout,
    "uac_st_uas_refresh": uac_st_uas_refresh,
    "uac_wait_bye": uac_wait_bye,
    "uas_auth": uas_auth,
}


def named(name: str) -> Scenario:
    """The shared scenario called *name* (``uac_expect_503.xml``, ``uas_auth`` ...)."""
    base = os.path.basename(name).removesuffix(".xml")
    if m := re.fullmatch(r"uac_expect_(\d{3})", base):
        return uac_expect(int(m.group(1)))
    if m := re.fullmatch(r"uac_info_reply_(\d{3})", base):
        return uac_info_reply(int(m.group(1)))
    try:
        return _NAMED[base]()
    except KeyError:
        raise KeyError(f"no sipp scenario called {name!r} in test/sipp.py") from None


def scenario_file(scen: str | Scenario, directory: str) -> str:
    """A path sipp can load: *scen* (a Scenario or a shared name) written into *directory*."""
    built = scen if isinstance(scen, Scenario) else named(scen)
    os.makedirs(directory, exist_ok=True)
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", built.name) or "scenario"
    path = os.path.join(directory, base + ".xml")
    n = 1
    while os.path.exists(path):
        n += 1
        path = os.path.join(directory, f"{base}-{n}.xml")
    return built.write(path)
