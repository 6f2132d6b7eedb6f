"""Validates rendered manifests offline against the Kubernetes OpenAPI schemas.

Usage: validate.py --kubernetes-version 1.30 FILE.yaml...

Every object is checked with kubernetes-validate in strict mode (unknown fields are errors, as a
typo in a template would be silently dropped by the API server). Custom resources whose CRDs
have no upstream schema (Prometheus Operator, KEDA) are skipped and listed; any other object
without a schema is an error. Exit status 1 if anything is invalid.
"""

import argparse
import sys

import kubernetes_validate
import yaml

# API groups of the custom resources the chart can render. Their schemas ship with their
# operators, not with Kubernetes, so kubernetes-validate cannot check them.
CRD_GROUPS = ("monitoring.coreos.com/", "keda.sh/")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kubernetes-version", required=True)
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()

    failed = 0
    for path in args.files:
        with open(path, encoding="utf-8") as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        valid, skipped = 0, []
        for doc in docs:
            name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
            try:
                kubernetes_validate.validate(doc, args.kubernetes_version, strict=True)
                valid += 1
            except kubernetes_validate.SchemaNotFoundError:
                if str(doc.get("apiVersion", "")).startswith(CRD_GROUPS):
                    skipped.append(f"{name} ({doc['apiVersion']})")
                else:
                    failed += 1
                    print(f"  INVALID {path}: {name}: no schema for {doc.get('apiVersion')} in "
                          f"Kubernetes {args.kubernetes_version}", file=sys.stderr)
            except kubernetes_validate.ValidationError as e:
                failed += 1
                where = "/".join(str(p) for p in e.path)
                print(f"  INVALID {path}: {name}: {where}: {e.message}", file=sys.stderr)
        line = f"  {path.rsplit('/', 1)[-1]}: {valid}/{len(docs)} objects valid"
        if skipped:
            line += f"; {len(skipped)} custom resources not checked (no upstream schema): " + ", ".join(skipped)
        print(line, file=sys.stderr)
    if failed:
        print(f"  {failed} invalid objects against Kubernetes {args.kubernetes_version}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
