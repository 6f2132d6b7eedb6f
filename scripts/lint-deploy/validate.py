"""Validates rendered manifests offline against the Kubernetes OpenAPI schemas.

Usage: validate.py --kubernetes-version 1.30 [--crds DIR]... FILE.yaml...

Every object is checked with kubernetes-validate in strict mode (unknown fields are errors, as a
typo in a template would be silently dropped by the API server). Objects of a CRD found in a
--crds folder (the Gateway API's, from its Go module: scripts/lint-deploy.sh) are checked against
that CRD's openAPIV3Schema for their version, as strictly: a field the schema does not name is an
error. Custom resources whose CRDs have no upstream schema (Prometheus Operator, KEDA) are skipped
and listed; any other object without a schema is an error. Exit status 1 if anything is invalid.
"""

import argparse
import glob
import os
import sys

import jsonschema
import kubernetes_validate
import yaml

# API groups of the custom resources the chart can render. Their schemas ship with their
# operators, not with Kubernetes, so kubernetes-validate cannot check them.
CRD_GROUPS = ("monitoring.coreos.com/", "azmonitoring.coreos.com/", "keda.sh/")


def strict(schema):
    """The schema with unknown fields refused wherever it names the fields, as the API server
    drops them (pruning) and kubernetes-validate's strict mode refuses them."""
    if isinstance(schema, dict):
        schema = {k: strict(v) for k, v in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema and not schema.get(
                "x-kubernetes-preserve-unknown-fields"):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


def crd_schemas(folders):
    """(apiVersion, kind) -> validator, for every served version of the CRDs in `folders`."""
    schemas = {}
    for path in sorted(p for folder in folders for p in glob.glob(os.path.join(folder, "*.yaml"))):
        with open(path, encoding="utf-8") as f:
            for crd in yaml.safe_load_all(f):
                if not crd or crd.get("kind") != "CustomResourceDefinition":
                    continue
                spec = crd["spec"]
                for version in spec["versions"]:
                    if version.get("served"):
                        schema = strict(version["schema"]["openAPIV3Schema"])
                        # metadata is the API server's ObjectMeta, checked by it, not by the CRD.
                        schema["properties"]["metadata"] = {"type": "object"}
                        schemas[(f"{spec['group']}/{version['name']}", spec["names"]["kind"])] = \
                            jsonschema.Draft7Validator(schema)
    return schemas


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kubernetes-version", required=True)
    parser.add_argument("--crds", action="append", default=[], help="a folder of CRD manifests")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    crds = crd_schemas(args.crds)
    if args.crds and not crds:
        print(f"  no CRD found in {args.crds}", file=sys.stderr)
        return 1

    failed = 0
    for path in args.files:
        with open(path, encoding="utf-8") as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        valid, skipped = 0, []
        for doc in docs:
            name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
            crd = crds.get((doc.get("apiVersion"), doc.get("kind")))
            if crd is not None:
                errors = sorted(crd.iter_errors(doc), key=lambda e: list(e.path))
                for e in errors:
                    where = "/".join(str(p) for p in e.path)
                    print(f"  INVALID {path}: {name}: {where}: {e.message} (its CRD's schema)", file=sys.stderr)
                failed += len(errors)
                valid += not errors
                continue
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
