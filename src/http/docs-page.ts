/**
 * The API reference at /docs: one HTML page rendered on the server from the OpenAPI document
 * (/openapi.json), with no script, no third-party code and nothing loaded from another origin, so
 * the strict default Content-Security-Policy of helmet holds and the dependency tree carries no
 * docs bundle (the common ones pull in install-time telemetry, or need a newer Node to install).
 * Operations are grouped by tag and folded (`<details>`); schemas are drawn as nested field lists
 * with links to the shared components. Clients call the API with their own tools (curl, a generated
 * client from /openapi.json); the page only reads.
 */

type JsonRecord = Record<string, unknown>;

const esc = (s: unknown): string =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const obj = (v: unknown): JsonRecord =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as JsonRecord) : {};
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

const inline = (text: string): string => esc(text).replace(/`([^`]+)`/g, '<code>$1</code>');

/** Markdown-lite for descriptions: paragraphs and `code`, everything else as plain text. */
function prose(text: unknown): string {
  if (typeof text !== 'string' || text.trim() === '') {
    return '';
  }
  return text
    .split(/\n{2,}/)
    .map((p) => `<p>${inline(p)}</p>`)
    .join('');
}

const refName = (ref: string): string => ref.replace(/^#\/components\/schemas\//, '');
const anchor = (prefix: string, name: string): string => `${prefix}-${name.replace(/[^A-Za-z0-9_-]/g, '-')}`;

/** One line naming a schema's type: `string (uuid)`, `array of Account`, `"a" | "b"`, … */
function typeLabel(schema: JsonRecord): string {
  if (typeof schema.$ref === 'string') {
    const name = refName(schema.$ref);
    return `<a href="#${anchor('schema', name)}">${esc(name)}</a>`;
  }
  for (const key of ['oneOf', 'anyOf'] as const) {
    if (Array.isArray(schema[key])) {
      return arr(schema[key])
        .map((s) => typeLabel(obj(s)))
        .join(' | ');
    }
  }
  if (Array.isArray(schema.allOf)) {
    return arr(schema.allOf)
      .map((s) => typeLabel(obj(s)))
      .join(' &amp; ');
  }
  if (Array.isArray(schema.enum)) {
    return arr(schema.enum)
      .map((v) => `<code>${esc(JSON.stringify(v))}</code>`)
      .join(' | ');
  }
  if (schema.const !== undefined) {
    return `<code>${esc(JSON.stringify(schema.const))}</code>`;
  }
  const types = Array.isArray(schema.type)
    ? schema.type.map(String)
    : typeof schema.type === 'string'
      ? [schema.type]
      : [];
  const label =
    types.map((t) => (t === 'array' ? `array of ${typeLabel(obj(schema.items))}` : esc(t))).join(' | ') || 'any';
  const format =
    typeof schema.format === 'string'
      ? ` (${esc(schema.format)})`
      : typeof schema.pattern === 'string'
        ? ` (pattern <code>${esc(schema.pattern)}</code>)`
        : '';
  return `${label}${format}`;
}

/** The fields of an object schema (also inside arrays and unions), nested up to `depth`. */
function fields(schema: JsonRecord, depth: number): string {
  const target = schema.type === 'array' ? obj(schema.items) : schema;
  const variants = [...arr(target.oneOf), ...arr(target.anyOf), ...arr(target.allOf)]
    .map(obj)
    .filter((v) => v.properties);
  if (variants.length > 0 && depth > 0) {
    return variants.map((v) => fields(v, depth)).join('');
  }
  const props = obj(target.properties);
  const names = Object.keys(props);
  if (names.length === 0 || depth === 0) {
    return '';
  }
  const required = new Set(arr(target.required).map(String));
  const rows = names.map((name) => {
    const p = obj(props[name]);
    const note = [p.description, p.example !== undefined ? `Example: \`${JSON.stringify(p.example)}\`` : undefined]
      .filter(Boolean)
      .join('\n\n');
    return `<li><code>${esc(name)}</code>${required.has(name) ? '' : '<span class="opt">optional</span>'} <span class="type">${typeLabel(p)}</span>${prose(note)}${fields(p, depth - 1)}</li>`;
  });
  return `<ul class="fields">${rows.join('')}</ul>`;
}

function schemaBlock(schema: unknown): string {
  const s = obj(schema);
  return `<div class="schema"><span class="type">${typeLabel(s)}</span>${fields(s, 3)}</div>`;
}

function parameters(op: JsonRecord): string {
  const params = arr(op.parameters).map(obj);
  if (params.length === 0) {
    return '';
  }
  const rows = params.map(
    (p) =>
      `<tr><td><code>${esc(p.name)}</code></td><td>${esc(p.in)}</td><td>${p.required === true ? 'yes' : 'no'}</td><td>${typeLabel(obj(p.schema))}</td><td>${prose(p.description ?? obj(p.schema).description)}</td></tr>`,
  );
  return `<h4>Parameters</h4><div class="scroll"><table><thead><tr><th>Name</th><th>In</th><th>Required</th><th>Type</th><th>Description</th></tr></thead><tbody>${rows.join('')}</tbody></table></div>`;
}

function content(c: unknown): string {
  return Object.entries(obj(c))
    .map(([media, body]) => `<div class="media"><code>${esc(media)}</code>${schemaBlock(obj(body).schema)}</div>`)
    .join('');
}

function operation(method: string, path: string, op: JsonRecord): string {
  const id = typeof op.operationId === 'string' ? op.operationId : `${method}-${path}`;
  const body = obj(op.requestBody);
  const responses = Object.entries(obj(op.responses)).map(([status, r]) => {
    const res = obj(r);
    // Error answers share one Problem schema: its status and description are enough.
    const isProblem = Object.keys(obj(res.content)).every((m) => m === 'application/problem+json');
    return `<li><b>${esc(status)}</b> ${inline(typeof res.description === 'string' ? res.description : '')}${isProblem ? '' : content(res.content)}</li>`;
  });
  return `<details class="op" id="${esc(anchor('op', id))}"><summary><span class="method ${esc(method)}">${esc(method.toUpperCase())}</span> <code>${esc(path)}</code> <span class="summary">${esc(op.summary ?? '')}</span>${op.deprecated === true ? '<span class="deprecated">deprecated</span>' : ''}</summary>
${prose(op.description)}${parameters(op)}${body.content ? `<h4>Request body</h4>${content(body.content)}` : ''}<h4>Responses</h4><ul class="responses">${responses.join('')}</ul></details>`;
}

const STYLE = `body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1f2328;background:#fff}main{max-width:1100px;margin:0 auto;padding:1rem 1.25rem 4rem}
h1{margin:.5rem 0}h2{margin-top:2.5rem;border-bottom:1px solid #d0d7de;padding-bottom:.25rem}h4{margin:.75rem 0 .25rem}nav{display:flex;flex-wrap:wrap;gap:.25rem 1rem}nav a{white-space:nowrap}
code{font:13px ui-monospace,monospace;background:#f6f8fa;padding:0 .25rem;border-radius:4px;overflow-wrap:anywhere}
details.op{border:1px solid #d0d7de;border-radius:6px;margin:.4rem 0;padding:.3rem .6rem}details.op[open]{background:#fbfcfd}summary{cursor:pointer}
.method{display:inline-block;min-width:4.2rem;text-align:center;font:600 12px ui-monospace,monospace;color:#fff;border-radius:4px;padding:.1rem .3rem;background:#57606a}
.get{background:#0969da}.post{background:#1a7f37}.patch{background:#9a6700}.put{background:#8250df}.delete{background:#cf222e}
.summary{color:#57606a}.deprecated{font-size:12px;color:#9a6700;border:1px solid #d4a72c;border-radius:4px;padding:0 .3rem;margin-left:.4rem}.type{color:#8250df}.opt{color:#57606a;font-size:12px;margin-left:.4rem}ul.fields{margin:.2rem 0 .2rem 0;padding-left:1.2rem}ul.fields p{margin:.1rem 0;color:#57606a}
.scroll{overflow-x:auto}table{border-collapse:collapse}td,th{border:1px solid #d0d7de;padding:.2rem .5rem;text-align:left;vertical-align:top}td p{margin:0}`;

/** Renders the reference page for an OpenAPI 3.1 document (as built by `buildOpenApiDocument`). */
export function renderDocsPage(document: unknown): string {
  const doc = obj(document);
  const info = obj(doc.info);
  const byTag = new Map<string, string[]>();
  for (const [path, item] of Object.entries(obj(doc.paths))) {
    for (const [method, op] of Object.entries(obj(item))) {
      const first = arr(obj(op).tags)[0];
      const tag = typeof first === 'string' ? first : 'Other';
      byTag.set(tag, [...(byTag.get(tag) ?? []), operation(method, path, obj(op))]);
    }
  }
  // The document's own tag order and descriptions first; tags only operations name come after.
  const described = new Map(
    arr(doc.tags)
      .map(obj)
      .filter((t) => typeof t.name === 'string')
      .map((t) => [t.name as string, t.description]),
  );
  const tags = [
    ...[...described.keys()].filter((t) => byTag.has(t)),
    ...[...byTag.keys()].filter((t) => !described.has(t)),
  ];
  const schemas = Object.entries(obj(obj(doc.components).schemas)).map(
    ([name, s]) =>
      `<section id="${esc(anchor('schema', name))}"><h3>${esc(name)}</h3>${prose(obj(s).description)}${schemaBlock(s)}</section>`,
  );
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(info.title ?? 'API')} ${esc(info.version ?? '')}</title><style>${STYLE}</style></head>
<body><main><h1>${esc(info.title ?? 'API')} <small>${esc(info.version ?? '')}</small></h1>${prose(info.description)}
<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1; generate a client from it). Every call sends <code>Authorization: Bearer jpms_…</code>.</p>
<nav>${tags.map((t) => `<a href="#${esc(anchor('tag', t))}">${esc(t)}</a>`).join('')}<a href="#schemas">Schemas</a></nav>
${tags.map((t) => `<h2 id="${esc(anchor('tag', t))}">${esc(t)}</h2>${prose(described.get(t))}${(byTag.get(t) ?? []).join('\n')}`).join('\n')}
<h2 id="schemas">Schemas</h2>${schemas.join('\n')}
</main></body></html>`;
}
