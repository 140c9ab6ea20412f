"""What hassfest, HACS and Home Assistant's loader would reject, checked locally."""

from __future__ import annotations

import json
from pathlib import Path
import re
from typing import Any

from awesomeversion import AwesomeVersion
import homeassistant.components
from homeassistant.const import __version__ as ha_version
from homeassistant.core import HomeAssistant
from packaging.requirements import Requirement
import pytest
import yaml

from custom_components.balupi import binary_sensor, button, dns, sensor, services
from custom_components.balupi.const import DOMAIN

ROOT = Path(__file__).parent.parent
INTEGRATION = ROOT / "custom_components" / DOMAIN


def load(name: str) -> Any:
    return json.loads((INTEGRATION / name).read_text(encoding="utf-8"))


def test_manifest_has_what_hassfest_and_hacs_require() -> None:
    manifest = load("manifest.json")
    assert list(manifest)[:2] == ["domain", "name"]
    assert list(manifest)[2:] == sorted(list(manifest)[2:]), (
        "hassfest wants sorted keys"
    )
    assert manifest["domain"] == DOMAIN
    assert manifest["name"] == "BaluPi"
    assert AwesomeVersion(manifest["version"]).valid
    assert manifest["codeowners"]
    assert all(owner.startswith("@") for owner in manifest["codeowners"])
    assert manifest["config_flow"] is True
    assert manifest["integration_type"] == "hub"
    assert manifest["iot_class"] in {"local_polling", "local_push"}
    assert {"http", "webhook"} <= set(manifest["dependencies"])
    for key in ("documentation", "issue_tracker"):
        assert manifest[key].startswith("https://")
    assert "kasa" in manifest["loggers"]


def core_pins() -> dict[str, str]:
    """Exact versions Home Assistant core's own integrations pin, by package name."""
    pins: dict[str, str] = {}
    for path in Path(homeassistant.components.__path__[0]).glob("*/manifest.json"):
        for line in json.loads(path.read_text(encoding="utf-8")).get(
            "requirements", []
        ):
            requirement = Requirement(line)
            for spec in requirement.specifier:
                if spec.operator == "==":
                    pins[requirement.name.lower()] = spec.version
    return pins


def test_requirements_are_ranges_that_admit_home_assistants_own_pins() -> None:
    """A custom integration pinning another exact version makes HA fight core over it."""
    pins = core_pins()
    assert "python-kasa" in pins, "core tplink pins python-kasa"
    for line in load("manifest.json")["requirements"]:
        requirement = Requirement(line)
        assert all(spec.operator != "==" for spec in requirement.specifier), line
        if (pin := pins.get(requirement.name.lower())) is not None:
            assert requirement.specifier.contains(pin), (
                f"{line} excludes {requirement.name}=={pin} pinned by Home Assistant {ha_version}"
            )


def test_hacs_json() -> None:
    hacs = json.loads((ROOT / "hacs.json").read_text(encoding="utf-8"))
    allowed = {
        "name", "content_in_root", "country", "filename", "hacs", "hide_default_branch",
        "homeassistant", "persistent_directory", "render_readme", "zip_release",
    }  # fmt: skip
    assert set(hacs) <= allowed
    assert hacs["name"] == "BaluPi"
    # The minimum is the oldest release CI tests, so it can never be above this one.
    assert AwesomeVersion(hacs["homeassistant"]) <= AwesomeVersion(ha_version)
    assert hacs["homeassistant"] == "2025.4.4"


def leaves(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            found.update(leaves(value, f"{prefix}{key}."))
        else:
            found[f"{prefix}{key}"] = value
    return found


def test_english_translation_is_strings_json() -> None:
    """Custom integrations are served translations/en.json, not strings.json."""
    assert load("translations/en.json") == load("strings.json")


@pytest.mark.parametrize("language", ["de"])
def test_translation_is_complete(language: str) -> None:
    english = leaves(load("strings.json"))
    other = leaves(load(f"translations/{language}.json"))
    assert set(other) == set(english)
    for key, text in english.items():
        placeholders = set(re.findall(r"{(\w+)}", text))
        assert set(re.findall(r"{(\w+)}", other[key])) == placeholders, key
        assert other[key].strip(), key


def test_entities_have_names_and_icons() -> None:
    strings = load("strings.json")["entity"]
    icons = load("icons.json")["entity"]
    for platform, descriptions in (
        ("binary_sensor", binary_sensor.NAS_BINARY_SENSORS),
        ("sensor", sensor.NAS_SENSORS),
        ("sensor", (sensor.NAS_POWER_STATE,)),
        ("sensor", sensor.SNAPSHOT_SENSORS),
        ("sensor", (sensor.DNS_SENSOR,)),
        ("sensor", sensor.INBOX_SENSORS),
        ("sensor", sensor.HUB_SENSORS),
        ("sensor", sensor.PLUG_SENSORS),
        ("button", (button.WAKE,)),
    ):
        for description in descriptions:
            key = description.translation_key
            if key is None:  # named after its device class (power, voltage, ...)
                assert description.device_class is not None, description.key
                continue
            assert strings[platform][key]["name"]
            assert icons[platform][key]["default"].startswith("mdi:")
            for option in getattr(description, "options", None) or ():
                assert strings[platform][key]["state"][option], (key, option)
                if "state" in icons[platform][key]:
                    assert icons[platform][key]["state"][option], (key, option)


_CREATE_ISSUE = re.compile(r"async_create_issue\(")


def _call_text(source: str, start: int) -> str:
    """The arguments of the call whose opening parenthesis ends at ``start``."""
    depth = 1
    for index in range(start, len(source)):
        depth += {"(": 1, ")": -1}.get(source[index], 0)
        if depth == 0:
            return source[start:index]
    return source[start:]


def test_every_raised_message_and_issue_is_translated() -> None:
    strings = load("strings.json")
    source = "".join(
        path.read_text(encoding="utf-8") for path in INTEGRATION.glob("*.py")
    )
    raised = set(
        re.findall(r'translation_domain=DOMAIN,\s+translation_key="(\w+)"', source)
    )
    raised |= set(re.findall(r'refusal = "(\w+)"', source))
    # Keys chosen from a table by the error's type.
    raised |= set(dns.EXCEPTIONS.values()) | {"pihole_failed", "flush_failed"}
    raised |= set(services.INBOX_ERRORS.values())
    calls = [
        _call_text(source, match.end()) for match in _CREATE_ISSUE.finditer(source)
    ]
    issues = {
        key for call in calls for key in re.findall(r'translation_key="(\w+)"', call)
    }
    assert len(calls) == 3, "the pattern still finds every repair issue"
    issues |= set(dns.ISSUES.values())
    assert {"plug_unreachable", "wake_no_power"} <= raised, "the patterns still match"
    assert issues == {"tapo_auth", "boot_timeout", "pihole_read_only"}
    assert raised <= set(strings["exceptions"]), raised - set(strings["exceptions"])
    assert issues <= set(strings["issues"])


def test_every_error_the_flows_can_show_is_translated() -> None:
    strings = load("strings.json")
    source = (INTEGRATION / "config_flow.py").read_text(encoding="utf-8")
    source += (INTEGRATION / "settings.py").read_text(encoding="utf-8")
    flow_errors = set(re.findall(r'errors\[[^\]]+\] = "(\w+)"', source))
    option_errors = set(re.findall(r'found\.append\("(\w+)"\)', source))
    assert flow_errors, "the pattern still finds the flow's errors"
    assert flow_errors <= set(strings["config"]["error"])
    assert option_errors <= set(strings["options"]["error"])
    menu = strings["config"]["step"]["nas_unreachable"]["menu_options"]
    assert set(menu) == {"probe_again", "finish"}


QUALITY_RULES = {
    "bronze": """action-setup appropriate-polling brands common-modules
        config-flow-test-coverage config-flow dependency-transparency docs-actions
        docs-conditions docs-high-level-description docs-installation-instructions
        docs-removal-instructions docs-triggers entity-event-setup entity-unique-id
        has-entity-name runtime-data test-before-configure test-before-setup
        unique-config-entry""",
    "silver": """action-exceptions config-entry-unloading docs-configuration-parameters
        docs-installation-parameters entity-unavailable integration-owner
        log-when-unavailable parallel-updates reauthentication-flow test-coverage""",
    "gold": """devices diagnostics discovery-update-info discovery docs-data-update
        docs-examples docs-known-limitations docs-supported-devices
        docs-supported-functions docs-troubleshooting docs-use-cases dynamic-devices
        entity-category entity-device-class entity-disabled-by-default
        entity-translations exception-translations icon-translations
        reconfiguration-flow repair-issues stale-devices""",
    "platinum": "async-dependency inject-websession strict-typing",
}


def test_quality_scale_lists_every_rule_with_an_honest_status() -> None:
    rules = yaml.safe_load((INTEGRATION / "quality_scale.yaml").read_text())["rules"]
    expected = {rule for tier in QUALITY_RULES.values() for rule in tier.split()}
    assert len(expected) == 54
    assert set(rules) == expected
    for rule, status in rules.items():
        if isinstance(status, dict):
            assert status["status"] in {"done", "todo", "exempt"}, rule
            assert status["status"] == "done" or len(status["comment"]) > 20, rule
        else:
            assert status == "done", f"{rule}: a bare status must be done"


async def test_services_yaml_matches_the_registered_actions(
    hass: HomeAssistant, loaded_entry: Any
) -> None:
    """Every registered action is described, translated and has an icon; no more.

    And each action's fields in services.yaml are exactly what its schema takes.
    """
    described = yaml.safe_load((INTEGRATION / "services.yaml").read_text())
    registered = hass.services.async_services_for_domain(DOMAIN)
    assert set(described) == set(registered)
    strings = load("strings.json")["services"]
    icons = load("icons.json")["services"]
    for action, description in described.items():
        fields = set(description.get("fields", {}))
        schema = registered[action].schema
        assert schema is not None
        assert fields == {str(key) for key in schema.schema}, action
        assert strings[action]["name"]
        assert strings[action]["description"]
        assert set(strings[action]["fields"]) == fields, action
        for field in fields:
            assert strings[action]["fields"][field]["name"], (action, field)
            assert strings[action]["fields"][field]["description"], (action, field)
        assert icons[action]["service"].startswith("mdi:")
    selector = described["switch_dns"]["fields"]["target"]["selector"]["select"]
    assert set(load("strings.json")["selector"]["dns_target"]["options"]) == set(
        selector["options"]
    )


def test_every_image_the_readme_shows_exists() -> None:
    readme = (INTEGRATION.parent.parent / "README.md").read_text(encoding="utf-8")
    images = [
        image
        for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme)
        if not image.startswith("https://")  # My Home Assistant's badges
    ]
    assert len(images) >= 5, "the pattern still finds the screenshots"
    for image in images:
        assert (INTEGRATION.parent.parent / image).is_file(), image
