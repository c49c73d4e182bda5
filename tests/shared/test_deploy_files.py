"""docker-compose.yml, the Kubernetes manifests, the gateway and the README are checked by
what they reference, since no container engine runs here."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from shared.cli import build_parser
from shared.config import SERVICE_NAMES
from tests.support.gateway import render

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


GATEWAY = (ROOT / "deploy/gateway/nginx.conf").read_text()


def test_the_gateway_routes_each_prefix_and_keeps_metrics_internal():
    for service in SERVICE_NAMES:
        assert re.search(rf"location /{service}/ +\{{ proxy_pass http://{service}/; \}}", GATEWAY)
    assert re.search(r'map \$uri \$forwarded_prefix \{ "~\^\(/registry\|/survey\|/complaints\)/" \$1;',
                     GATEWAY)
    assert re.search(r"location ~ \^/\(registry\|survey\|complaints\)/metrics\$ \{ return 404; \}", GATEWAY)


def test_the_gateway_sets_its_proxy_headers_once_for_every_location():
    # A location with a proxy_set_header of its own inherits none of the server's.
    server = re.sub(r"#[^\n]*", "", GATEWAY.split("  server {", 1)[1])
    for location in re.findall(r"location [^{]*\{[^}]*\}", server):
        assert "proxy_set_header" not in location, location
    for header in ("Host", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host",
                   "X-Forwarded-Prefix", "X-Request-ID"):
        assert re.search(rf"^    proxy_set_header {header} ", server, re.MULTILINE), header


def test_the_gateway_logs_json_without_link_tokens_query_strings_or_referers():
    log_format = GATEWAY.split("log_format clientloop escape=json", 1)[1].split(";", 1)[0]
    fields = json.loads("".join(re.findall(r"'([^']*)'", log_format)).replace("$status", "200")
                        .replace("$body_bytes_sent", "0").replace("$request_time", "0"))
    assert fields["path"] == "$path_redacted" and fields["request_id"] == "$request_id_out"
    raw = re.findall(r"\$(request_uri|request|args|query_string|arg_\w+|http_referer|uri)\b",
                     log_format)
    assert not raw, raw
    assert re.search(r"^  access_log \S+ clientloop;$", GATEWAY, re.MULTILINE)
    assert re.search(r"^error_log \S+ crit;$", GATEWAY, re.MULTILINE)


def test_the_gateway_answers_its_own_errors_as_problem_details():
    """nginx's own 4xx/5xx (tests/shared/test_server_error_pages.py runs them) go to one
    internal JSON location, the client's survey pages to a short HTML one."""
    server = GATEWAY.split("  server {", 1)[1]
    codes = {"400", "404", "405", "408", "413", "414", "500", "502", "503", "504"}
    pages = re.findall(r"^    error_page ([\d =]+) \$error_document;$", server, re.MULTILINE)
    listed = {code for page in pages for code in page.split() if not code.startswith("=")}
    assert codes <= listed and "494" in listed, pages
    assert re.search(r'map \$path_redacted \$error_document \{ "~\^/survey/s/" /_clientloop/error\.html; '
                     r"default /_clientloop/problem\.json; \}", GATEWAY)
    problem = server.split("location = /_clientloop/problem.json {", 1)[1].split("}\n", 1)[0]
    assert "internal;" in problem and "default_type application/problem+json;" in problem
    assert '"status":$status' in problem and '"type":"urn:clientloop:problem:$status"' in problem
    assert "location / { return 404; }" in server  # nothing of nginx's own is served
    assert re.search(r"^  large_client_header_buffers 4 8k;$", GATEWAY, re.MULTILINE)


def test_the_kubernetes_ingress_writes_no_access_log_with_link_tokens():
    manifests = list(yaml.safe_load_all((ROOT / "deploy/kubernetes/clientloop.yaml").read_text()))
    ingresses = [doc for doc in manifests if doc and doc.get("kind") == "Ingress"]
    assert ingresses
    for ingress in ingresses:
        annotations = ingress["metadata"].get("annotations", {})
        assert annotations.get("nginx.ingress.kubernetes.io/enable-access-log") == "false"


def test_the_tests_run_the_shipped_gateway_with_only_addresses_and_paths_rendered():
    rendered = render(GATEWAY, {"survey": ["127.0.0.1:7001", "127.0.0.1:7002"]},
                      listen="127.0.0.1:7000", access_log=Path("/w/access.log"),
                      error_log=Path("/w/error.log"), temp_dir=Path("/t"))
    temp_paths = re.compile(r"^  \w+_temp_path /t/\w+;$")
    lines = [line for line in rendered.splitlines() if not temp_paths.match(line)]
    assert len(rendered.splitlines()) - len(lines) == 5
    changed = [(old, new) for old, new in zip(GATEWAY.splitlines(), lines, strict=True) if old != new]
    allowed = re.compile(r"\s*(upstream \w+ +\{ server [^}]*\}|listen \S+;|"
                         r"access_log \S+ clientloop;|error_log \S+ crit;)$")
    assert len(changed) == 6, changed
    for old, new in changed:  # the same directive (and upstream name), another address or path
        assert allowed.match(old) and allowed.match(new), (old, new)
        kept = 2 if old.split()[0] == "upstream" else 1
        assert old.split()[:kept] == new.split()[:kept], (old, new)
    assert "upstream survey     { server 127.0.0.1:7001; server 127.0.0.1:7002; }" in rendered
    assert "upstream registry   { server 127.0.0.1:9 down; }" in rendered
    assert "listen 127.0.0.1:7000;" in rendered and "access_log /w/access.log clientloop;" in rendered


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
