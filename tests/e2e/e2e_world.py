"""The e2e world: the demo's policy shortened, and a helper that plays one demo scenario on its
own endpoint of a running local stack."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from localstack.narrate import Narrator
from localstack.options import DEMO_POLICY
from localstack.scenarios import (
    BASELINE_ERROR_RATE,
    Player,
    Result,
    Scenario,
    demo_scenarios,
)
from localstack.stack import Stack
from localstack.traffic import TrafficGenerator
from localstack.watchers import SplitWatcher
from localstack.workspace import (
    ModelVersion,
    add_alert_rule,
    create_endpoint,
    latency_alert_rule,
    register_model,
)
from shared.model import deployment_name
from shared.policy import Stage

KINDS = ("good", "errors", "slow")
# A good version on an endpoint whose live deployment its autoscale setting scales out while
# the rollout runs (its own rule and endpoint, like the demo kinds).
AUTOSCALED = "autoscaled"
RATE = 50.0  # scoring requests per second while a scenario plays
# The one judged stage: 120 s as in the demo policy, so a good version is cleared before its
# deadline nearly always (tests/unit/test_demo_policy_power.py), typically in about 10 s.
E2E_STAGE = Stage(weight=50, min_duration=2.0, max_duration=120.0)


def short_policy(path: Path) -> Path:
    """The demo policy with a shorter shadow, one judged stage and a shorter watch window;
    one rule (and endpoint) per scenario, so that the tests do not depend on each other."""
    policy: dict[str, Any] = yaml.safe_load(DEMO_POLICY.read_text(encoding="utf-8"))
    defaults = policy["defaults"]
    defaults["shadow"] = {"percent": 20, "duration": "3s"}
    stage = {
        "weight": E2E_STAGE.weight,
        "min_duration": f"{E2E_STAGE.min_duration:g}s",
        "max_duration": f"{E2E_STAGE.max_duration:g}s",
    }
    defaults["stages"] = [stage, 100]
    defaults["watch_window"] = "2s"
    if "compare" in defaults:  # its sample file goes beside this copy of the policy
        sample = defaults["compare"]["sample"]
        (path.parent / sample).write_bytes((DEMO_POLICY.parent / sample).read_bytes())
    policy["rules"] = [
        {
            "name": f"e2e-{kind}",
            "match": {"model": f"e2e-{kind}"},
            "endpoint": f"e2e-{kind}",
            "allow_tag_overrides": ["shadow"],
        }
        for kind in (*KINDS, AUTOSCALED)
    ]
    path.write_text(yaml.safe_dump(policy), encoding="utf-8")
    return path


@dataclass
class World:
    stack: Stack
    code: str

    def scenario(self, kind: str) -> Scenario:
        """The demo scenario of that kind, for model ``e2e-<kind>`` version 2 (the autoscaled
        kind plays the good one)."""
        played = demo_scenarios(f"e2e-{kind}", ("2", "2", "2", "2"))[: len(KINDS)]
        demo = dict(zip(KINDS, played, strict=True))
        return demo["good" if kind == AUTOSCALED else kind]

    # Generous: the emulator shows metric minutes only after Azure's ingestion delay (2 API
    # minutes, then 1 of revision: 6 s here), and registering version 1 starts a rollout of
    # its own that version 2 waits for.
    def play(
        self,
        kind: str,
        timeout: float = 200.0,
        before: Callable[[str, str], None] | None = None,
    ) -> tuple[Result, str]:
        """Create endpoint ``e2e-<kind>`` with version 1 live, score it, play the scenario;
        returns the result and the narration. ``before(endpoint, live deployment)`` runs
        once the endpoint serves, just before the new version is registered."""
        scenario = self.scenario(kind)
        endpoint = f"e2e-{kind}"
        baseline = ModelVersion(scenario.model.name, "1", error_rate=BASELINE_ERROR_RATE)
        register_model(self.stack, baseline)
        live = deployment_name(baseline.name, baseline.version)
        scoring = create_endpoint(self.stack, endpoint, live, baseline.asset_id, self.code)
        if kind == "slow":
            add_alert_rule(
                self.stack,
                latency_alert_rule(self.stack.app, endpoint, name=f"{endpoint}-latency"),
            )
        out = io.StringIO()
        narrator = Narrator(out, tty=False, plain_every=5.0)
        traffic = TrafficGenerator(
            scoring["scoring_uri"],
            scoring["key"],
            self.stack.emulator.cert_path,
            rate=RATE,
            max_seconds=timeout + 10,
        )
        with traffic, SplitWatcher(self.stack, endpoint, max_seconds=timeout + 10) as watcher:
            if before is not None:
                before(endpoint, live)
            player = Player(self.stack, endpoint, narrator, traffic=traffic, watcher=watcher)
            short = Scenario(
                scenario.number,
                scenario.title,
                scenario.model,
                scenario.expect_phase,
                scenario.expect_decided_by,
                timeout,
            )
            result = player.play(short)
        return result, out.getvalue()
