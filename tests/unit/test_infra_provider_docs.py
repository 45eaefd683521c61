"""infra/ uses only arguments and blocks its providers document, at the pinned versions.

No Terraform binary or provider registry is reachable where these tests run, so
``tests/infra/provider_docs.json`` holds an extract of the published provider docs (which
repository, commit and version it came from are in its ``providers`` section; rebuild it
with ``python -m tests.infra.extract_provider_docs``). Each test parses infra/*.tf with
python-hcl2 (blocks marked explicitly) and checks one thing against that extract.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hcl2.utils import SerializationOptions

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
DOCS = ROOT / "tests" / "infra" / "provider_docs.json"

_OPTIONS = SerializationOptions(strip_string_quotes=True, with_comments=False, explicit_blocks=True)
# Terraform's own meta-arguments and blocks, valid on every resource/data/ephemeral block.
META = {"count", "for_each", "depends_on", "provider", "lifecycle", "provisioner", "connection"}
BLOCK_MARK = "__is_block__"


@cache
def _docs() -> dict[str, Any]:
    docs: dict[str, Any] = json.loads(DOCS.read_text(encoding="utf-8"))
    return docs


@cache
def _files() -> dict[str, dict[str, Any]]:
    return {
        path.name: hcl2.loads(path.read_text(encoding="utf-8"), serialization_options=_OPTIONS)
        for path in sorted(INFRA.glob("*.tf"))
    }


def _declared(kind: str) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """(file, type, name, body) of every `kind` block ("resource", "data", "ephemeral")."""
    for file, parsed in _files().items():
        for block in parsed.get(kind, []):
            for type_, named in block.items():
                for name, body in named.items():
                    yield file, type_, name, body


def _is_block(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(item, dict) and item.get(BLOCK_MARK) for item in value)
    )


def _children(body: dict[str, Any]) -> Iterator[tuple[str, Any, bool]]:
    """(name, value, is_block) of a body; `dynamic "x"` blocks yield x's content as block x."""
    for key, value in body.items():
        if key == BLOCK_MARK:
            continue
        if key == "dynamic":
            for dynamic in value:
                for name, spec in dynamic.items():
                    if name != BLOCK_MARK:
                        yield name, spec["content"], True
            continue
        yield key, value, _is_block(value)


def _problems(
    where: str,
    body: dict[str, Any],
    arguments: dict[str, Any],
    schema: dict[str, Any],
    top: bool = True,
) -> Iterator[str]:
    """What in `body` the doc extract does not allow, recursively through blocks."""
    given = set()
    for name, value, is_block in _children(body):
        given.add(name)
        if name in META and top:
            continue
        doc = arguments.get(name)
        if doc is None:
            yield f"{where}: `{name}` is not a documented argument or block"
            continue
        if doc.get("deprecated"):
            yield f"{where}: `{name}` is deprecated"
        if is_block:
            nested = schema["blocks"].get(name)
            empty = all(set(item) == {BLOCK_MARK} for item in value)
            if nested is None and not (empty and doc.get("block")):
                yield f"{where}: `{name}` is used as a block but the doc has no `{name}` block"
                continue
            for item in value:
                yield from _problems(f"{where}.{name}", item, nested or {}, schema, top=False)
        elif doc.get("block") and name in schema["blocks"]:
            yield f"{where}: `{name}` is a block in the doc, written here as an argument"
    for name, doc in arguments.items():
        if doc.get("required") and name not in given:
            yield f"{where}: required `{name}` is missing"


def _schema(kind: str, type_: str) -> dict[str, Any]:
    schema: dict[str, Any] = _docs()[kind][type_]
    return schema


@pytest.mark.parametrize("kind", ["resource", "data", "ephemeral"])
def test_every_block_type_used_is_in_the_doc_extract(kind: str) -> None:
    missing = {type_ for _, type_, _, _ in _declared(kind)} - set(_docs()[kind])
    assert not missing, f"{kind} types without a doc extract: {sorted(missing)}"


@pytest.mark.parametrize("kind", ["resource", "data", "ephemeral"])
def test_blocks_use_only_documented_arguments_and_set_every_required_one(kind: str) -> None:
    problems = [
        problem
        for file, type_, name, body in _declared(kind)
        if type_ in _docs()[kind]
        for problem in _problems(
            f"{file}:{type_}.{name}", body, _schema(kind, type_)["arguments"], _schema(kind, type_)
        )
    ]
    assert not problems, "\n".join(problems)


def test_provider_blocks_use_only_documented_arguments() -> None:
    problems = []
    for file, parsed in _files().items():
        for block in parsed.get("provider", []):
            for name, body in block.items():
                schema = _docs()["provider"][name]
                where = f"{file}:provider.{name}"
                problems += list(_problems(where, body, schema["arguments"], schema))
    assert not problems, "\n".join(problems)


def _required_providers() -> dict[str, dict[str, Any]]:
    required: dict[str, dict[str, Any]] = {}
    for parsed in _files().values():
        for block in parsed.get("terraform", []):
            for providers in block.get("required_providers", []):
                required.update({k: v for k, v in providers.items() if k != BLOCK_MARK})
    return required


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def _allows(constraint: str, version: str) -> bool:
    """Whether a Terraform version constraint (`>=`, `<`, `<=`, `>`, `=`, `~>` terms joined
    by commas) admits `version`."""
    have = _version(version)
    for term in constraint.split(","):
        match = re.fullmatch(r"\s*(>=|<=|>|<|=|!=|~>)?\s*(\d+(?:\.\d+)*)\s*", term)
        assert match, f"cannot read version constraint term {term!r}"
        op, want_text = match.group(1) or "=", match.group(2)
        want = _version(want_text)
        padded = have + (0,) * (len(want) - len(have))
        if op == "~>":
            upper = (*want[:-2], want[-2] + 1) if len(want) > 1 else (want[0] + 1,)
            ok = padded >= want and padded[: len(upper)] < upper
        else:
            ok = {
                ">=": padded >= want,
                "<=": padded <= want,
                ">": padded > want,
                "<": padded < want,
                "=": padded[: len(want)] == want,
                "!=": padded[: len(want)] != want,
            }[op]
        if not ok:
            return False
    return True


@pytest.mark.parametrize("provider", ["azurerm", "azapi"])
def test_provider_constraint_admits_the_documented_version_and_no_other_major(
    provider: str,
) -> None:
    """The docs the extract came from describe version X.Y.Z: the constraint must admit it,
    refuse the next major (a new major removes arguments) and refuse the previous major."""
    documented = _docs()["providers"][provider]
    spec = _required_providers()[provider]
    assert spec["source"] == documented["source"]
    major = _version(documented["version"])[0]
    assert _allows(spec["version"], documented["version"]), (spec["version"], documented)
    assert not _allows(spec["version"], f"{major + 1}.0.0"), spec["version"]
    assert not _allows(spec["version"], f"{major - 1}.99.0"), spec["version"]


def test_version_constraint_reader_follows_terraform_semantics() -> None:
    assert _allows(">= 5.2.0, < 6.0.0", "5.2.0")
    assert not _allows(">= 5.2.0, < 6.0.0", "5.1.9")
    assert not _allows(">= 5.2.0, < 6.0.0", "6.0.0")
    assert _allows("~> 2.12", "2.99.0") and not _allows("~> 2.12", "3.0.0")


def test_doc_extract_names_its_source_commit_and_version() -> None:
    for provider, source in _docs()["providers"].items():
        assert re.fullmatch(r"[0-9a-f]{40}", source["commit"]), provider
        assert re.fullmatch(r"\d+\.\d+\.\d+", source["version"]), provider
        assert source["repository"].count("/") == 1, provider


def test_checker_reports_deprecated_unknown_and_missing_required_arguments() -> None:
    """The walker itself: a deprecated argument, an unknown one, a missing required one, and
    an argument inside a `dynamic` block are each reported."""
    schema = {
        "arguments": {
            "name": {"required": True},
            "old": {"required": False, "deprecated": True},
            "rule": {"required": False, "block": True},
        },
        "blocks": {"rule": {"size": {"required": True}}},
    }
    body = {
        "old": 1,
        "typo": 2,
        "dynamic": [{"rule": {"for_each": [], "content": [{"colour": 3, BLOCK_MARK: True}]}}],
        BLOCK_MARK: True,
    }
    problems = list(_problems("t", body, schema["arguments"], schema))
    assert problems == [
        "t: `old` is deprecated",
        "t: `typo` is not a documented argument or block",
        "t.rule: `colour` is not a documented argument or block",
        "t.rule: required `size` is missing",
        "t: required `name` is missing",
    ]


def _azapi_types() -> list[tuple[str, str, str]]:
    """(where, ARM type, api-version) of every azapi resource/data/ephemeral block."""
    found = []
    for kind in ("resource", "data", "ephemeral"):
        for file, type_, name, body in _declared(kind):
            if type_.startswith("azapi_"):
                arm_type, _, version = str(body["type"]).partition("@")
                found.append((f"{file}:{type_}.{name}", arm_type, version))
    return found


def test_every_azapi_type_names_an_api_version_azapi_documents() -> None:
    """A resource type with its own azapi doc page must use a listed api-version; a child
    type without one (sites/functions, sites/functions/keys) must use a version listed for
    its documented parent (the same REST spec version)."""
    types = _docs()["arm_types"]
    problems = []
    for where, arm_type, version in _azapi_types():
        documented = arm_type
        while documented not in types and "/" in documented.split("/", 1)[1]:
            documented = documented.rsplit("/", 1)[0]
        if documented not in types:
            problems.append(f"{where}: {arm_type} has no azapi doc extract")
        elif version not in types[documented]["api_versions"]:
            problems.append(f"{where}: {arm_type}@{version} not in {documented}'s api-versions")
    assert not problems, "\n".join(problems)
    assert len(_azapi_types()) >= 5


# Always registered in a subscription, or registered already because the workspace exists.
PRE_REGISTERED = {
    "Microsoft.Authorization",
    "Microsoft.Resources",
    "Microsoft.MachineLearningServices",
}


def test_azurerm_registers_every_resource_provider_its_resources_use() -> None:
    """azurerm 5 registers none by default (5.0 upgrade guide): each azurerm resource's
    "API Providers" must be in resource_providers_to_register, or be registered anyway."""
    used = {
        provider
        for kind in ("resource", "data")
        for _, type_, _, _ in _declared(kind)
        if type_.startswith("azurerm_")
        for provider in _docs()[kind][type_].get("api_providers", [])
    }
    assert used
    (azurerm,) = [
        body
        for parsed in _files().values()
        for block in parsed.get("provider", [])
        for name, body in block.items()
        if name == "azurerm"
    ]
    registered = set(azurerm["resource_providers_to_register"])
    assert used - PRE_REGISTERED <= registered, sorted(used - PRE_REGISTERED - registered)
    assert registered <= used, sorted(registered - used)
