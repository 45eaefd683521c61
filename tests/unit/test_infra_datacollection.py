"""infra/ for the answer checks: the endpoint key action in the custom role, and, when a data
collection container is given, its URL as an app setting and Storage Blob Data Reader on that
container only."""

from __future__ import annotations

from tests.unit.infra_config import ML, local


def test_custom_role_may_read_the_endpoint_keys() -> None:
    assert f"{ML}/onlineEndpoints/listKeys/action" in local("endpoint_actions")


def test_identity_reads_the_data_collection_container_only_when_it_is_given() -> None:
    optional = local("optional_role_assignments")
    assert 'role = "Storage Blob Data Reader"' in optional
    assert "scope = var.data_collection_container_id" in optional
    assert "var.data_collection_container_id != null" in optional


def test_the_container_url_app_setting_is_built_from_the_container_id() -> None:
    settings = local("optional_app_settings")
    assert "AUTOCANARY_DATA_COLLECTION_CONTAINER_URL" in settings
    assert ".blob.core.windows.net/" in settings
    assert "storageAccounts/(?P<account>" in local("data_collection_parts")
