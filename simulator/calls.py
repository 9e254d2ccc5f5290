"""Scripted calls: a call to an extension that rings, is answered, missed,
busy or fails, emitting the PBX's call events and writing its CDR record.

Parameter names: `uniqueid`, `caller_num`, `called_num` and `reason` are the
names of the manual's one example (pbx.queue.unservedcall); `extension`,
`caller_name`, `duration` and `account` are this simulator's choice.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
import re
from typing import Any

from aiohttp import web

from .state import CdrRecord, PbxState

OUTCOMES = ("answered", "missed", "busy", "failed")
# CDR status codes (1 failed, 2 busy, 4 no answer, 8 answered).
CDR_STATUS = {"answered": 8, "missed": 4, "busy": 2, "failed": 1}
OUTSIDE_NUMBER = re.compile(r"^\+?[0-9]{1,20}$")
MAX_PHASE_S = 3600.0
CALL_TASKS: web.AppKey[set[asyncio.Task[None]]] = web.AppKey("call_tasks")


@dataclass(slots=True)
class ScriptedCall:
    uniqueid: str
    caller_num: str
    caller_name: str
    extension: str
    called_num: str  # what was dialled: the extension, or the DID of an outside call
    outcome: str
    ring_time: float
    talk_time: float
    account: str  # trunk of an outside call, "" for an internal one
    start: datetime  # PBX local time
    stage: str = "ringing"

    @property
    def outside(self) -> bool:
        return bool(self.account)

    def as_dict(self) -> dict[str, Any]:
        return {
            "uniqueid": self.uniqueid,
            "from": self.caller_num,
            "caller_name": self.caller_name,
            "to": self.extension,
            "called_num": self.called_num,
            "outcome": self.outcome,
            "ring_time": self.ring_time,
            "talk_time": self.talk_time,
            "account": self.account,
            "stage": self.stage,
            "start": self.start.isoformat(timespec="seconds"),
        }


def _phase(value: float, what: str) -> float:
    if not 0 <= value <= MAX_PHASE_S:
        raise ValueError(f"{what} must be between 0 and {MAX_PHASE_S:g} seconds")
    return float(value)


def start_call(
    state: PbxState,
    caller: str,
    to: str,
    outcome: str,
    *,
    ring_time: float = 2.0,
    talk_time: float = 5.0,
    caller_name: str | None = None,
    did: str | None = None,
) -> ScriptedCall:
    """Validate the call and emit its first events; `play_call` does the rest.

    Raises KeyError for an unknown extension `to`, ValueError for bad input.
    """
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}")
    ring_time = _phase(ring_time, "ring_time")
    talk_time = _phase(talk_time, "talk_time")
    callee = state.extensions.get(to)
    if callee is None:
        raise KeyError(to)
    if caller == to:
        raise ValueError("an extension cannot call itself")
    internal = state.extensions.get(caller)
    if internal is None and not OUTSIDE_NUMBER.match(caller):
        raise ValueError(
            "'from' must be an extension or an outside number (digits, optional +)"
        )
    if did is not None and (internal is not None or not OUTSIDE_NUMBER.match(did)):
        raise ValueError("'did' is for outside callers, and must be digits")
    if caller_name is None:
        caller_name = internal.display_name if internal is not None else ""
    account = ""
    if internal is None:
        gateway = next(iter(state.gateways.values()), None)
        account = gateway.name if gateway is not None else "Trunk"
    call = ScriptedCall(
        uniqueid=state.next_unique_id(),
        caller_num=caller,
        caller_name=caller_name,
        extension=to,
        called_num=did or to,
        outcome=outcome,
        ring_time=ring_time,
        talk_time=talk_time,
        account=account,
        start=state.local_now(),
    )
    state.active_calls[call.uniqueid] = call
    ids = {"uniqueid": call.uniqueid}
    if call.outside:
        state.emit_event(
            "pbx.account.incomingcall",
            {
                **ids,
                "account": call.account,
                "caller_num": call.caller_num,
                "called_num": call.called_num,
            },
            description=f"Incoming call on account {call.account}",
        )
    state.emit_event(
        "pbx.call.start",
        {
            **ids,
            "caller_num": call.caller_num,
            "caller_name": call.caller_name,
            "called_num": call.called_num,
        },
        description=f"Call from {call.caller_num} to {call.called_num}",
    )
    state.emit_event(
        "pbx.extension.incomingcall",
        {
            **ids,
            "extension": to,
            "caller_num": call.caller_num,
            "caller_name": call.caller_name,
            "called_num": call.called_num,
        },
        description=f"Extension {to} is ringing",
    )
    return call


async def play_call(state: PbxState, call: ScriptedCall) -> None:
    """Ring, then answer/miss/refuse, end the call and write its CDR record."""
    ids = {"uniqueid": call.uniqueid, "extension": call.extension}
    numbers = {"caller_num": call.caller_num, "called_num": call.called_num}
    answer: datetime | None = None
    try:
        if call.outcome in ("busy", "failed"):
            end = call.start
            reason = call.outcome.upper()
            state.emit_event(
                "pbx.extension.failedcall",
                {**ids, **numbers, "reason": reason},
                description=f"Call to extension {call.extension} failed: {reason}",
                severity="WARNING",
            )
        else:
            await asyncio.sleep(call.ring_time)
            answer = call.start + timedelta(seconds=call.ring_time)
            end = answer
            if call.outcome == "answered":
                call.stage = "talking"
                state.emit_event(
                    "pbx.extension.answercall",
                    {**ids, **numbers},
                    description=f"Extension {call.extension} answered",
                )
                await asyncio.sleep(call.talk_time)
                end = answer + timedelta(seconds=call.talk_time)
            else:
                answer = None
                if call.extension not in state.no_missed_call_event:
                    state.emit_event(
                        "pbx.extension.missedcall",
                        {**ids, **numbers, "caller_name": call.caller_name},
                        description=f"Extension {call.extension} missed a call",
                    )
        record = _write_cdr(state, call, answer, end)
        state.emit_event(
            "pbx.call.end",
            {
                "uniqueid": call.uniqueid,
                **numbers,
                "duration": str(record.duration),
            },
            description=f"Call from {call.caller_num} to {call.called_num} ended",
        )
        if call.outcome == "missed":
            _leave_voicemail(state, call.extension)
    finally:
        state.active_calls.pop(call.uniqueid, None)


def _write_cdr(
    state: PbxState, call: ScriptedCall, answer: datetime | None, end: datetime
) -> CdrRecord:
    callee = state.extensions.get(call.extension)
    gateway = next(iter(state.gateways.values()), None) if call.outside else None
    return state.add_cdr(
        unique_id=call.uniqueid,
        direction=1 if call.outside else 4,
        caller_num=call.caller_num,
        caller_name=call.caller_name,
        called_num=call.called_num,
        called_name=callee.display_name if callee is not None else "",
        status=CDR_STATUS[call.outcome],
        start=call.start,
        answer=answer,
        end=end,
        gateway_id=str(gateway.id) if gateway is not None else "",
        gateway_name=gateway.name if gateway is not None else "",
        answered_by=call.extension if answer is not None else "",
    )


def _leave_voicemail(state: PbxState, exten: str) -> None:
    ext = state.extensions.get(exten)
    if ext is None or not ext.vm_enabled:
        return
    counts = state.voicemails.get(exten)
    state.set_voicemail(exten, new=(counts.new if counts else 0) + 1)


def launch(app: web.Application, state: PbxState, call: ScriptedCall) -> None:
    """Play the call in a task the app cancels when it shuts down."""
    tasks = app[CALL_TASKS]
    task = asyncio.create_task(play_call(state, call), name=f"call {call.uniqueid}")
    tasks.add(task)
    task.add_done_callback(tasks.discard)


async def cancel_calls(app: web.Application) -> None:
    running: set[asyncio.Task[None]] = app[CALL_TASKS]
    tasks = list(running)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
