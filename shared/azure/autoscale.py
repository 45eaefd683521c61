"""AutoscaleControl on Azure Monitor autoscale settings, through azure-mgmt-monitor.

``MonitorManagementClient(credential, subscription_id).autoscale_settings`` (azure-mgmt-monitor
7.0, api-version 2022-10-01: azure-rest-api-specs ``specification/monitor/resource-manager/
Microsoft.Insights/stable/2022-10-01/autoscale_API.json``):

- ``list_by_resource_group(resource_group)``: every setting of the workspace's resource group;
  the ones whose ``target_resource_uri`` is a deployment's ARM id (``{workspace id}/
  onlineEndpoints/{endpoint}/deployments/{deployment}``, how Azure ML online deployments are
  autoscaled: learn.microsoft.com/azure/machine-learning/how-to-autoscale-endpoints) target it.
- ``create_or_update(resource_group, name, AutoscaleSettingResource)`` for a copy: the
  source's profiles (capacity, rules, recurrence, fixed date), notifications, enabled flag,
  tags and predictive policy, named ``{endpoint}-{target}-{digest}-autoscale``
  (``shared.ports.autoscale_copy_name``: one per target, so a copy again is an update; an
  earlier copy already on the target, by its name, is updated under that name), targeting
  the new deployment; a rule on the source deployment's metrics
  (``metric_trigger.metric_resource_uri``) reads the target's, and a rule filtered on the
  endpoint's ``deployment`` dimension names the target.
- ``delete(resource_group, name)``; an absent setting is already deleted.

The app's identity needs ``Microsoft.Insights/autoscalesettings/read``, ``/write`` and
``/delete`` on the resource group (``infra/roles.tf``). Every call goes through
:func:`shared.azure.retry.call`; azure.mgmt.monitor is imported on first use only.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from shared.azure import retry
from shared.errors import NotFound
from shared.ports import AutoscaleSetting
from shared.ports import autoscale_copy_name_on as copy_name_on
from shared.ports import is_autoscale_copy_name as is_copy_name

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from shared.settings import Settings

T = TypeVar("T")
log = logging.getLogger("autocanary.azure")


class MonitorAutoscale:
    """The AutoscaleControl port on the workspace's resource group."""

    def __init__(
        self,
        settings: Settings,
        credential: TokenCredential,
        *,
        retry_policy: retry.RetryPolicy = retry.DEFAULT_RETRY,
        client_factory: Callable[[], Any] | None = None,
    ) -> None:
        self._settings = settings
        self._credential = credential
        self._retry = retry_policy
        self._client = retry.LazyClient(client_factory or self._build_client)

    def deployment_id(self, endpoint: str, deployment: str) -> str:
        return f"{self._settings.workspace_id}/onlineEndpoints/{endpoint}/deployments/{deployment}"

    # ---------------------------------------------------------------- the port
    def settings_for(self, endpoint: str, deployment: str) -> list[AutoscaleSetting]:
        return [_value(s, deployment) for s in self._targeting(endpoint, deployment)]

    def copy_to(self, endpoint: str, source: str, target: str) -> AutoscaleSetting | None:
        from azure.mgmt.monitor.models import AutoscaleSettingResource

        found = self._targeting(endpoint, source)
        if not found:
            return None
        src = found[0]
        source_id, target_id = (
            self.deployment_id(endpoint, source),
            self.deployment_id(endpoint, target),
        )
        profiles = copy.deepcopy(list(src.profiles or []))
        for profile in profiles:
            for rule in profile.rules or []:
                _retarget(rule.metric_trigger, source_id, target_id, source, target)
        # An earlier copy of ours already on the target (its name says so) is updated in place:
        # Azure takes one setting per resource. A setting the owners put on the new deployment
        # themselves is kept as it is, and is the one answered: the deployment has its
        # autoscale setting, and a second PUT would only be refused.
        targeting = self._targeting(endpoint, target)
        scope = self._settings.workspace_id
        theirs = [s for s in targeting if not is_copy_name(s.name, endpoint, target, scope)]
        if theirs:
            # the owners' own, or one left by an earlier deployment of that name deleted by
            # hand (Azure keeps a setting whose target is gone): said loudly, as it now scales
            # the promoted deployment in place of the live one's
            log.warning(
                "autoscale setting %s already targets %s/%s: kept as its setting, %s not "
                "copied over it (delete it for the live deployment's to be copied)",
                theirs[0].name,
                endpoint,
                target,
                src.name,
            )
            return _value(theirs[0], target)
        name = copy_name_on([s.name for s in targeting], endpoint, target, scope)
        resource = AutoscaleSettingResource(
            location=src.location,
            tags=dict(src.tags or {}),
            profiles=profiles,
            notifications=copy.deepcopy(src.notifications),
            enabled=src.enabled,
            predictive_autoscale_policy=copy.deepcopy(src.predictive_autoscale_policy),
            name=name,
            target_resource_uri=target_id,
            target_resource_location=src.target_resource_location,
        )
        client = self._monitor()
        rg = self._settings.resource_group
        made = self._call(
            lambda: client.autoscale_settings.create_or_update(rg, name, resource),
            f"copy autoscale setting {src.name} to {endpoint}/{target}",
        )
        log.info("autoscale setting %s copied to %s as %s", src.name, target, name)
        return _value(made, target)

    def delete_for(self, endpoint: str, deployment: str, copies_only: bool = False) -> int:
        client = self._monitor()
        rg = self._settings.resource_group
        deleted = 0
        scope = self._settings.workspace_id
        for s in self._targeting(endpoint, deployment):
            if copies_only and not is_copy_name(s.name, endpoint, deployment, scope):
                continue  # the owners' own setting on a deployment that stays
            if self._delete(client, rg, str(s.name)):
                deleted += 1
        return deleted

    def _delete(self, client: Any, rg: str, name: str) -> bool:
        try:
            self._call(
                lambda: client.autoscale_settings.delete(rg, name),
                f"delete autoscale setting {name}",
            )
        except NotFound:
            return False  # deleted meanwhile
        return True

    # ---------------------------------------------------------------- internals
    def _targeting(self, endpoint: str, deployment: str) -> list[Any]:
        wanted = self.deployment_id(endpoint, deployment).lower()
        client = self._monitor()
        rg = self._settings.resource_group
        every = self._call(
            lambda: list(client.autoscale_settings.list_by_resource_group(rg)),
            f"list autoscale settings of {rg}",
        )
        found = [s for s in every if str(s.target_resource_uri or "").lower() == wanted]
        return sorted(found, key=lambda s: str(s.name))

    def _monitor(self) -> Any:
        return self._client.get()

    def _build_client(self) -> Any:
        from azure.mgmt.monitor import MonitorManagementClient

        s = self._settings
        options: dict[str, Any] = dict(retry.SDK_OPTIONS)
        if s.arm_endpoint:
            options["base_url"] = s.arm_endpoint
        if s.ca_bundle:
            options["connection_verify"] = s.ca_bundle
        return MonitorManagementClient(self._credential, s.subscription_id, **options)

    def _call(self, fn: Callable[[], T], what: str) -> T:
        return retry.call(fn, what, policy=self._retry)


def _retarget(trigger: Any, source_id: str, target_id: str, source: str, target: str) -> None:
    """A rule on the source deployment's metrics reads the target's instead."""
    if trigger is None:
        return
    if str(trigger.metric_resource_uri or "").lower() == source_id.lower():
        trigger.metric_resource_uri = target_id
    for dim in trigger.dimensions or []:
        if str(dim.dimension_name or "").lower() == "deployment":
            dim.values = [target if str(v).lower() == source.lower() else v for v in dim.values]


def _value(resource: Any, deployment: str) -> AutoscaleSetting:
    capacities: list[tuple[int, int, int]] = []
    for profile in resource.profiles or []:
        cap = profile.capacity
        capacities.append((int(cap.minimum), int(cap.maximum), int(cap.default)))
    enabled = True if resource.enabled is None else bool(resource.enabled)
    return AutoscaleSetting(str(resource.name), deployment, enabled, tuple(capacities))
