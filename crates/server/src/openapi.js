// Renders /api/v1/openapi.json as a list of operations by tag. No library, nothing fetched
// from anywhere but this server.
(async function () {
  const response = await fetch("/api/v1/openapi.json");
  const api = await response.json();
  const schemas = api.components.schemas;
  document.getElementById("about").textContent = api.info.description;
  const byTag = new Map();
  for (const [path, item] of Object.entries(api.paths)) {
    for (const [method, operation] of Object.entries(item)) {
      const tag = operation.tags[0];
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push({ path, method, operation });
    }
  }
  const element = (name, attributes, ...children) => {
    const node = document.createElement(name);
    Object.assign(node, attributes);
    for (const child of children) node.append(child);
    return node;
  };
  const resolve = (schema) => {
    const ref = schema && schema.$ref;
    return ref ? { name: ref.split("/").pop(), schema: schemas[ref.split("/").pop()] } : { name: "", schema };
  };
  const nav = document.getElementById("tags");
  const main = document.getElementById("operations");
  for (const [tag, operations] of byTag) {
    nav.append(element("a", { href: "#" + tag.replace(/ /g, "-"), textContent: tag }));
    const section = element("section", { id: tag.replace(/ /g, "-") }, element("h2", { textContent: tag }));
    for (const { path, method, operation } of operations) {
      const summary = element("summary", {},
        element("span", { className: "method", textContent: method }),
        element("span", { className: "path", textContent: path }),
        " — " + operation.summary);
      if (operation.security && operation.security.length) {
        summary.append(element("span", { className: "lock", textContent: "signed in" }));
      }
      const details = element("details", {}, summary);
      const body = operation.requestBody && operation.requestBody.content["application/json"];
      if (body && body.schema) {
        const { name, schema } = resolve(body.schema);
        details.append(element("h4", { textContent: "Request body " + name }),
          element("pre", { textContent: JSON.stringify(schema, null, 2) }));
      }
      const rows = element("table");
      for (const [status, answer] of Object.entries(operation.responses)) {
        const content = answer.content && Object.values(answer.content)[0];
        const { name } = resolve(content && content.schema);
        rows.append(element("tr", {}, element("td", { textContent: status }),
          element("td", { textContent: answer.description + (name ? " (" + name + ")" : "") })));
      }
      details.append(element("h4", { textContent: "Responses" }), rows);
      section.append(details);
    }
    main.append(section);
  }
})();
