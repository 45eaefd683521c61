"""Rules Azure ML enforces on an online endpoint's traffic, enforced here too. Pure.

From Microsoft's docs (how-to-safely-rollout-online-endpoints, how-to-deploy-online-endpoints)
and azure.md: traffic sums to 100 (or 0 to switch traffic off) over existing deployments; mirror
traffic goes to at most one deployment, at most 50 %, never to a deployment that has live
traffic; a deployment is deleted only at 0 % live and mirrored traffic; deployment names are
3-32 characters, a letter first, letters, digits and hyphens, alphanumeric last.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from shared.errors import AzureRuleViolation

DEPLOYMENT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{1,30}[A-Za-z0-9]$")
MAX_MIRROR_PERCENT = 50


def shares(split: Mapping[str, int] | None) -> dict[str, int]:
    """A traffic or mirror split as Azure routes it: the shares above 0 (a deployment at 0 %
    gets nothing, whether it is listed or not)."""
    return {str(k): int(v) for k, v in (split or {}).items() if int(v) > 0}


def check_deployment_name(name: str) -> None:
    if not DEPLOYMENT_NAME.match(name):
        raise AzureRuleViolation(
            f"deployment name {name!r} must be 3-32 characters, start with a letter, and hold "
            "only letters, digits and hyphens, ending alphanumeric",
            code="InvalidDeploymentName",
        )


def check_split(
    traffic: Mapping[str, int], mirror: Mapping[str, int], deployments: Collection[str]
) -> None:
    """Raise AzureRuleViolation for a traffic/mirror update Azure would refuse."""
    for name, pct in {**traffic, **mirror}.items():
        if isinstance(pct, bool) or not isinstance(pct, int) or not 0 <= pct <= 100:
            raise AzureRuleViolation(
                f"traffic for {name!r} must be a whole percent 0-100", code="InvalidTraffic"
            )
    # Azure resource names are case-insensitive, and azure-ai-ml lower-cases the split keys
    # it sends: "Blue" and "blue" are one deployment
    known = {str(d).lower() for d in deployments}
    unknown = sorted(n for n in {**traffic, **mirror} if n.lower() not in known)
    if unknown:
        raise AzureRuleViolation(
            f"traffic names deployments that do not exist: {', '.join(unknown)}",
            code="DeploymentNotFound",
        )
    total = sum(traffic.values())
    if total not in (0, 100):
        raise AzureRuleViolation(
            f"traffic must sum to 100 (or 0), got {total}", code="InvalidTrafficSum"
        )
    mirrored = {k: v for k, v in mirror.items() if v > 0}
    if len(mirrored) > 1:
        raise AzureRuleViolation(
            "mirror traffic may go to one deployment only", code="InvalidMirrorTraffic"
        )
    for name, pct in mirrored.items():
        if pct > MAX_MIRROR_PERCENT:
            raise AzureRuleViolation(
                f"mirror traffic is at most {MAX_MIRROR_PERCENT} %, got {pct}",
                code="InvalidMirrorTraffic",
            )
        if traffic.get(name, 0) > 0:
            raise AzureRuleViolation(
                f"deployment {name!r} cannot receive live and mirror traffic at once",
                code="InvalidMirrorTraffic",
            )


def folded(split: Mapping[str, int] | None) -> dict[str, int]:
    """A split's shares above 0 keyed by lower-cased deployment name (Azure's names are
    case-insensitive, and azure-ai-ml lower-cases the keys it sends): for comparing an asked
    split with one read back."""
    out: dict[str, int] = {}
    for k, v in shares(split).items():
        out[k.lower()] = out.get(k.lower(), 0) + v
    return out


def check_delete(name: str, traffic: Mapping[str, int], mirror: Mapping[str, int]) -> None:
    if folded(traffic).get(name.lower(), 0) > 0 or folded(mirror).get(name.lower(), 0) > 0:
        raise AzureRuleViolation(
            f"deployment {name!r} still has traffic; set it to 0 % before deleting",
            code="DeploymentHasTraffic",
        )
