"""The service list the same wherever it is written, and the shape of the issue forms and the
pull-request template.

Usage: workflows.py ROOT

The four services are named in the Dockerfile, the chart's image repositories, the release workflow
and `make images`, which must agree; the auxiliary images (the backup job) are built and pushed like
them but are not services. Needs PyYAML. One "ok:"/"FAIL:" line per check (report.py).
"""

import re
import sys
from pathlib import Path

import yaml

from report import Report

# Built and pushed like the services but not one: the backup job's image, the Dockerfile's `backup`
# target (checked by images.py).
AUXILIARY = {"backup"}
FIELD_TYPES = {"markdown", "textarea", "input", "dropdown", "checkboxes"}


def chart_services(values):
    """The services of the chart's values: each top-level block with an image repository."""
    return {v["image"]["repository"].removeprefix("tocsin-") for k, v in values.items()
            if k not in AUXILIARY and isinstance(v, dict) and isinstance(v.get("image"), dict)
            and "repository" in v["image"]}


def make_images(makefile):
    """The images `make images` builds, or an empty set when its loop is not found."""
    loop = re.search(r"^images:.*?for svc in ([^;]+);", makefile, re.MULTILINE | re.DOTALL)
    return set(loop[1].split()) if loop else set()


def issue_form_ok(data):
    """An issue form has a name, a description and fields of known types with unique ids."""
    body = data.get("body") or []
    ids = [item.get("id") for item in body if item.get("type") != "markdown"]
    return bool(all(data.get(k) for k in ("name", "description")) and body and all(ids)
                and len(ids) == len(set(ids)) and all(item.get("type") in FIELD_TYPES for item in body))


def check_workflows(root, report):
    check = report.check
    dockerfile = set(re.findall(r"^FROM runtime AS (\S+)", (root / "Dockerfile").read_text(), re.MULTILINE))
    chart = chart_services(yaml.safe_load((root / "deploy/helm/tocsin/values.yaml").read_text()))
    release = yaml.safe_load((root / ".github/workflows/release.yml").read_text())
    workflow = set(release["env"]["SERVICES"].split())
    built = make_images((root / "Makefile").read_text())
    make = built - AUXILIARY
    check(dockerfile == chart == workflow == make and len(chart) == 4,
          "the same four services in the Dockerfile, the chart's image repositories, release.yml and `make images`",
          f"Dockerfile {sorted(dockerfile)}, chart {sorted(chart)}, release {sorted(workflow)}, make {sorted(make)}")
    auxiliary_release = set(release["env"].get("AUXILIARY_IMAGES", "").split())
    auxiliary_make = built & AUXILIARY
    check(auxiliary_release == auxiliary_make == AUXILIARY,
          "the backup image is built by `make images` and pushed by release.yml",
          f"release {sorted(auxiliary_release)}, make {sorted(auxiliary_make)}")

    forms = sorted((root / ".github/ISSUE_TEMPLATE").glob("*.yml"))
    for form in forms:
        data = yaml.safe_load(form.read_text())
        if form.name == "config.yml":
            check(isinstance(data.get("blank_issues_enabled"), bool), f"{form.name}: issue template chooser settings")
            continue
        check(issue_form_ok(data), f"{form.name}: issue form with name, description and uniquely identified fields")
    check(len(forms) >= 2, "issue templates present (bug report, feature request)")
    template = (root / ".github/PULL_REQUEST_TEMPLATE.md").read_text()
    check("Closes #" in template and len(re.findall(r"^- \[ \] ", template, re.MULTILINE)) >= 4,
          "PULL_REQUEST_TEMPLATE.md: links the issue, has the checklist")


def main(argv):
    check_workflows(Path(argv[1]), Report())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
