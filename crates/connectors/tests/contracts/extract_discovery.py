#!/usr/bin/env python3
"""Cuts the methods a contract test needs out of a Google API discovery document, with every
schema their requests and responses reference, into one small JSON file kept in the repository.

    extract_discovery.py DISCOVERY.json OUT.json "SOURCE" "LICENSE" RESOURCE.METHOD [...]
"""
import json
import sys

doc_path, out_path, source, licence, *wanted = sys.argv[1:]
doc = json.load(open(doc_path))
schemas = doc["schemas"]
kept_schemas, methods = {}, {}


def walk(node):
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref not in kept_schemas:
            kept_schemas[ref] = schemas[ref]
            walk(schemas[ref])
        for value in node.values():
            walk(value)
    elif isinstance(node, list):
        for value in node:
            walk(value)


for name in wanted:
    resource, method = name.split(".")
    found = doc["resources"][resource]["methods"][method]
    methods[name] = {key: found[key] for key in
                     ("path", "httpMethod", "parameters", "request", "response") if key in found}
    walk(methods[name])
json.dump({"source": source, "license": licence, "rootUrl": doc["rootUrl"],
           "servicePath": doc["servicePath"], "methods": methods,
           "schemas": dict(sorted(kept_schemas.items()))},
          open(out_path, "w"), indent=1)
open(out_path, "a").write("\n")
