"""Rollout policy: which endpoint a model goes to, and how its rollout runs. Pure.

A policy file (YAML or JSON) holds ``defaults`` and a list of ``rules``; the first rule whose
``match`` fits a model decides its endpoint, and its settings are laid over the defaults::

    defaults:
      shadow: {percent: 20, duration: 10m, max_duration: 30m, on_no_data: hold}
      stages:
        - {weight: 10, min_duration: 5m, max_duration: 30m, min_requests: 500}
        - {weight: 25, min_duration: 5m, max_duration: 30m}
        - {weight: 50, min_duration: 5m, max_duration: 30m}
        - {weight: 100}
      judge: {alpha: 0.01, tolerance: 1.0, clear_margin: 2.0}
      on_deadline: hold            # or rollback
      settle: 3m                   # judge only minutes this old that read the same twice
      errors: [5xx, 424, 408, 429] # status codes (or classes) that count as errors
      guardrails: {p95_latency_ms: 500, error_rate: 0.01, for: 3m}
      watch_window: 30m
      delete_old_deployment: true
      delete_failed_deployment: true
      on_newer_version: wait       # or supersede
    rules:
      - name: fraud
        match: {model: "fraud-*", tags: {team: risk}}
        endpoint: fraud-scoring
        allow_tag_overrides: [stages, watch_window]

A model opts out with the tag ``autocanary: skip`` (or ``off``/``false``). A rule's
``allow_tag_overrides`` lists the settings that model tags ``autocanary.<setting>`` may change
(e.g. ``autocanary.stages: "5,20,100"``, ``autocanary.watch_window: "1h"``).
The last stage must have weight 100: reaching it is the promotion. Something must be judged
before it: a policy whose only stage is 100 % and that has no shadow is refused, because its
rollouts would replace the live model without the judge ever being asked.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from shared.errors import PolicyError
from shared.notify.routes import Routes, parse_notify
from shared.policy_fields import (
    SETTING_KEYS,
    check_judged,
    parse_duration,
    parse_settings,
    policy_from_dict,
    tag_values,
)
from shared.reasons import (
    INVALID_TAG_OVERRIDE,
    MATCHED,
    NO_MATCHING_RULE,
    OPTED_OUT,
)
from shared.rollout_policy import (
    DEFAULT_ERRORS,
    DEFAULT_HEADROOM,
    DEFAULT_SETTLE,
    DEFAULT_SHADOW_MAX,
    DEFAULT_STAGES,
    GUARDRAIL_LATENCY_KEYS,
    MAX_HEADROOM,
    Capacity,
    Guardrails,
    OnDeadline,
    OnNewer,
    OnNoData,
    RolloutPolicy,
    Stage,
)

# The policy's types and field parsing live in shared.rollout_policy and shared.policy_fields;
# these names are this module's public face too.
__all__ = [
    "DEFAULT_ERRORS",
    "DEFAULT_HEADROOM",
    "DEFAULT_SETTLE",
    "DEFAULT_SHADOW_MAX",
    "DEFAULT_STAGES",
    "ENDPOINT_NAME",
    "GUARDRAIL_LATENCY_KEYS",
    "MAX_HEADROOM",
    "OPT_OUT_TAG",
    "OPT_OUT_VALUES",
    "TAG_PREFIX",
    "Capacity",
    "Guardrails",
    "Match",
    "OnDeadline",
    "OnNewer",
    "OnNoData",
    "Placement",
    "PolicySet",
    "RolloutPolicy",
    "Rule",
    "Stage",
    "check_judged",
    "load_policy_text",
    "parse_duration",
    "parse_policy",
    "policy_from_dict",
]

OPT_OUT_TAG = "autocanary"
OPT_OUT_VALUES = frozenset({"skip", "off", "false", "no", "disabled"})
TAG_PREFIX = "autocanary."
ENDPOINT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{1,30}[A-Za-z0-9]$")
_RULE_KEYS = frozenset({"name", "match", "endpoint", "allow_tag_overrides", "notify"})


@dataclass(frozen=True)
class Match:
    model: str = "*"
    # tag -> the value it must have; None: the model must not have that tag (``owner: null``)
    tags: Mapping[str, str | None] = field(default_factory=dict)

    def fits(self, model_name: str, tags: Mapping[str, str]) -> bool:
        if not fnmatch.fnmatchcase(model_name, self.model):
            return False
        return all(
            (k not in tags) if v is None else (k in tags and str(tags[k]) == v)
            for k, v in self.tags.items()
        )


@dataclass(frozen=True)
class Rule:
    name: str
    match: Match
    endpoint: str
    policy: RolloutPolicy
    allow_tag_overrides: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Placement:
    """Where a model goes: the resolved policy, or why it goes nowhere."""

    policy: RolloutPolicy | None
    reason: str
    detail: str
    # The channels of the rule that matched (when one did), for the notice of an ignored model.
    notify: Routes = ()


# Reason constants for placement.


@dataclass(frozen=True)
class PolicySet:
    defaults: RolloutPolicy
    rules: tuple[Rule, ...]

    def place(self, model_name: str, tags: Mapping[str, Any]) -> Placement:
        """Match a model to an endpoint; opt-out tags and bad overrides say why not."""
        str_tags = {str(k): str(v) for k, v in tags.items()}
        opt = str_tags.get(OPT_OUT_TAG)
        if opt is not None and opt.strip().lower() in OPT_OUT_VALUES:
            fits = next((r for r in self.rules if r.match.fits(model_name, str_tags)), None)
            return Placement(
                None,
                OPTED_OUT,
                f"model tag {OPT_OUT_TAG}={opt!r}",
                fits.policy.notify if fits else (),
            )
        for rule in self.rules:
            if not rule.match.fits(model_name, str_tags):
                continue
            overrides = {
                k[len(TAG_PREFIX) :]: v for k, v in str_tags.items() if k.startswith(TAG_PREFIX)
            }
            refused = sorted(set(overrides) - rule.allow_tag_overrides)
            if refused:
                return Placement(
                    None,
                    INVALID_TAG_OVERRIDE,
                    f"rule {rule.name!r} does not allow tag override(s) "
                    f"{', '.join(TAG_PREFIX + r for r in refused)}",
                    rule.policy.notify,
                )
            try:
                policy = check_judged(
                    parse_settings(tag_values(overrides), "tags", base=rule.policy), "tags"
                )
            except PolicyError as exc:
                return Placement(None, INVALID_TAG_OVERRIDE, exc.message, rule.policy.notify)
            return Placement(policy, MATCHED, f"rule {rule.name!r} -> endpoint {rule.endpoint}")
        return Placement(None, NO_MATCHING_RULE, f"no rule matches model {model_name!r}")


def load_policy_text(text: str, *, source: str = "policy") -> PolicySet:
    """Parse YAML or JSON policy text (JSON is YAML) and validate it completely."""
    import yaml  # light, and only needed when a policy is loaded

    try:
        raw = yaml.safe_load(text)
        if isinstance(raw, Mapping):
            raw = _tags_as_written(raw, yaml.compose(text))
    except yaml.YAMLError as exc:
        raise PolicyError("<file>", f"{source} is not valid YAML/JSON: {exc}") from exc
    return parse_policy(raw)


def _tags_as_written(raw: Mapping[str, Any], root: Any) -> Mapping[str, Any]:
    """``raw`` with each rule's ``match.tags`` names and values as the file writes them.

    Azure ML tags are strings (the event's modelTags: learn.microsoft.com/azure/event-grid/
    event-schema-machine-learning); YAML reads an unquoted ``true``, ``1.10`` or ``007`` as a
    boolean or a number, whose str() ("True", "1.1", "7") would never match what Azure sends.
    The scalar's own text is what the policy author meant. A null stays None: the model must
    not have that tag."""
    import yaml

    rules = raw.get("rules")
    if not isinstance(root, yaml.MappingNode) or not isinstance(rules, list):
        return raw

    def child(node: Any, key: str) -> Any:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == key:
                    return v
        return None

    rule_nodes = child(root, "rules")
    if not isinstance(rule_nodes, yaml.SequenceNode) or len(rule_nodes.value) != len(rules):
        return raw
    out = []
    for rule, node in zip(rules, rule_nodes.value, strict=True):
        tags_node = child(child(node, "match"), "tags")
        match = rule.get("match") if isinstance(rule, Mapping) else None
        if not isinstance(tags_node, yaml.MappingNode) or not isinstance(match, Mapping):
            out.append(rule)
            continue
        written: dict[Any, Any] = {}
        for k, v in tags_node.value:
            if not isinstance(k, yaml.ScalarNode):
                return raw  # a complex key: left to the checks to refuse
            if not isinstance(v, yaml.ScalarNode):
                written[k.value] = []  # a list or a mapping: refused by the checks
            elif v.tag == "tag:yaml.org,2002:null":
                written[k.value] = None  # "the model has no such tag"
            else:
                written[k.value] = v.value
        out.append({**rule, "match": {**match, "tags": written}})
    return {**raw, "rules": out}


def parse_policy(raw: Any) -> PolicySet:
    if not isinstance(raw, Mapping):
        raise PolicyError("<file>", "must be a mapping with 'rules' (and optional 'defaults')")
    unknown = sorted(set(raw) - {"defaults", "rules"})
    if unknown:
        raise PolicyError(unknown[0], "unknown top-level field (known: defaults, rules)")
    if isinstance(raw.get("defaults"), Mapping) and "notify" in raw["defaults"]:
        raise PolicyError(
            "defaults.notify",
            "is a rule key (the app-wide channels are the AUTOCANARY_TEAMS_WEBHOOK_URL and "
            "AUTOCANARY_SLACK_WEBHOOK_URL app settings)",
        )
    if isinstance(raw.get("defaults"), Mapping):
        rule_keys = sorted(set(raw["defaults"]) & (_RULE_KEYS | {"rule"}))
        if rule_keys:
            raise PolicyError(f"defaults.{rule_keys[0]}", "is a rule key, not a default setting")
    defaults = parse_settings(raw.get("defaults") or {}, "defaults", base=RolloutPolicy())
    check_judged(defaults, "defaults")
    rules_raw = raw.get("rules")
    if not isinstance(rules_raw, list) or not rules_raw:
        raise PolicyError("rules", "must be a non-empty list")
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, item in enumerate(rules_raw):
        path = f"rules[{i}]"
        if not isinstance(item, Mapping):
            raise PolicyError(path, "must be a mapping")
        name = item.get("name", f"rule-{i}")
        if not isinstance(name, str) or not name:
            raise PolicyError(f"{path}.name", "must be a non-empty string")
        if name in seen:
            raise PolicyError(f"{path}.name", f"duplicate rule name {name!r}")
        seen.add(name)
        endpoint = item.get("endpoint")
        if not isinstance(endpoint, str) or not ENDPOINT_NAME.match(endpoint):
            raise PolicyError(
                f"{path}.endpoint",
                "must be an online endpoint name (3-32 chars, letter first, letters, digits, "
                "hyphens)",
            )
        match = _match(item.get("match") or {}, f"{path}.match")
        allow = item.get("allow_tag_overrides") or []
        if not isinstance(allow, list) or not all(isinstance(a, str) for a in allow):
            raise PolicyError(f"{path}.allow_tag_overrides", "must be a list of setting names")
        bad = sorted(set(allow) - SETTING_KEYS)
        if bad:
            raise PolicyError(f"{path}.allow_tag_overrides", f"unknown setting {bad[0]!r}")
        body = {k: v for k, v in item.items() if k not in _RULE_KEYS}
        policy = check_judged(parse_settings(body, path, base=defaults), path)
        notify = parse_notify(item.get("notify"), f"{path}.notify")
        rules.append(
            Rule(
                name=name,
                match=match,
                endpoint=endpoint,
                policy=replace(policy, endpoint=endpoint, rule=name, notify=notify),
                allow_tag_overrides=frozenset(allow),
            )
        )
    return PolicySet(defaults=defaults, rules=tuple(rules))


def _match(raw: Any, path: str) -> Match:
    if not isinstance(raw, Mapping):
        raise PolicyError(path, "must be a mapping with 'model' and/or 'tags'")
    unknown = sorted(set(raw) - {"model", "tags"})
    if unknown:
        raise PolicyError(f"{path}.{unknown[0]}", "unknown field (known: model, tags)")
    model = raw.get("model", "*")
    if not isinstance(model, str) or not model:
        raise PolicyError(f"{path}.model", "must be a model name or glob pattern")
    tags = raw.get("tags") or {}
    if not isinstance(tags, Mapping):
        raise PolicyError(f"{path}.tags", "must be a mapping of tag to value")
    for k, v in tags.items():
        # Azure ML tags are strings (the event's modelTags: learn.microsoft.com/azure/
        # event-grid/event-schema-machine-learning); YAML reads true, 1.10 and null as other
        # types, which would be compared as "True", "1.1", "None" and never match
        if not isinstance(k, str) or not k:
            raise PolicyError(f"{path}.tags.{k}", "a tag name must be a non-empty string")
        if v is not None and not isinstance(v, str):
            raise PolicyError(
                f"{path}.tags.{k}",
                "must be the tag's value (tags are strings in Azure ML), or null for a model "
                "without that tag",
            )
    return Match(model=model, tags=dict(tags))
