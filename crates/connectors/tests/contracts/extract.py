#!/usr/bin/env python3
"""Cuts the schemas a contract test needs out of a provider's OpenAPI document, with every
schema they reference, into one small JSON file kept in the repository.

    extract.py SPEC OUT "SOURCE" "LICENSE" SCHEMA [SCHEMA ...] [options]

SPEC may be JSON or YAML. Options:

    --operations "post /v1/customers" ...  also keep these operations (their parameters and
                                           request body, under "operations")
    --shallow                              keep only the named schemas: a reference from them
                                           to another becomes {} (not checked), so a
                                           document whose objects reference each other
                                           throughout stays small
    --nullable                             rewrite OpenAPI 3.0's `nullable: true` as JSON
                                           Schema's null type, so a validator accepts null there
    --fixtures FILE NAME ...               also keep these example objects from FILE's
                                           "resources" (under "fixtures")
"""
import json
import sys


def load(path):
    text = open(path).read()
    if path.endswith((".yaml", ".yml")):
        import yaml
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return json.loads(text)


args = sys.argv[1:]
spec_path, out_path, source, licence = args[:4]
roots, operations, fixture_names = [], [], []
fixtures_path = None
shallow = nullable = False
mode = "roots"
for arg in args[4:]:
    if arg == "--shallow":
        shallow = True
    elif arg == "--nullable":
        nullable = True
    elif arg == "--operations":
        mode = "operations"
    elif arg == "--fixtures":
        mode = "fixtures"
    elif mode == "roots":
        roots.append(arg)
    elif mode == "operations":
        operations.append(arg)
    elif fixtures_path is None:
        fixtures_path = arg
    else:
        fixture_names.append(arg)

spec = load(spec_path)
schemas = spec["components"]["schemas"]
kept = {}


def walk(node):
    """Keeps every schema `node` references (or, shallow, cuts the references)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[1]
            if shallow and name not in roots:
                return {"description": f"{ref}: not kept here, not checked"}
            if name not in kept:
                kept[name] = None
                kept[name] = walk(schemas[name])
            return node
        members = node.get("allOf")
        if nullable and isinstance(members, list) and {"nullable": True} in members:
            # OpenAPI 3.0's way to make a reference nullable: allOf [ref, {nullable: true}].
            rest = {**node, "allOf": [m for m in members if m != {"nullable": True}]}
            return {"anyOf": [walk(rest), {"type": "null"}]}
        out = {key: walk(value) for key, value in node.items()}
        if nullable and out.pop("nullable", False):
            if isinstance(out.get("type"), str):
                out["type"] = [out["type"], "null"]
                if "enum" in out:
                    out["enum"] = out["enum"] + [None]
            elif "anyOf" in out or "oneOf" in out:
                key = "anyOf" if "anyOf" in out else "oneOf"
                out[key] = out[key] + [{"type": "null"}]
            else:
                out = {"anyOf": [out, {"type": "null"}]}
        return out
    if isinstance(node, list):
        return [walk(value) for value in node]
    return node


for root in roots:
    kept[root] = walk(schemas[root])

kept_operations = {}
for operation in operations:
    method, path = operation.split(" ", 1)
    found = spec["paths"][path][method]
    kept_operations[operation] = walk({
        # The path's own parameters count for each of its operations.
        "parameters": spec["paths"][path].get("parameters", []) + found.get("parameters", []),
        "requestBody": found.get("requestBody", {}),
    })

out = {"source": source, "license": licence, "roots": roots,
       "components": {"schemas": dict(sorted(kept.items()))}}
if kept_operations and spec["components"].get("parameters"):
    # Parameters the operations share (a version header), kept whole: they are small.
    out["components"]["parameters"] = spec["components"]["parameters"]
if kept_operations:
    out["operations"] = kept_operations
if fixtures_path:
    resources = load(fixtures_path)["resources"]
    out["fixtures"] = {name: resources[name] for name in fixture_names}
json.dump(out, open(out_path, "w"), indent=1, sort_keys=False)
open(out_path, "a").write("\n")
