"""The Dockerfile and .dockerignore against the Cargo workspace and the Helm chart.

Usage: CARGO_METADATA="$(cargo metadata --no-deps --format-version 1)" images.py ROOT

Multi-stage, the dependency layer before the sources, one final stage per service on a minimal
non-root base with no build tools, the binary the chart runs at the path it runs it from, uid/gid
and listen port as the chart sets them, the dashboard where query.webRoot says; the builder's Rust
and Debian versions; the backup image (pg_dump at least the server's major version, azcopy, the
script the chart's CronJob runs); every stage the ARTIFACTS build argument can pick exists (the
default compiles; `prebuilt` copies the host's build: scripts/test-images.sh); .dockerignore. One
"ok:"/"FAIL:" line per check (report.py).
"""

import json
import os
import re
import sys
import tomllib
from pathlib import Path

from report import Report

SERVICES = ["ingest", "incident-core", "query", "notifier"]
MINIMAL_BASE = r"(gcr\.io/distroless/|debian:\S*-slim)"
# The values of the ARTIFACTS build argument: compile in the image, or copy the host's build.
ARTIFACTS = ["source", "prebuilt"]


def instructions(text):
    """The Dockerfile as (INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    out, buf = [], ""
    for line in text.splitlines():
        if not buf and line.lstrip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1] + " "
            continue
        buf += line
        if buf.strip():
            word, _, rest = buf.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
        buf = ""
    return out


class Dockerfile:
    """The build arguments declared before the first FROM, and each stage: its base and its steps.

    A stage without `AS name` is named "#<index>".
    """

    def __init__(self, text):
        self.args, self.stages, current = {}, {}, None
        for word, rest in instructions(text):
            if word == "ARG" and current is None:
                name, _, default = rest.partition("=")
                self.args[name] = default.strip('"')
            elif word == "FROM":
                m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", rest, re.IGNORECASE)
                image = re.sub(r"\$\{(\w+)\}", lambda v: self.args.get(v[1], v[0]), m[1])
                current = m[2] or f"#{len(self.stages)}"
                self.stages[current] = {"from": image, "written": m[1], "steps": []}
            elif current is not None:
                self.stages[current]["steps"].append((word, rest))

    def steps(self, stage, word=None):
        """The arguments of a stage's own steps, or of its `word` steps only."""
        return [rest for w, rest in self.stages[stage]["steps"] if word is None or w == word]

    def chain(self, stage):
        """The stage and the stages it is built FROM, nearest first, and the external base image."""
        out = []
        while stage in self.stages:
            out.append(stage)
            stage = self.stages[stage]["from"]
        return out, stage

    def built_from(self, stage, ancestor):
        """Whether `stage` is `ancestor` or built FROM it, through any number of stages."""
        return ancestor in self.chain(stage)[0]

    def effective(self, stage, word):
        """The last `word` instruction (USER, ENTRYPOINT...) in force in a stage, inherited or its own."""
        for name in self.chain(stage)[0]:
            found = self.steps(name, word)
            if found:
                return found[-1]
        return None

    def builder(self):
        """The stage that runs cargo build."""
        return next((n for n in self.stages if any("cargo build" in r for r in self.steps(n, "RUN"))), None)


class Chart:
    """What the chart says the images must agree with."""

    def __init__(self, root):
        self.path = root / "deploy/helm/tocsin"
        helpers = (self.path / "templates/_helpers.tpl").read_text()
        workload = (self.path / "templates/_workload.tpl").read_text()
        values = (self.path / "values.yaml").read_text()
        self.uid = re.search(r"runAsUser: (\d+)", helpers)[1]
        self.gid = re.search(r"runAsGroup: (\d+)", helpers)[1]
        self.listen = re.search(r'name: LISTEN_ADDR\s+value: "([^"]+)"', helpers)[1]
        self.web_root = re.search(r"^\s+webRoot: (\S+)", values, re.MULTILINE)[1]
        self.runs_service_binaries = re.search(r'"(/usr/local/bin/tocsin-)%s"', workload) is not None


def check_builder(docker, root, check):
    """Dependencies from a recipe first (cached while no manifest changes), sources after."""
    builder = docker.builder()
    check(builder is not None, "a builder stage runs cargo build")
    if not builder:
        return
    steps = docker.stages[builder]["steps"]
    cook = next((i for i, (w, r) in enumerate(steps) if w == "RUN" and "cargo chef cook" in r), None)
    sources = next((i for i, (w, r) in enumerate(steps) if w == "COPY" and re.fullmatch(r"\.\s+\.", r)), None)
    check(cook is not None and sources is not None and cook < sources,
          "builder: cargo chef cook (dependency layer) before COPY . .")
    build = next(r for r in docker.steps(builder, "RUN") if "cargo build" in r)
    check("--release" in build and "--locked" in build, "builder: cargo build --release --locked")
    _, base = docker.chain(builder)
    rust_version = tomllib.loads((root / "Cargo.toml").read_text())["workspace"]["package"]["rust-version"]
    image_version = re.match(r"rust:([\d.]+)", base)
    check(image_version is not None and rust_version.startswith(image_version[1]),
          "builder: Rust image matches the workspace's rust-version", f"{base} vs rust-version {rust_version}")


def check_services(docker, chart, metadata, check):
    """One final stage per service; returns the runtime base images they use."""
    builder = docker.builder()
    runtime_bases = set()
    bins = {t["name"]: p["name"] for p in metadata["packages"] for t in p["targets"] if "bin" in t["kind"]}
    for service in SERVICES:
        binary = f"tocsin-{service}"
        path = f"/usr/local/bin/{binary}"
        check(bins.get(binary) == binary, f"{binary}: a binary of workspace package {binary}",
              f"binary targets: {sorted(bins)}")
        if service not in docker.stages:
            check(False, f"{service}: a final stage named {service}", f"stages: {list(docker.stages)}")
            continue
        names, base = docker.chain(service)
        runtime_bases.add(base)
        check(re.match(MINIMAL_BASE, base) is not None, f"{service}: minimal runtime base (distroless or debian slim)",
              base)
        check(not any(docker.steps(n, "RUN") for n in names),
              f"{service}: no RUN in the runtime stages (no package manager, no build tools)")
        user = docker.effective(service, "USER")
        check(user == f"{chart.uid}:{chart.gid}", f"{service}: USER {chart.uid}:{chart.gid} as the chart's "
              "runAsUser/runAsGroup", f"USER {user}")
        entry = docker.effective(service, "ENTRYPOINT")
        check(entry is not None and json.loads(entry) == [path], f"{service}: ENTRYPOINT [\"{path}\"]",
              f"ENTRYPOINT {entry}")
        copies = docker.steps(service, "COPY")
        sources = [m[1] for c in copies if (m := re.fullmatch(rf"--from=(\S+)\s+\S+/{binary}\s+{path}", c))]
        check(any(docker.built_from(s, builder) for s in sources),
              f"{service}: copies only its binary from the builder to {path}", f"COPY {copies}")
        env = " ".join(r for n in names for r in docker.steps(n, "ENV"))
        check(f"LISTEN_ADDR={chart.listen}" in env, f"{service}: LISTEN_ADDR={chart.listen} as the chart sets it")
    return runtime_bases


def postgres_server_majors(root):
    """The PostgreSQL server's major versions: the postgres module's default and any override."""
    terraform_text = "\n".join(p.read_text() for p in (root / "terraform").rglob("*.tf"))
    servers = [int(v) for v in re.findall(r'variable "postgres_version" \{[^}]*?default\s*=\s*"(\d+)"', terraform_text)]
    servers += [int(v) for v in re.findall(r'^\s*postgres_version\s*=\s*"?(\d+)', terraform_text, re.MULTILINE)]
    return servers


def check_backup(docker, chart, root, check):
    """The backup image: not a service (no Cargo binary, not FROM runtime), a shell script around
    pg_dump and azcopy for the chart's backup CronJob, checked against the CronJob and the script."""
    if "backup" not in docker.stages:
        check(False, "backup: a final stage named backup (the chart's backup CronJob)",
              f"stages: {list(docker.stages)}")
        return
    names, base = docker.chain("backup")
    steps = [(w, r) for n in names for w, r in docker.stages[n]["steps"]]
    check(re.match(MINIMAL_BASE, base) is not None, "backup: minimal base (distroless or debian slim)", base)
    user = docker.effective("backup", "USER")
    check(user == f"{chart.uid}:{chart.gid}", f"backup: USER {chart.uid}:{chart.gid} as the chart's "
          "runAsUser/runAsGroup", f"USER {user}")
    cronjob_path = chart.path / "templates/backup-cronjob.yaml"
    cronjob = cronjob_path.read_text() if cronjob_path.exists() else ""
    command = re.search(r'command: \["([^"]+)"\]', cronjob)
    entry = docker.effective("backup", "ENTRYPOINT")
    check(command is not None and entry is not None and json.loads(entry) == [command[1]],
          "backup: ENTRYPOINT is the command the chart's CronJob runs",
          f"ENTRYPOINT {entry}, chart {command and command[1]}")
    copies = [r for w, r in steps if w == "COPY"]
    check(command is not None and f"deploy/backup/backup.sh {command[1]}" in copies,
          "backup: deploy/backup/backup.sh copied to that path", f"COPY {copies}")
    check((root / "deploy/backup/backup.sh").exists(), "backup: deploy/backup/backup.sh exists")
    runs = " ".join(r for w, r in steps if w == "RUN")
    major = re.search(r"postgresql-client-(\d+|\$\{POSTGRES_CLIENT_MAJOR\})", runs)
    client = docker.args.get("POSTGRES_CLIENT_MAJOR") if major and major[1].startswith("$") else (
        major[1] if major else None)
    # pg_dump refuses a server newer than itself: the client must be at least the server's major.
    servers = postgres_server_majors(root)
    check(bool(servers), "terraform: the PostgreSQL server's major version is found (postgres_version)")
    servers = servers or [0]
    check(client is not None and int(client) >= max(servers),
          f"backup: postgresql-client {client} is at least the server's major version {max(servers)}")
    check("--no-install-recommends" in runs and "rm -rf /var/lib/apt/lists" in runs,
          "backup: apt-get without recommends, lists removed")
    check(any(re.fullmatch(r"--from=\S+\s+\S*/azcopy\s+/usr/local/bin/azcopy", c) for c in copies),
          "backup: azcopy in /usr/local/bin", f"COPY {copies}")
    check(not any(w == "RUN" and re.search(r"\b(gcc|make|build-essential|golang|cargo)\b", r) for w, r in steps),
          "backup: no build tools installed in the final image")


def check_dashboard(docker, chart, check):
    """The dashboard: built in a Node stage, copied to query.webRoot, which WEB_ROOT names too."""
    if "query" not in docker.stages:
        return
    builder = docker.builder()
    copies = [m for r in docker.steps("query", "COPY") if (m := re.fullmatch(r"--from=(\S+)\s+(\S+)\s+(\S+)", r))]
    web_copy = [m for m in copies if not docker.built_from(m[1], builder)]
    m = web_copy[0] if web_copy else None
    check(m is not None and m[2].endswith("/dist") and m[3] == chart.web_root,
          f"query: copies the dashboard build (dist/) to {chart.web_root} (the chart's query.webRoot)",
          f"COPY {[c[0] for c in copies]}")
    if m is not None and m[1] in docker.stages:
        names, base = docker.chain(m[1])
        runs = " ".join(docker.steps(names[-1], "RUN"))
        check(base.startswith("node:") and "npm ci" in runs and "npm run build" in runs,
              "web: node image, npm ci, npm run build")
    check(any(f"WEB_ROOT={chart.web_root}" in r for r in docker.steps("query", "ENV")),
          f"query: ENV WEB_ROOT={chart.web_root}")


def check_artifact_choices(docker, check):
    """Each stage built FROM `<name>-${ARTIFACTS}`: a stage for every value, and by default the one
    that compiles (so CI and releases never copy a host's files)."""
    choosers = {n: s["written"] for n, s in docker.stages.items() if "${ARTIFACTS}" in s["written"]}
    check(bool(choosers) and docker.args.get("ARTIFACTS") == "source",
          "ARTIFACTS chooses the final stages' files, compiled here by default",
          f"ARTIFACTS={docker.args.get('ARTIFACTS')}, stages {sorted(choosers)}")
    for name, written in choosers.items():
        missing = [v for v in ARTIFACTS if written.replace("${ARTIFACTS}", v) not in docker.stages]
        check(not missing, f"{name}: a stage for each ARTIFACTS value ({', '.join(ARTIFACTS)})",
              f"none for {missing}")


def same_debian(builder_base, runtime_bases):
    """Whether the builder's Debian release is every runtime's (the binaries need its glibc)."""
    return bool(runtime_bases) and all(
        ("bookworm" in builder_base) == ("debian12" in b or "bookworm" in b) for b in runtime_bases)


def dockerignore_entries(text):
    """The paths .dockerignore names, without leading `*/` or trailing `/`."""
    return {line.strip().rstrip("/").lstrip("*/") for line in text.splitlines()
            if line.strip() and not line.startswith("#")}


def check_images(root, metadata, report):
    check = report.check
    docker = Dockerfile((root / "Dockerfile").read_text())
    chart = Chart(root)
    check(len(docker.stages) >= 3, "Dockerfile is multi-stage", f"{len(docker.stages)} stage(s)")
    check_builder(docker, root, check)
    runtime_bases = check_services(docker, chart, metadata, check)
    check_backup(docker, chart, root, check)
    check(chart.runs_service_binaries, "the chart runs /usr/local/bin/tocsin-<service>")
    check('"/usr/local/bin/tocsin-incident-core"' in (chart.path / "templates/migrate-job.yaml").read_text(),
          "the chart's migration Job runs /usr/local/bin/tocsin-incident-core")
    check_dashboard(docker, chart, check)
    check_artifact_choices(docker, check)
    builder = docker.builder()
    if builder:
        _, builder_base = docker.chain(builder)
        check(same_debian(builder_base, runtime_bases), "builder and runtime on the same Debian release (glibc)",
              f"{builder_base} vs {sorted(runtime_bases)}")
    ignored = dockerignore_entries((root / ".dockerignore").read_text())
    for entry in ["target", "node_modules", ".local", ".git"]:
        check(entry in ignored, f".dockerignore excludes {entry}")


def main(argv):
    report = Report()
    check_images(Path(argv[1]), json.loads(os.environ["CARGO_METADATA"]), report)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
