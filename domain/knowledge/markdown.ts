import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { KNOWLEDGE_LIMITS, NodeInput, NodeType, type KnowledgeNode } from './nodes.js';

/**
 * Knowledge as a folder of markdown files: folders are paths, a file is a node, its front matter
 * (a small YAML subset: `key: value`, `key: [a, b]` and `- item` lists) gives the title, type,
 * labels, intent tags and metadata. `index.md` in a folder is the folder's own node. Exports write
 * the same shape back, so import → export → import changes nothing.
 */

export const MarkdownFile = z.strictObject({
  /** Relative to the folder's root: `sales/pricing/saas-models.md`. */
  path: z
    .string()
    .min(4)
    .max(KNOWLEDGE_LIMITS.path)
    .regex(/^(?!\/)(?!.*\.\.)[A-Za-z0-9._\- /]+\.md$/, 'expected a relative path ending in .md'),
  content: z.string().max(KNOWLEDGE_LIMITS.body + 10_000),
});
export type MarkdownFile = z.infer<typeof MarkdownFile>;

type FrontMatter = Record<string, string | string[]>;

/** Splits `---` front matter from the body. */
export function parseFrontMatter(content: string): { meta: FrontMatter; body: string } {
  const m = /^---\r?\n([\s\S]*?)\r?\n---\r?\n?/.exec(content);
  if (!m) return { meta: {}, body: content.trim() };
  const meta: FrontMatter = {};
  let listKey: string | undefined;
  for (const raw of m[1]!.split(/\r?\n/)) {
    const line = raw.replace(/\s+#.*$/, '');
    if (!line.trim()) continue;
    const item = /^\s*-\s+(.*)$/.exec(line);
    if (item && listKey) {
      const list = meta[listKey];
      (Array.isArray(list) ? list : (meta[listKey] = [])).push(unquote(item[1]!));
      continue;
    }
    const kv = /^([A-Za-z_][\w-]*)\s*:\s*(.*)$/.exec(line);
    if (!kv) continue;
    const [, key, value] = kv as unknown as [string, string, string];
    listKey = key;
    if (!value) meta[key] = [];
    else if (/^\[.*\]$/.test(value))
      meta[key] = value
        .slice(1, -1)
        .split(',')
        .map((v) => unquote(v.trim()))
        .filter(Boolean);
    else meta[key] = unquote(value);
  }
  return { meta, body: content.slice(m[0].length).trim() };
}

const unquote = (v: string) => v.replace(/^(['"])(.*)\1$/, '$2');

/** Lowercase path segments: `Sales/Pricing Models/SaaS.md` → `/sales/pricing-models/saas`. */
export function nodePathOf(file: string): string {
  const parts = file
    .replace(/\.md$/, '')
    .split('/')
    .filter(Boolean)
    .map((p) =>
      p
        .toLowerCase()
        .replace(/[^a-z0-9._-]+/g, '-')
        .replace(/^[^a-z0-9]+|-+$/g, ''),
    );
  if (parts.at(-1) === 'index' || parts.at(-1) === '_index') parts.pop();
  return `/${parts.filter(Boolean).join('/')}`;
}

const asList = (v: string | string[] | undefined) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** One file as a node's input; a problem names the file and field. */
export function fileToNode(file: MarkdownFile): NodeInput {
  const { meta, body } = parseFrontMatter(file.content);
  const nodePath = nodePathOf(file.path);
  const depth = nodePath.split('/').length - 1;
  const isFolder = /(^|\/)_?index\.md$/.test(file.path);
  const inferred: NodeType = isFolder ? (depth <= 1 ? 'category' : 'subcategory') : 'document';
  const { title, type, labels, tags, intent_tags, intents, ...rest } = meta;
  const firstHeading = /^#\s+(.+)$/m.exec(body)?.[1];
  const parsed = NodeInput.safeParse({
    path: nodePath,
    type: typeof type === 'string' ? type : inferred,
    title: (typeof title === 'string' ? title : firstHeading) ?? nodePath.split('/').pop() ?? nodePath,
    body,
    labels: [...asList(labels), ...asList(tags)],
    intentTags: [...asList(intent_tags), ...asList(intents)],
    metadata: rest,
  });
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw new MarkdownProblem(file.path, `${i.path.join('.')}: ${i.message}`);
  }
  return parsed.data;
}

export class MarkdownProblem extends Error {
  override readonly name = 'MarkdownProblem';
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`${file}: ${problem}`);
  }
}

const yamlValue = (v: unknown): string => {
  if (Array.isArray(v)) return `[${v.map((x) => yamlScalar(String(x))).join(', ')}]`;
  return yamlScalar(typeof v === 'string' ? v : JSON.stringify(v));
};
const yamlScalar = (s: string) => (/^[\w .:/@+-]*$/.test(s) && !/^\s|\s$/.test(s) && s !== '' ? s : JSON.stringify(s));

/** A node back as a file: folders for its path, `index.md` for a node that has children. */
export function nodeToFile(node: KnowledgeNode, hasChildren: boolean): MarkdownFile {
  const rel = node.path.slice(1);
  const lines = ['---', `title: ${yamlValue(node.title)}`, `type: ${node.type}`];
  if (node.labels.length) lines.push(`labels: ${yamlValue(node.labels)}`);
  if (node.intentTags.length) lines.push(`intent_tags: ${yamlValue(node.intentTags)}`);
  for (const [k, v] of Object.entries(node.metadata)) {
    if (/^[A-Za-z_][\w-]*$/.test(k) && (typeof v === 'string' || Array.isArray(v))) lines.push(`${k}: ${yamlValue(v)}`);
  }
  lines.push('---', '');
  return { path: hasChildren ? `${rel}/index.md` : `${rel}.md`, content: `${lines.join('\n')}${node.body}\n` };
}

/** Every node as files; a node with children becomes its folder's `index.md`. */
export function exportFiles(nodes: KnowledgeNode[]): MarkdownFile[] {
  const paths = nodes.map((n) => n.path);
  return nodes.map((n) =>
    nodeToFile(
      n,
      paths.some((p) => p.startsWith(`${n.path}/`)),
    ),
  );
}

/** Reads a folder of markdown files (recursively) as import input: `npm run cli` and the benchmark. */
export async function readMarkdownFolder(dir: string): Promise<MarkdownFile[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  const files: MarkdownFile[] = [];
  for (const e of entries) {
    if (!e.isFile() || !e.name.endsWith('.md')) continue;
    const full = path.join(e.parentPath, e.name);
    files.push({ path: path.relative(dir, full).split(path.sep).join('/'), content: await readFile(full, 'utf8') });
  }
  return files.sort((a, b) => a.path.localeCompare(b.path));
}
