"""docker-compose.yml, the Kubernetes manifests, the gateway and the README are checked by
what they reference, since no container engine runs here."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from shared.cli import build_parser
from shared.config import SERVICE_NAMES

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _clientloop_commands(containers):
    for name, spec in containers:
        command = spec.get("command")
        if command and command[0] == "clientloop":
            yield name, command


def _compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_runs_every_service_with_web_relay_consumer_and_migration():
    services = _compose()["services"]
    for service in SERVICE_NAMES:
        assert services[service]["command"][:3] == ["clientloop", "serve", service]
        assert services[f"{service}-relay"]["command"] == ["clientloop", "relay", service]
        assert services[f"{service}-consume"]["command"] == ["clientloop", "consume", service]
        assert services[f"{service}-migrate"]["command"] == ["clientloop", "migrate", service]
        assert services[service]["depends_on"][f"{service}-migrate"]["condition"] == "service_completed_successfully"
    assert {"postgres", "rabbitmq", "redis", "gateway"} <= set(services)


@pytest.mark.parametrize("source", ["compose", "kubernetes"])
def test_every_command_in_the_deployment_files_is_one_the_cli_accepts(source):
    if source == "compose":
        containers = list(_compose()["services"].items())
    else:
        containers = []
        for document in yaml.safe_load_all((ROOT / "deploy/kubernetes/clientloop.yaml").read_text()):
            spec = document.get("spec", {})
            template = spec.get("template", {}).get("spec", {})
            containers += [(c["name"], c) for c in template.get("containers", [])]
    commands = list(_clientloop_commands(containers))
    assert len(commands) >= 12
    for _name, command in commands:
        args = build_parser().parse_args(command[1:])  # exits (SystemExit) on a bad command
        if hasattr(args, "service"):
            assert args.service in SERVICE_NAMES


def test_files_the_deployment_references_exist():
    compose = _compose()
    build = compose["x-clientloop"]["build"]
    assert (ROOT / build["context"] / build["dockerfile"]).is_file()
    for spec in compose["services"].values():
        for volume in spec.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), source
    for line in (ROOT / "deploy/Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), source


def test_the_gateway_routes_each_prefix_and_keeps_metrics_internal():
    conf = (ROOT / "deploy/gateway/nginx.conf").read_text()
    for service in SERVICE_NAMES:
        assert f"location /{service}/" in conf
        assert f"X-Forwarded-Prefix /{service}" in conf
    assert re.search(r"location ~ \^/\(registry\|survey\|complaints\)/metrics\$ \{ return 404; \}", conf)


def _variables_in_code() -> set[str]:
    found = set()
    for folder in ("shared", "services"):
        for path in (ROOT / folder).rglob("*.py"):
            found |= set(re.findall(r"CLIENTLOOP_[A-Z_]+[A-Z]", path.read_text()))
    return found


def _variables_in_readme_table() -> set[str]:
    table = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"`(CLIENTLOOP_[A-Z_]+)`", table))


def test_every_configuration_variable_the_code_reads_is_in_the_readme_table():
    undocumented = _variables_in_code() - _variables_in_readme_table()
    assert not undocumented, f"add to the README configuration table: {sorted(undocumented)}"


def test_the_readme_table_documents_no_variable_the_code_does_not_read():
    assert not (_variables_in_readme_table() - _variables_in_code() - {"CLIENTLOOP_REQUIRE_SERVICES"})


def test_deployment_environment_uses_only_documented_variables():
    documented = _variables_in_readme_table()
    text = (ROOT / "docker-compose.yml").read_text() + (ROOT / "deploy/kubernetes/clientloop.yaml").read_text()
    assert set(re.findall(r"CLIENTLOOP_[A-Z_]+[A-Z]", text)) <= documented


def test_readme_gives_exactly_two_setup_commands_and_ci_runs_the_test_one():
    block = README.split("## Set up", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["./scripts/up --demo", "./scripts/test"]
    ci = (ROOT / ".ci/run").read_text()
    assert "CLIENTLOOP_REQUIRE_SERVICES=1" in ci and "./scripts/test" in ci


def test_every_file_the_readme_links_to_exists():
    links = re.findall(r"\]\(([^)#:]+)\)", README)
    assert links
    missing = [link for link in links if not (ROOT / link).exists()]
    assert not missing, missing
