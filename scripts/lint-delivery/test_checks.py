"""Tests of the delivery checkers themselves: that each finds the faults it is there for.

Run by scripts/lint-delivery.sh before the checks, with the venv's Python (PyYAML, python-hcl2).
The image tests run images.py on a copy of the files it reads, with one thing broken at a time;
the rest run the parsers on small texts written here. Same runner as
scripts/lint-deploy/test_chart.py: every `test_` function, "N passed, N failed" last, exit status 1
when any failed.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# The checkers, found beside this file: Python puts a script's own directory first on its path.
import images
import installed
import terraform
import workflows
from report import Report, line

# The shared runner, in scripts/lib/.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))
import test_runner  # noqa: E402 - found only once its directory is on the path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

# What images.py reads, besides the terraform files.
IMAGE_INPUTS = [
    "Dockerfile", ".dockerignore", "Cargo.toml", "deploy/backup/backup.sh",
    "deploy/helm/tocsin/values.yaml", "deploy/helm/tocsin/templates/_helpers.tpl",
    "deploy/helm/tocsin/templates/_workload.tpl", "deploy/helm/tocsin/templates/migrate-job.yaml",
    "deploy/helm/tocsin/templates/backup-cronjob.yaml",
]
SERVICE_BINARIES = {"packages": [
    {"name": f"tocsin-{s}", "targets": [{"name": f"tocsin-{s}", "kind": ["bin"]}]} for s in images.SERVICES]}


def copy_of_repository(directory):
    """The files images.py reads, copied under `directory`."""
    for relative in IMAGE_INPUTS:
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / relative, target)
    shutil.copytree(ROOT / "terraform", directory / "terraform", ignore=shutil.ignore_patterns(".terraform"))
    return directory


def image_failures(edit=None, metadata=SERVICE_BINARIES):
    """The FAIL lines of images.py on a copy of the repository, after `edit(copy)`."""
    with tempfile.TemporaryDirectory() as scratch:
        root = copy_of_repository(Path(scratch))
        if edit:
            edit(root)
        report = Report(out=lambda _: None)
        images.check_images(root, metadata, report)
        return report.failures


def replace_in(path, old, new):
    text = path.read_text()
    assert old in text, f"{old!r} is not in {path.name}: the test no longer matches the file"
    path.write_text(text.replace(old, new, 1))


def test_a_passing_check_is_one_ok_line_and_a_failing_one_says_why():
    assert line(True, "x", "never shown") == "ok: x"
    assert line(False, "x", "because") == "FAIL: x (because)"
    assert line(False, "x") == "FAIL: x"
    printed = []
    report = Report(out=printed.append)
    report.check(True, "a")
    report.check(False, "b", "c")
    assert printed == ["ok: a", "FAIL: b (c)"] and report.failures == ["FAIL: b (c)"]


def test_dockerfile_instructions_join_continuations_and_drop_comments():
    text = "# a comment\nFROM rust:1 AS chef\nRUN a \\\n    b\n\n  # indented comment\nrun c\n"
    assert images.instructions(text) == [("FROM", "rust:1 AS chef"), ("RUN", "a      b"), ("RUN", "c")]


def test_dockerfile_stages_resolve_args_and_inherit_user_and_entrypoint():
    docker = images.Dockerfile(
        "ARG V=1.2\nFROM base:${V} AS one\nUSER 1:1\nENTRYPOINT [\"/x\"]\n"
        "FROM one AS two\nUSER 2:2\nFROM scratch\nCOPY a b\n")
    assert docker.args == {"V": "1.2"}
    assert docker.chain("two") == (["two", "one"], "base:1.2")
    assert docker.effective("two", "USER") == "2:2", "a stage's own USER wins"
    assert docker.effective("two", "ENTRYPOINT") == '["/x"]', "inherited from the stage it is built FROM"
    assert docker.effective("two", "WORKDIR") is None
    assert "#2" in docker.stages, "a stage without a name is named by its index"


def test_images_checker_passes_on_the_repository():
    assert image_failures() == []


def test_images_checker_finds_a_service_stage_that_runs_as_root():
    failures = image_failures(lambda root: replace_in(root / "Dockerfile", "USER 10001:10001", "USER 0:0"))
    assert any("ingest: USER 10001:10001" in f and "USER 0:0" in f for f in failures), failures


def test_images_checker_finds_build_tools_in_a_runtime_stage():
    failures = image_failures(
        lambda root: replace_in(root / "Dockerfile", "FROM runtime AS notifier\n",
                                "FROM runtime AS notifier\nRUN apt-get install -y gcc\n"))
    assert any(f.startswith("FAIL: notifier: no RUN in the runtime stages") for f in failures), failures


def test_images_checker_finds_a_listen_port_the_chart_does_not_use():
    def move_port(root):
        helpers = root / "deploy/helm/tocsin/templates/_helpers.tpl"
        replace_in(helpers, "0.0.0.0:8080", "0.0.0.0:9999")
    failures = image_failures(move_port)
    assert any("LISTEN_ADDR=0.0.0.0:9999 as the chart sets it" in f for f in failures), failures


def test_images_checker_finds_a_service_without_its_binary():
    metadata = {"packages": SERVICE_BINARIES["packages"][1:]}
    failures = image_failures(metadata=metadata)
    assert any("tocsin-ingest: a binary of workspace package tocsin-ingest" in f for f in failures), failures


def test_images_checker_finds_a_pg_dump_older_than_the_server():
    failures = image_failures(lambda root: replace_in(root / "Dockerfile", "POSTGRES_CLIENT_MAJOR=17",
                                                      "POSTGRES_CLIENT_MAJOR=15"))
    assert any("backup: postgresql-client 15 is at least the server's major version" in f for f in failures), failures


def test_images_checker_finds_a_service_that_copies_from_a_stage_other_than_the_build():
    failures = image_failures(lambda root: replace_in(root / "Dockerfile", "COPY --from=binaries /out/tocsin-notifier",
                                                      "COPY --from=dashboard /out/tocsin-notifier"))
    assert any("notifier: copies only its binary from the builder" in f for f in failures), failures


def test_images_checker_finds_an_artifacts_choice_without_its_prebuilt_stage():
    failures = image_failures(lambda root: replace_in(root / "Dockerfile", "AS azcopy-prebuilt", "AS azcopy-host"))
    assert any("azcopy-binary: a stage for each ARTIFACTS value" in f and "prebuilt" in f for f in failures), failures


def test_images_checker_finds_images_that_copy_the_host_build_by_default():
    failures = image_failures(lambda root: replace_in(root / "Dockerfile", "ARG ARTIFACTS=source",
                                                      "ARG ARTIFACTS=prebuilt"))
    assert any("ARTIFACTS chooses the final stages' files, compiled here by default" in f for f in failures), failures


def test_images_checker_finds_a_dockerignore_that_lets_the_target_directory_in():
    def drop_target(root):
        path = root / ".dockerignore"
        kept = [entry for entry in path.read_text().splitlines(keepends=True) if entry.strip() != "target/"]
        path.write_text("".join(kept))
    assert image_failures(drop_target) == ["FAIL: .dockerignore excludes target"]


def test_same_debian_needs_the_builders_release_everywhere():
    assert images.same_debian("rust:1-bookworm", {"gcr.io/distroless/cc-debian12:nonroot", "debian:bookworm-slim"})
    assert not images.same_debian("rust:1-bookworm", {"gcr.io/distroless/cc-debian11"})
    assert not images.same_debian("rust:1-bookworm", set()), "no runtime at all is not a match"


def test_workflows_helpers_read_the_service_lists():
    values = {"ingest": {"image": {"repository": "tocsin-ingest"}}, "backup": {"image": {"repository": "tocsin-backup"}},
              "replicas": 2, "query": {"image": {"tag": "x"}}}
    assert workflows.chart_services(values) == {"ingest"}
    makefile = "images:\n\t@for svc in ingest query backup; do \\\n\t\techo $$svc; \\\n\tdone\n"
    assert workflows.make_images(makefile) == {"ingest", "query", "backup"}
    assert workflows.make_images("build:\n\tcargo build\n") == set()


def test_workflows_issue_forms_need_unique_field_ids():
    form = {"name": "Bug", "description": "d", "body": [
        {"type": "markdown"}, {"type": "textarea", "id": "what"}, {"type": "input", "id": "version"}]}
    assert workflows.issue_form_ok(form)
    assert not workflows.issue_form_ok({**form, "body": form["body"] + [{"type": "input", "id": "what"}]})
    assert not workflows.issue_form_ok({**form, "body": [{"type": "textarea"}]}), "a field without an id"
    assert not workflows.issue_form_ok({**form, "body": [{"type": "slider", "id": "x"}]})
    assert not workflows.issue_form_ok({**form, "description": ""})


def test_workflows_checker_passes_on_the_repository():
    report = Report(out=lambda _: None)
    workflows.check_workflows(ROOT, report)
    assert report.failures == [] and len(report.lines) >= 5, report.lines


def write_configuration(directory, files):
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)


def test_terraform_references_to_nothing_are_found():
    with tempfile.TemporaryDirectory() as scratch:
        tf = Path(scratch)
        write_configuration(tf / "modules/db", {"main.tf": (
            'variable "name" {\n  description = "n"\n}\n'
            'output "id" {\n  description = "i"\n  value = var.name\n}\n')})
        write_configuration(tf / "env", {"main.tf": (
            'variable "region" {\n  description = "r"\n}\n'
            'module "db" {\n  source = "../modules/db"\n  name = var.regoin\n}\n'
            'output "db" {\n  description = "d"\n  value = module.db.url\n}\n'
            'output "ok" {\n  description = "d"\n  value = module.db.id\n}\n')})
        parsed = {d: terraform.load(d) for d in (tf / "modules/db", tf / "env")}
        decl = {d: terraform.declared(b) for d, b in parsed.items()}
        problems = terraform.unresolved(tf / "env", parsed[tf / "env"], decl, tf.resolve())
        assert problems == ["module.db.url: no such output in modules/db", "var.regoin undeclared"], problems
        assert terraform.unresolved(tf / "modules/db", parsed[tf / "modules/db"], decl, tf.resolve()) == []


def test_terraform_module_arguments_must_be_its_variables():
    variables = {"name": {"description": "n"}, "size": {"default": 1}}
    assert terraform.module_arguments({"source": "../m", "name": "x"}, variables) == ([], [])
    assert terraform.module_arguments({"source": "../m", "nmae": "x", "count": 1}, variables) == (["nmae"], ["name"])


def test_terraform_environments_must_set_their_variables_and_name_themselves():
    with tempfile.TemporaryDirectory() as scratch:
        tf = Path(scratch)
        write_configuration(tf / "environment", {
            "variables.tf": 'variable "environment" {\n  description = "e"\n}\n'
                            'variable "size" {\n  description = "s"\n  default = 1\n}\n',
            "staging.tfvars": 'environment = "staging"\n',
            "staging.backend.hcl": 'key = "staging.tfstate"\n',
            "production.tfvars": 'environment = "staging"\nsizes = 2\n',
            "production.backend.hcl": 'key = "staging.tfstate"\n'})
        parsed = {tf / "environment": terraform.load(tf / "environment")}
        report = Report(out=lambda _: None)
        terraform.check_environments(tf, parsed, report.check)
        assert report.failures == [
            ("FAIL: environment/production.tfvars: sets every required variable and only declared ones "
             "(unknown ['sizes'], missing [])"),
            "FAIL: environment/production.tfvars: environment = \"production\" (it says 'staging')",
            "FAIL: environment/production.backend.hcl: state key production.tfstate (key is 'staging.tfstate')",
            "FAIL: environments: no two share a state ({'production': 'staging.tfstate', 'staging': 'staging.tfstate'})",
        ], report.failures


def test_terraform_checker_passes_on_the_repository():
    report = Report(out=lambda _: None)
    terraform.check_terraform(ROOT / "terraform", report)
    assert report.failures == [] and len(report.lines) >= 30, report.lines


def test_installed_reads_pins_and_names_what_differs():
    pins = installed.pins("# tools\nPyYAML==6.0.3  # comment\n\nhcl==1\n")
    assert pins == [("PyYAML", "6.0.3"), ("hcl", "1")]
    versions = {"PyYAML": "6.0.3", "hcl": "2"}

    def version(name):
        if name not in versions:
            raise installed.PackageNotFoundError(name)
        return versions[name]
    assert installed.missing(pins + [("absent", "1")], version) == ["hcl==1 (have 2)", "absent==1 (have none)"]
    try:
        installed.pins("PyYAML>=6\n")
    except ValueError as error:
        assert "not pinned" in str(error)
    else:
        raise AssertionError("an unpinned requirement was accepted")


def test_checkers_run_as_scripts_and_print_one_line_per_check():
    env = {**os.environ, "CARGO_METADATA": json.dumps(SERVICE_BINARIES)}
    for script, argument in (("images.py", ROOT), ("workflows.py", ROOT), ("terraform.py", ROOT / "terraform")):
        done = subprocess.run([sys.executable, str(HERE / script), str(argument)], capture_output=True, text=True,
                              env=env, check=False)
        assert done.returncode == 0, f"{script}: {done.stderr}"
        lines = done.stdout.splitlines()
        assert lines and all(text.startswith(("ok: ", "FAIL: ")) for text in lines), f"{script}: {done.stdout}"


if __name__ == "__main__":
    sys.exit(test_runner.run(globals(), expected=(AssertionError,)))
