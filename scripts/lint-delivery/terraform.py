"""What `terraform validate` would catch without the providers, and the environments' wiring.

Usage: terraform.py TERRAFORM_DIR

Every reference resolved (variables, locals, module outputs, resources, data sources) and every
module call's arguments matching the module's variables; every provider a module uses declared in
its versions.tf; every variable and output described; each environment's <env>.tfvars sets each
required variable of terraform/environment and nothing else, names itself, and has an
<env>.backend.hcl with a state of its own; Redis is one the bus can use (Azure Managed Redis,
non-clustered, NoEviction, TLS, a private endpoint; AOF persistence in production). Needs
python-hcl2. One "ok:"/"FAIL:" line per check (report.py).
"""

import re
import sys
from pathlib import Path

import hcl2

from report import Report

# Arguments of a module block that are Terraform's, not the module's variables.
META = {"source", "version", "providers", "depends_on", "count", "for_each", "__is_block__"}
PROVIDERS = {"azuread", "azurerm", "random", "time"}


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
    """What a configuration declares: variables, locals, outputs, modules (with their bodies),
    resources and data sources (as `type.name`)."""
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


def unresolved(directory, blocks, decl, tf):
    """The references of a configuration that nothing declares, sorted, without repeats.

    `decl` holds what every parsed configuration declares, so that a module output is looked up
    in the module.
    """
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
    return sorted(set(problems))


def module_arguments(body, variables):
    """(unknown, missing): arguments of a module call that are not the module's variables, and
    the module's variables without a default that the call leaves unset."""
    given = {k for k in body if k not in META}
    unknown = sorted(given - set(variables))
    missing = sorted(v for v, spec in variables.items() if "default" not in spec and v not in given)
    return unknown, missing


def variables_of(blocks):
    return {unquote(var): spec for item in blocks.get("variable", []) for var, spec in item.items()}


def check_configurations(tf, parsed, check):
    decl = {d: declared(b) for d, b in parsed.items()}
    for directory, blocks in parsed.items():
        rel = directory.relative_to(tf)
        d = decl[directory]
        problems = unresolved(directory, blocks, decl, tf)
        check(not problems, f"{rel}: every reference resolves", "; ".join(problems))

        for name, body in d["module"].items():
            source = (directory / unquote(body["source"])).resolve()
            if source not in parsed:
                check(False, f"{rel}: module.{name} source exists", str(source))
                continue
            unknown, missing = module_arguments(body, variables_of(parsed[source]))
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

        undocumented = [f"variable {unquote(k)}" for item in blocks.get("variable", []) for k, v in item.items()
                        if not v.get("description")]
        undocumented += [f"output {unquote(k)}" for item in blocks.get("output", []) for k, v in item.items()
                         if not v.get("description")]
        check(not undocumented, f"{rel}: every variable and output has a description", ", ".join(undocumented))


def check_environments(tf, parsed, check):
    """Staging and production are terraform/environment with a tfvars file and a state each: the
    tfvars set every variable without a default and no undeclared one, and name their own
    environment; each has a backend file whose state key is its own."""
    environment = tf / "environment"
    variables = variables_of(parsed.get(environment, {}))
    required = {name for name, spec in variables.items() if "default" not in spec}
    tfvars = sorted(environment.glob("*.tfvars"))
    check({p.stem for p in tfvars} >= {"staging", "production"},
          "environment: staging.tfvars and production.tfvars exist", f"found {[p.name for p in tfvars]}")
    state_keys = {}
    for path in tfvars:
        with path.open() as f:
            values = {k: unquote(v) if isinstance(v, str) else v for k, v in hcl2.load(f).items()
                      if not k.startswith("__")}
        unknown, missing = sorted(set(values) - set(variables)), sorted(required - set(values))
        check(not unknown and not missing,
              f"environment/{path.name}: sets every required variable and only declared ones",
              f"unknown {unknown}, missing {missing}")
        check(values.get("environment") == path.stem, f"environment/{path.name}: environment = \"{path.stem}\"",
              f"it says {values.get('environment')!r}")
        backend = environment / f"{path.stem}.backend.hcl"
        if not backend.is_file():
            check(False, f"environment/{backend.name} exists")
            continue
        with backend.open() as f:
            key = unquote(hcl2.load(f).get("key", ""))
        check(key == f"{path.stem}.tfstate", f"environment/{backend.name}: state key {path.stem}.tfstate",
              f"key is {key!r}")
        state_keys[path.stem] = key
    check(len(set(state_keys.values())) == len(state_keys), "environments: no two share a state", str(state_keys))


def resources_of(parsed, directory):
    """The resources of a configuration by `type.name`, with their bodies."""
    found = {}
    for item in parsed.get(directory, {}).get("resource", []):
        for rtype, named in item.items():
            for name, body in named.items():
                found[f"{unquote(rtype)}.{unquote(name)}"] = body
    return found


def check_redis(tf, parsed, check):
    """The Redis the services get. The bus needs Redis 6.2 or newer (XADD ... MINID, XPENDING ...
    IDLE, exclusive XRANGE), every key of one MULTI/EXEC or script in one place (a stream and its
    dead-letter stream are two hash slots), and no eviction. Azure Cache for Redis serves "6" as
    Redis 6.0; Azure Managed Redis (Redis 7.4), non-clustered, fits."""
    redis = resources_of(parsed, tf / "modules" / "redis")
    caches = sorted(r for r in redis if r.startswith("azurerm_redis_cache."))
    check(not caches, "redis: no Azure Cache for Redis (it serves Redis 6.0, the bus needs 6.2 or newer)",
          ", ".join(caches))
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
                    for connection in body.get("private_service_connection", [])
                    for name in connection.get("subresource_names", [])}
    check(subresources == {"redisEnterprise"}, "redis: the private endpoint connects to redisEnterprise",
          str(sorted(subresources)))
    zones = {unquote(str(body.get("name"))) for r, body in resources_of(parsed, tf / "modules" / "network").items()
             if r.startswith("azurerm_private_dns_zone.")}
    check("privatelink.redis.azure.net" in zones,
          "network: the private DNS zone of Azure Managed Redis (privatelink.redis.azure.net)", str(sorted(zones)))
    # Production keeps every write acknowledged a second ago, not the last hourly snapshot.
    production = tf / "environment" / "production.tfvars"
    if production.is_file():
        with production.open() as f:
            settings = hcl2.load(f).get("redis", {})
        check(unquote(str(settings.get("persistence", ""))) == "aof",
              "environment/production.tfvars: Redis persistence is aof", str(settings))


def check_terraform(tf, report):
    check = report.check
    roots = [tf / "bootstrap", tf / "shared", tf / "environment"]
    modules = sorted(p for p in (tf / "modules").iterdir() if p.is_dir())
    parsed = {}
    for directory in roots + modules:
        try:
            parsed[directory] = load(directory)
        except Exception as error:  # noqa: BLE001 - a syntax error: fmt reports it too, say where
            check(False, f"{directory.relative_to(tf)}: parses", str(error).splitlines()[0])
    check_configurations(tf, parsed, check)
    check_environments(tf, parsed, check)
    check_redis(tf, parsed, check)


def main(argv):
    check_terraform(Path(argv[1]).resolve(), Report())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
