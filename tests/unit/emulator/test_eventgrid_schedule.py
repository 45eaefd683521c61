"""Event Grid's retry schedule and ModelRegistered data shapes (pure)."""

from __future__ import annotations

import pytest

from emulator.eventgrid import retry_delay
from emulator.eventgrid_subscriptions import model_registered_data, parse_subscription


def test_retry_delays_follow_the_documented_schedule_then_every_12_hours() -> None:
    """10 s, 30 s, 1 min, 5 min, 10 min, 30 min, 1 h, 3 h, 6 h, then 12 h (delivery-and-retry)."""
    minutes = [retry_delay(n) / 60 for n in range(1, 13)]
    assert minutes == [1 / 6, 0.5, 1, 5, 10, 30, 60, 180, 360, 720, 720, 720]


def test_camel_case_data_is_the_default_with_a_string_version() -> None:
    """The spec's schema keys; versions stay strings unless numbers are asked for."""
    assert model_registered_data("m", "3", {"a": "b"}, {}) == {
        "modelName": "m",
        "modelVersion": "3",
        "modelTags": {"a": "b"},
        "modelProperties": {},
    }


def test_numeric_version_keeps_a_non_numeric_version_a_string() -> None:
    """numeric_version turns '3' into 3 but leaves 'v3' alone."""
    assert model_registered_data("m", "3", {}, {}, numeric_version=True)["modelVersion"] == 3
    assert model_registered_data("m", "v3", {}, {}, numeric_version=True)["modelVersion"] == "v3"


def test_unknown_casing_is_refused() -> None:
    """Only camel and pascal exist."""
    with pytest.raises(ValueError):
        model_registered_data("m", "1", {}, {}, casing="snake")


@pytest.mark.parametrize(
    "dead_letter",
    [
        {"endpointType": "StorageQueue", "properties": {"blobContainerName": "x"}},
        {"endpointType": "StorageBlob", "properties": {"blobContainerName": "../x"}},
        {"endpointType": "StorageBlob"},
    ],
)
def test_invalid_dead_letter_destination_is_refused(dead_letter: dict[str, object]) -> None:
    """Only a StorageBlob destination with a plain container name is accepted."""
    with pytest.raises(ValueError):
        parse_subscription(
            {
                "name": "s",
                "endpointUrl": "http://127.0.0.1:9/h",
                "deadLetterDestination": dead_letter,
            }
        )
