#!/usr/bin/env python3
"""Cuts the schemas a contract test needs out of a provider's OpenAPI document, with every
schema they reference, into one small JSON file kept in the repository.

    extract.py SPEC.json OUT.json "SOURCE" "LICENSE" SCHEMA [SCHEMA ...]
"""
import json
import sys

spec_path, out_path, source, licence, *roots = sys.argv[1:]
schemas = json.load(open(spec_path))["components"]["schemas"]
kept = {}


def walk(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/components/schemas/"):
                name = value.rsplit("/", 1)[1]
                if name not in kept:
                    kept[name] = schemas[name]
                    walk(schemas[name])
            else:
                walk(value)
    elif isinstance(node, list):
        for value in node:
            walk(value)


for root in roots:
    kept[root] = schemas[root]
    walk(schemas[root])
json.dump(
    {"source": source, "license": licence, "roots": roots,
     "components": {"schemas": dict(sorted(kept.items()))}},
    open(out_path, "w"), indent=1, sort_keys=False)
open(out_path, "a").write("\n")
