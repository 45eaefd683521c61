"""Simulated kills: the port wrappers stop an invocation at the named point, as a killed
process would, and the next invocation goes on from what the fakes hold."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.clock import FakeClock
from shared.effects import CreateDeployment
from shared.fakes.clocked_endpoints import ClockedEndpoints
from shared.fakes.events import RecordingPublisher
from shared.fakes.store import InMemoryRolloutStore
from shared.model import ModelRef
from shared.ports import Slot, SlotWrite
from shared.simulation.crash import (
    Crasher,
    CrashingEndpoints,
    CrashingEvents,
    CrashingStore,
    SimulatedKill,
)


def test_a_kill_is_not_an_exception_the_engine_would_catch() -> None:
    assert not issubclass(SimulatedKill, Exception)


def test_before_write_kills_before_anything_is_stored() -> None:
    crasher, store = Crasher(), InMemoryRolloutStore()
    wrapped = CrashingStore(store, crasher)
    crasher.arm("before_write")
    with pytest.raises(SimulatedKill):
        wrapped.write(Slot("fraud"), SlotWrite(active=None, waiting=None, event_id="e1"))
    assert store.transactions == 0


def test_after_write_kills_once_the_write_is_stored() -> None:
    crasher, store = Crasher(), InMemoryRolloutStore()
    wrapped = CrashingStore(store, crasher)
    crasher.arm("after_write")
    with pytest.raises(SimulatedKill):
        wrapped.write(Slot("fraud"), SlotWrite(active=None, waiting=None, event_id="e1"))
    assert store.transactions == 1 and store.event_seen("fraud", "e1")


def test_after_the_kill_every_port_call_of_the_invocation_fails_until_the_next_one() -> None:
    crasher, store = Crasher(), InMemoryRolloutStore()
    wrapped = CrashingStore(store, crasher)
    crasher.arm("after_write")
    with pytest.raises(SimulatedKill):
        wrapped.write(Slot("fraud"), SlotWrite(active=None, waiting=None, event_id="e1"))
    with pytest.raises(SimulatedKill):
        wrapped.read("fraud")
    crasher.begin()
    assert wrapped.read("fraud").etag is not None
    assert not crasher.armed


def test_after_effect_n_lets_n_effects_out_and_stops_the_rest() -> None:
    clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC))
    eps = ClockedEndpoints(clock, provisioning_s=0)
    eps.add_endpoint("fraud", {"blue": "azureml:fraud:1"}, {"blue": 100})
    crasher, publisher = Crasher(), RecordingPublisher()
    endpoints, events = CrashingEndpoints(eps, crasher), CrashingEvents(publisher, crasher)
    crasher.arm("after_effect", 2)
    endpoints.create_deployment(
        "fraud", CreateDeployment("fraud-v2", "blue", ModelRef("fraud", "2"))
    )
    with pytest.raises(SimulatedKill):
        events.publish("Started", "subject", {})
    with pytest.raises(SimulatedKill):
        endpoints.set_traffic("fraud", {"blue": 90, "fraud-v2": 10}, {})
    assert publisher.types() == ["Started"]
    assert eps.snapshot("fraud").traffic["blue"] == 100
    assert crasher.fired == ["after_effect 2"]
