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
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from shared.errors import PolicyError
from shared.judge.types import JudgeSettings
from shared.notify.routes import Routes, parse_notify, routes_to_dict
from shared.policy_checks import ComparePolicy, SmokePolicy, parse_compare, parse_smoke
from shared.reasons import (
    INVALID_TAG_OVERRIDE,
    MATCHED,
    NO_MATCHING_RULE,
    OPTED_OUT,
)

OnDeadline = Literal["hold", "rollback"]
OnNewer = Literal["wait", "supersede"]
OnNoData = Literal["hold", "continue"]
# How the canary is sized: ``follow_traffic`` (instances in proportion to its share, with
# headroom, then the baseline's full count before promotion) or ``full`` (the baseline's count
# from the start).
Capacity = Literal["follow_traffic", "full"]
DEFAULT_HEADROOM = 1.5
MAX_HEADROOM = 10.0

# What counts as an error by default: server errors, model errors (424: the scoring script
# answered non-200, learn.microsoft.com/azure/machine-learning/how-to-troubleshoot-online-endpoints
# "HTTP status codes"), request timeouts (408: the model exceeded request_timeout_ms) and
# throttling (429: over max_concurrent_requests_per_instance).
DEFAULT_ERRORS: tuple[str, ...] = ("5xx", "424", "408", "429")
DEFAULT_SETTLE = 180.0
DEFAULT_SHADOW_MAX = 1800.0
_ERROR_CODE = re.compile(r"^[1-5](\d\d|xx)$")
# Guardrail keys: the latency percentile limits (ms) and the error-rate limit.
GUARDRAIL_LATENCY_KEYS: dict[str, str] = {
    "p50_latency_ms": "p50",
    "p90_latency_ms": "p90",
    "p95_latency_ms": "p95",
    "p99_latency_ms": "p99",
}

OPT_OUT_TAG = "autocanary"
OPT_OUT_VALUES = frozenset({"skip", "off", "false", "no", "disabled"})
TAG_PREFIX = "autocanary."

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
ENDPOINT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{1,30}[A-Za-z0-9]$")


@dataclass(frozen=True)
class Stage:
    """One live-traffic stage: the canary's weight and how long/how much before promotion."""

    weight: int
    min_duration: float = 300.0
    max_duration: float = 1800.0
    min_requests: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "weight": self.weight,
            "min_duration": self.min_duration,
            "max_duration": self.max_duration,
            "min_requests": self.min_requests,
        }


DEFAULT_STAGES: tuple[Stage, ...] = (Stage(10), Stage(25), Stage(50), Stage(100))


@dataclass(frozen=True)
class Guardrails:
    """Absolute limits on the canary, whatever the baseline does: a limit exceeded in every
    settled minute of the last ``for_s`` seconds rolls the canary back. None: not guarded."""

    error_rate: float | None = None
    latency_ms: Mapping[str, float] = field(default_factory=dict)  # p50/p90/p95/p99 -> ms
    for_s: float = 180.0

    @property
    def active(self) -> bool:
        return self.error_rate is not None or bool(self.latency_ms)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"for": self.for_s}
        if self.error_rate is not None:
            out["error_rate"] = self.error_rate
        for key, level in GUARDRAIL_LATENCY_KEYS.items():
            if level in self.latency_ms:
                out[key] = self.latency_ms[level]
        return out


@dataclass(frozen=True)
class RolloutPolicy:
    """The resolved policy of one rollout; stored with the rollout so later edits of the
    policy file never change a rollout mid-flight."""

    rule: str = "default"
    endpoint: str = ""
    shadow_percent: int = 0
    shadow_duration: float = 0.0
    shadow_max_duration: float = DEFAULT_SHADOW_MAX
    shadow_on_no_data: OnNoData = "hold"
    stages: tuple[Stage, ...] = DEFAULT_STAGES
    judge: JudgeSettings = field(default_factory=JudgeSettings)
    on_deadline: OnDeadline = "hold"
    watch_window: float = 1800.0
    delete_old_deployment: bool = True
    delete_failed_deployment: bool = True
    instance_count: int | None = None
    capacity: Capacity = "follow_traffic"
    headroom: float = DEFAULT_HEADROOM
    on_newer_version: OnNewer = "wait"
    provisioning_timeout: float = 3600.0
    warmup: float = 60.0
    settle: float = DEFAULT_SETTLE
    errors: tuple[str, ...] = DEFAULT_ERRORS
    guardrails: Guardrails = field(default_factory=Guardrails)
    smoke: SmokePolicy | None = None  # requests straight to the canary before any traffic
    compare: ComparePolicy | None = None  # the shadow's answers compared with the live ones
    # The rule's ``notify`` channels (kind, app setting name): see shared/notify/routes.py.
    notify: Routes = ()

    @property
    def judged_stages(self) -> tuple[Stage, ...]:
        """The stages below 100 %: each is judged; the final 100 % stage is the promotion."""
        return self.stages[:-1]

    @property
    def has_shadow(self) -> bool:
        """Whether rollouts mirror traffic first (and the shadow is judged): the one answer
        the machine and the alpha split both use."""
        return self.shadow_percent > 0 and self.shadow_duration > 0

    @property
    def judged_count(self) -> int:
        """Judged phases (the shadow and every stage below 100 %): alpha is split over them."""
        return len(self.judged_stages) + (1 if self.has_shadow else 0)

    def to_dict(self) -> dict[str, Any]:
        out = self._settings_dict()
        if self.notify:
            out["notify"] = routes_to_dict(self.notify)
        return out

    def _settings_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "endpoint": self.endpoint,
            "shadow": {
                "percent": self.shadow_percent,
                "duration": self.shadow_duration,
                "max_duration": self.shadow_max_duration,
                "on_no_data": self.shadow_on_no_data,
            },
            "stages": [s.to_dict() for s in self.stages],
            "judge": self.judge.to_dict(),
            "on_deadline": self.on_deadline,
            "watch_window": self.watch_window,
            "delete_old_deployment": self.delete_old_deployment,
            "delete_failed_deployment": self.delete_failed_deployment,
            "instance_count": self.instance_count,
            "capacity": self.capacity,
            "headroom": self.headroom,
            "on_newer_version": self.on_newer_version,
            "provisioning_timeout": self.provisioning_timeout,
            "warmup": self.warmup,
            "settle": self.settle,
            "errors": list(self.errors),
            "guardrails": self.guardrails.to_dict() if self.guardrails.active else None,
            "smoke": self.smoke.to_dict() if self.smoke else None,
            "compare": self.compare.to_dict() if self.compare else None,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], path: str = "policy") -> RolloutPolicy:
        notify = parse_notify(raw.get("notify"), f"{path}.notify")
        settings = _settings({k: v for k, v in raw.items() if k != "notify"}, path, base=cls())
        settings = replace(settings, notify=notify)
        endpoint = raw.get("endpoint", "")
        rule = raw.get("rule", "default")
        if not isinstance(endpoint, str) or not isinstance(rule, str):
            raise PolicyError(f"{path}.endpoint", "must be a string")
        return replace(settings, endpoint=endpoint, rule=rule)


@dataclass(frozen=True)
class Match:
    model: str = "*"
    tags: Mapping[str, str] = field(default_factory=dict)

    def fits(self, model_name: str, tags: Mapping[str, str]) -> bool:
        if not fnmatch.fnmatchcase(model_name, self.model):
            return False
        return all(str(tags.get(k)) == v for k, v in self.tags.items())


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
                    _settings(_tag_values(overrides), "tags", base=rule.policy), "tags"
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
    except yaml.YAMLError as exc:
        raise PolicyError("<file>", f"{source} is not valid YAML/JSON: {exc}") from exc
    return parse_policy(raw)


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
    defaults = _settings(raw.get("defaults") or {}, "defaults", base=RolloutPolicy())
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
        bad = sorted(set(allow) - _SETTING_KEYS)
        if bad:
            raise PolicyError(f"{path}.allow_tag_overrides", f"unknown setting {bad[0]!r}")
        body = {k: v for k, v in item.items() if k not in _RULE_KEYS}
        policy = check_judged(_settings(body, path, base=defaults), path)
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


def parse_duration(value: Any, where: str) -> float:
    """Seconds from a number (seconds) or a string like ``90s``, ``5m``, ``1.5h``, ``1d``."""
    if isinstance(value, bool):
        raise PolicyError(where, f"must be a duration, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise PolicyError(where, f"must be a duration like 90s, 5m, 1h (got {value!r})")
    if seconds < 0:
        raise PolicyError(where, "must not be negative")
    return seconds


_RULE_KEYS = frozenset({"name", "match", "endpoint", "allow_tag_overrides", "notify"})
_SETTING_KEYS = frozenset(
    {
        "shadow",
        "stages",
        "judge",
        "on_deadline",
        "watch_window",
        "delete_old_deployment",
        "delete_failed_deployment",
        "instance_count",
        "capacity",
        "headroom",
        "on_newer_version",
        "provisioning_timeout",
        "warmup",
        "settle",
        "errors",
        "guardrails",
        "smoke",
        "compare",
    }
)


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
    return Match(model=model, tags={str(k): str(v) for k, v in tags.items()})


def _bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no"):
        return value.strip().lower() in ("true", "yes")
    raise PolicyError(where, f"must be true or false, got {value!r}")


def _int(value: Any, where: str, *, lo: int, hi: int | None = None) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise PolicyError(where, f"must be a whole number, got {value!r}")
    if value < lo or (hi is not None and value > hi):
        raise PolicyError(where, f"must be between {lo} and {hi}" if hi else f"must be >= {lo}")
    return value


def _stages(raw: Any, where: str) -> tuple[Stage, ...]:
    if isinstance(raw, str):  # tag form: "10,25,50,100"
        raw = [{"weight": w.strip()} for w in raw.split(",") if w.strip()]
    if not isinstance(raw, list) or not raw:
        raise PolicyError(where, "must be a non-empty list of stages")
    stages: list[Stage] = []
    for i, item in enumerate(raw):
        p = f"{where}[{i}]"
        if isinstance(item, int | str) and not isinstance(item, bool):
            item = {"weight": item}
        if not isinstance(item, Mapping):
            raise PolicyError(p, "must be a mapping with 'weight'")
        unknown = sorted(set(item) - {"weight", "min_duration", "max_duration", "min_requests"})
        if unknown:
            raise PolicyError(f"{p}.{unknown[0]}", "unknown stage field")
        if "weight" not in item:
            raise PolicyError(f"{p}.weight", "is required")
        stage = Stage(
            weight=_int(item["weight"], f"{p}.weight", lo=1, hi=100),
            min_duration=parse_duration(item.get("min_duration", 300), f"{p}.min_duration"),
            max_duration=parse_duration(item.get("max_duration", 1800), f"{p}.max_duration"),
            min_requests=_int(item.get("min_requests", 0), f"{p}.min_requests", lo=0),
        )
        if stage.max_duration < stage.min_duration:
            raise PolicyError(f"{p}.max_duration", "must be >= min_duration")
        if stages and stage.weight <= stages[-1].weight:
            raise PolicyError(f"{p}.weight", "stage weights must increase")
        stages.append(stage)
    if stages[-1].weight != 100:
        raise PolicyError(f"{where}[{len(stages) - 1}].weight", "the last stage must be 100")
    return tuple(stages)


def _settings(raw: Mapping[str, Any], path: str, *, base: RolloutPolicy) -> RolloutPolicy:
    """Lay validated settings from ``raw`` over ``base``; unknown keys are errors."""
    if not isinstance(raw, Mapping):
        raise PolicyError(path, "must be a mapping")
    unknown = sorted(set(raw) - _SETTING_KEYS - {"endpoint", "rule"})
    if unknown:
        raise PolicyError(f"{path}.{unknown[0]}", "unknown setting")
    p = base
    if "shadow" in raw:
        shadow = raw["shadow"]
        if shadow in (None, False):
            p = replace(p, shadow_percent=0, shadow_duration=0.0)
        elif not isinstance(shadow, Mapping):
            raise PolicyError(f"{path}.shadow", "must be a mapping with percent and duration")
        else:
            bad = sorted(set(shadow) - {"percent", "duration", "max_duration", "on_no_data"})
            if bad:
                raise PolicyError(f"{path}.shadow.{bad[0]}", "unknown field")
            percent = _int(shadow.get("percent", 0), f"{path}.shadow.percent", lo=0, hi=50)
            duration = parse_duration(shadow.get("duration", 0), f"{path}.shadow.duration")
            # A shadow's max duration defaults to a stage's (30 min), and never below its
            # minimum duration.
            most = parse_duration(
                shadow.get("max_duration", max(DEFAULT_SHADOW_MAX, duration)),
                f"{path}.shadow.max_duration",
            )
            if most < duration:
                raise PolicyError(f"{path}.shadow.max_duration", "must be >= duration")
            on_no_data = shadow.get("on_no_data", "hold")
            if on_no_data not in ("hold", "continue"):
                raise PolicyError(
                    f"{path}.shadow.on_no_data",
                    "must be 'hold' (no data is never a pass) or 'continue' (explicit opt-out)",
                )
            p = replace(
                p,
                shadow_percent=percent,
                shadow_duration=duration,
                shadow_max_duration=most,
                shadow_on_no_data=on_no_data,
            )
    if "stages" in raw:
        p = replace(p, stages=_stages(raw["stages"], f"{path}.stages"))
    if "judge" in raw:
        merged = {**p.judge.to_dict(), **_judge_raw(raw["judge"], f"{path}.judge")}
        p = replace(p, judge=JudgeSettings.from_mapping(merged, f"{path}.judge"))
    if "on_deadline" in raw:
        if raw["on_deadline"] not in ("hold", "rollback"):
            raise PolicyError(f"{path}.on_deadline", "must be 'hold' or 'rollback'")
        p = replace(p, on_deadline=raw["on_deadline"])
    if "on_newer_version" in raw:
        if raw["on_newer_version"] not in ("wait", "supersede"):
            raise PolicyError(f"{path}.on_newer_version", "must be 'wait' or 'supersede'")
        p = replace(p, on_newer_version=raw["on_newer_version"])
    durations: dict[str, Any] = {
        k: parse_duration(raw[k], f"{path}.{k}")
        for k in ("watch_window", "provisioning_timeout", "warmup", "settle")
        if k in raw
    }
    flags: dict[str, Any] = {
        k: _bool(raw[k], f"{path}.{k}")
        for k in ("delete_old_deployment", "delete_failed_deployment")
        if k in raw
    }
    p = replace(p, **durations, **flags)
    if "instance_count" in raw:
        value = raw["instance_count"]
        p = replace(
            p,
            instance_count=None
            if value is None
            else _int(value, f"{path}.instance_count", lo=1, hi=1000),
        )
    if "capacity" in raw:
        if raw["capacity"] not in ("follow_traffic", "full"):
            raise PolicyError(f"{path}.capacity", "must be 'follow_traffic' or 'full'")
        p = replace(p, capacity=raw["capacity"])
    if "headroom" in raw:
        p = replace(p, headroom=_headroom(raw["headroom"], f"{path}.headroom"))
    if "errors" in raw:
        p = replace(p, errors=_errors(raw["errors"], f"{path}.errors"))
    if "guardrails" in raw:
        p = replace(p, guardrails=_guardrails(raw["guardrails"], f"{path}.guardrails"))
    if "smoke" in raw:
        p = replace(p, smoke=parse_smoke(raw["smoke"], f"{path}.smoke"))
    if "compare" in raw:
        p = replace(p, compare=parse_compare(raw["compare"], f"{path}.compare"))
    return p


def _headroom(value: Any, where: str) -> float:
    """A multiplier of at least 1 on the canary's share of the live instance count."""
    if isinstance(value, str):  # tag form
        try:
            value = float(value.strip())
        except ValueError as exc:
            raise PolicyError(where, f"must be a number from 1 to {MAX_HEADROOM:g}") from exc
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PolicyError(where, f"must be a number from 1 to {MAX_HEADROOM:g}, got {value!r}")
    if not 1.0 <= float(value) <= MAX_HEADROOM:
        raise PolicyError(where, f"must be from 1 to {MAX_HEADROOM:g}, got {value!r}")
    return float(value)


def check_judged(policy: RolloutPolicy, where: str) -> RolloutPolicy:
    """Refuse a resolved policy under which nothing is ever judged (a single 100 % stage and
    no shadow): its rollouts would replace the live model without the judge being asked."""
    if policy.judged_count == 0:
        raise PolicyError(
            f"{where}.stages",
            "nothing would be judged: add a stage below 100 % or a shadow (percent and duration)",
        )
    return policy


def _errors(raw: Any, where: str) -> tuple[str, ...]:
    """Status codes (``"503"``, 424) or classes (``"5xx"``) that count as errors."""
    if isinstance(raw, str):  # tag form: "5xx,424,408"
        raw = [part.strip() for part in raw.split(",") if part.strip()]
    if not isinstance(raw, list) or not raw:
        raise PolicyError(where, "must be a non-empty list of status codes or classes (5xx)")
    out: list[str] = []
    for i, item in enumerate(raw):
        if isinstance(item, bool) or not isinstance(item, int | str):
            raise PolicyError(f"{where}[{i}]", f"must be a status code or class, got {item!r}")
        code = str(item).strip().lower()
        if not _ERROR_CODE.match(code):
            raise PolicyError(
                f"{where}[{i}]", f"must be a status code 100-599 or a class like 5xx, got {item!r}"
            )
        if code not in out:
            out.append(code)
    return tuple(out)


def _guardrails(raw: Any, where: str) -> Guardrails:
    if raw in (None, False):
        return Guardrails()
    if isinstance(raw, str):  # tag form: JSON object
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise PolicyError(where, "must be a JSON object") from exc
    if not isinstance(raw, Mapping):
        raise PolicyError(where, "must be a mapping like {p95_latency_ms: 500, error_rate: 0.01}")
    known = {*GUARDRAIL_LATENCY_KEYS, "error_rate", "for"}
    bad = sorted(set(raw) - known)
    if bad:
        raise PolicyError(f"{where}.{bad[0]}", f"unknown guardrail (known: {sorted(known)})")
    error_rate = None
    if "error_rate" in raw:
        value = raw["error_rate"]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
            raise PolicyError(f"{where}.error_rate", f"must be a rate in (0, 1), got {value!r}")
        error_rate = float(value)
    latency: dict[str, float] = {}
    for key, level in GUARDRAIL_LATENCY_KEYS.items():
        if key in raw:
            value = raw[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise PolicyError(f"{where}.{key}", f"must be milliseconds > 0, got {value!r}")
            latency[level] = float(value)
    for_s = parse_duration(raw.get("for", 180), f"{where}.for")
    if for_s <= 0:
        raise PolicyError(f"{where}.for", "must be positive")
    guard = Guardrails(error_rate=error_rate, latency_ms=latency, for_s=for_s)
    if not guard.active:
        raise PolicyError(where, "must set error_rate or a latency limit (e.g. p95_latency_ms)")
    return guard


def _judge_raw(raw: Any, where: str) -> dict[str, Any]:
    if isinstance(raw, str):  # tag form: JSON object
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise PolicyError(where, "must be a JSON object") from exc
    if not isinstance(raw, Mapping):
        raise PolicyError(where, "must be a mapping")
    return dict(raw)


def _tag_values(overrides: Mapping[str, str]) -> dict[str, Any]:
    """Tag values are strings; turn the structured ones into policy data."""
    out: dict[str, Any] = {}
    for key, value in overrides.items():
        if key == "shadow":
            percent, _, duration = value.partition(",")
            out[key] = {"percent": percent.strip(), "duration": duration.strip() or 0}
        else:
            out[key] = value
    return out
