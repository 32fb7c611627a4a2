"""Fuzz: any frame from the CSMS is either answered (CallResult or CallError with its id),
or dropped when it has no usable id; the controller never raises on CSMS input."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings, strategies as st

from tests.controller.harness import Rig

ACTIONS_16 = ["RemoteStartTransaction", "RemoteStopTransaction", "Reset", "ChangeAvailability",
              "UnlockConnector", "TriggerMessage", "GetConfiguration", "ChangeConfiguration",
              "SendLocalList", "GetLocalListVersion", "ClearCache", "SetChargingProfile",
              "ClearChargingProfile", "GetCompositeSchedule", "DataTransfer", "Bogus"]

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10**6) | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=20), children, max_size=4),
    max_leaves=15)

PAYLOAD = st.dictionaries(
    st.sampled_from(["connectorId", "idTag", "type", "key", "value", "transactionId",
                     "listVersion", "updateType", "requestedMessage", "duration",
                     "csChargingProfiles", "vendorId", "chargingProfilePurpose", "x"]),
    JSON, max_size=5)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(ACTIONS_16), PAYLOAD)
def test_any_16_call_is_answered_with_its_id(action: str, payload: dict[str, Any]) -> None:
    rig = Rig("1.6")
    rig.ctrl.receive_text(json.dumps([2, "fz-1", action, payload]), rig.link.now_ns)
    replies = [json.loads(t) for t in rig.ctrl.data_to_send()]
    answers = [r for r in replies if r[0] in (3, 4)]
    assert len(answers) == 1 and answers[0][1] == "fz-1"


@settings(max_examples=200, deadline=None)
@given(JSON)
def test_any_json_frame_never_raises(frame: Any) -> None:
    rig = Rig("1.6")
    rig.ctrl.receive_text(json.dumps(frame), rig.link.now_ns)
    for text in rig.ctrl.data_to_send():
        reply = json.loads(text)
        assert reply[0] in (2, 3, 4)
