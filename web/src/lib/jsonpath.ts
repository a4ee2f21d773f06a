import { findNodeAtLocation, parseTree, type Node } from "jsonc-parser";

/** `$.steps[0].inputs.url` → `["steps", 0, "inputs", "url"]`. */
export function segments(path: string): (string | number)[] {
  const out: (string | number)[] = [];
  const pattern = /\.([^.[\]]+)|\[(\d+)\]|\["([^"]*)"\]/g;
  for (const match of path.replace(/^\$/, "").matchAll(pattern)) {
    if (match[1] !== undefined) out.push(match[1]);
    else if (match[2] !== undefined) out.push(Number(match[2]));
    else out.push(match[3]);
  }
  return out;
}

/**
 * The 1-based line of `text` where the value at a problem's JSON path is (or, when that value
 * does not exist, the nearest enclosing one that does); `null` when the text is not JSON.
 */
export function lineOf(text: string, path: string): number | null {
  const tree = parseTree(text);
  if (!tree) return null;
  let parts = segments(path);
  let node: Node | undefined = findNodeAtLocation(tree, parts);
  while (!node && parts.length > 0) {
    parts = parts.slice(0, -1);
    node = findNodeAtLocation(tree, parts);
  }
  if (!node) return null;
  // A property's value points at its key's line, where a person looks for it.
  const at = node.parent?.type === "property" ? node.parent.offset : node.offset;
  return text.slice(0, at).split("\n").length;
}
