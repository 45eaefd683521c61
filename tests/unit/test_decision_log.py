"""One structured log record per decision: flat fields, escaped untrusted text, and (through
the OpenTelemetry handler and the Azure Monitor exporter the Functions worker configures) each
field a custom dimension in Application Insights."""

from __future__ import annotations

import logging

import pytest

from shared.decisionlog import decision_fields
from shared.ports import RolloutQuery
from tests.engine_support import make_world


def _decisions(model: str = "fraud") -> tuple[list[object], object]:
    w = make_world()
    w.engine.on_model_registered(w.model(model))
    w.tick(70)
    r = w.store.list_rollouts(RolloutQuery(endpoint="fraud"))[0]
    return list(w.store.decisions("fraud", r.id)), r


def test_every_committed_decision_is_logged_once_with_its_fields(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="autocanary.decisions")
    w = make_world()
    w.engine.on_model_registered(w.model())
    w.tick(70)
    r = w.store.list_rollouts(RolloutQuery(endpoint="fraud"))[0]
    stored = w.store.decisions("fraud", r.id)
    records = [rec for rec in caplog.records if rec.name == "autocanary.decisions"]
    assert [rec.seq for rec in records] == [d.seq for d in stored]  # type: ignore[attr-defined]
    first = records[0]
    assert first.rollout_id == r.id and first.endpoint == "fraud"  # type: ignore[attr-defined]
    assert first.phase_from == stored[0].phase_from.value  # type: ignore[attr-defined]
    assert first.reason == stored[0].reason  # type: ignore[attr-defined]


def test_fields_are_flat_values_and_never_clash_with_log_record_attributes() -> None:
    decisions, r = _decisions()
    for d in decisions:
        fields = decision_fields(d, r)  # type: ignore[arg-type]
        assert all(isinstance(v, str | int | float | bool) for v in fields.values())
        assert "message" not in fields and "decision_message" in fields
        logging.getLogger("test").info("x", extra=fields)  # no KeyError on reserved names


def test_model_names_with_newlines_and_nuls_are_escaped() -> None:
    decisions, r = _decisions()
    evil = r.evolve(model=type(r.model)("fraud\nFAKE LINE\x00", "7"))  # type: ignore[attr-defined]
    fields = decision_fields(decisions[0], evil)  # type: ignore[arg-type]
    assert fields["model"] == "fraud\\x0aFAKE LINE\\x00"
    assert all("\n" not in str(v) and "\x00" not in str(v) for v in fields.values())


def test_application_insights_keeps_each_field_as_a_custom_dimension() -> None:
    from azure.monitor.opentelemetry.exporter.export.logs._exporter import (
        _convert_log_to_envelope,
    )
    from opentelemetry.instrumentation.logging.handler import LoggingHandler
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

    exported = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exported))
    handler = LoggingHandler(logger_provider=provider)
    logger = logging.getLogger("autocanary.decisions")
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.INFO)
    try:
        w = make_world()
        w.engine.on_model_registered(w.model())
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)
    (first, *_) = exported.get_finished_logs()
    envelope = _convert_log_to_envelope(first)
    props = envelope.data.base_data.properties  # customDimensions
    assert props["rollout_id"] and props["endpoint"] == "fraud" and props["model"] == "fraud"
    assert props["reason"] == "Admitted" and props["event"] == "decision"
    assert props["seq"] == "1"
