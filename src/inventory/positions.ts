// Maps a data path (["all","vars","lvs","services",0,"vip"]) to where that value starts
// in the YAML text, so validation errors can name line and column.
//
// js-yaml's `listener` fires 'open'/'close' around every composeNode() call. Nested calls
// form a tree: a mapping's children are its keys and values in turn, a sequence's children
// its entries. Three quirks of the loader (lib/loader.js) shape the code below:
//  - 'open' fires before separation space is skipped, so a node's start is found by
//    skipping whitespace and comments from the open position;
//  - a mapping value that is absent (`key:` then a new key) gets no node at all, so keys
//    are recognised by the ':' that follows them rather than by their parity;
//  - a block node that turns out not to be a mapping (`- [a, b]`, `- 10.0.0.9`) wraps its
//    real node as a single child with the same result.
import yaml from 'js-yaml';

export type YamlPath = readonly (string | number)[];

export interface Position {
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
}

export interface Located extends Position {
  /** False when the path does not exist and this is its deepest existing ancestor. */
  exact: boolean;
}

interface RawNode {
  open: number;
  end: number;
  result: unknown;
  /** composeNode found nothing (no content, tag or anchor). */
  empty: boolean;
  children: RawNode[];
}

interface Entry {
  key?: RawNode;
  value?: RawNode;
}

interface Built {
  start: number;
  /** Mapping entries by key, or sequence entries by index. */
  entries: Map<string | number, BuiltEntry>;
}

interface BuiltEntry {
  key?: Built;
  value?: Built;
}

const isObject = (v: unknown): v is object => typeof v === 'object' && v !== null;

export class PositionIndex {
  private readonly lineStarts: number[];

  constructor(
    text: string,
    private readonly root: Built | undefined,
  ) {
    this.lineStarts = [0];
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) this.lineStarts.push(i + 1);
  }

  /** Position of the value at `path` (of its key when the value is empty). */
  locate(path: YamlPath): Located {
    return this.find(path, false);
  }

  /** Position of the mapping key that ends `path` (for "unknown key" errors). */
  locateKey(path: YamlPath): Located {
    return this.find(path, true);
  }

  /** 1-based line/column of a character offset in the parsed text. */
  positionOf(offset: number): Position {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - this.lineStarts[lo]! + 1 };
  }

  private find(path: YamlPath, wantKey: boolean): Located {
    let node: Built | undefined = this.root;
    if (!node) return { line: 1, column: 1, exact: path.length === 0 };
    for (let i = 0; i < path.length; i++) {
      const entry: BuiltEntry | undefined = node.entries.get(path[i]!);
      const next: Built | undefined = entry && (wantKey && i === path.length - 1 ? (entry.key ?? entry.value) : (entry.value ?? entry.key));
      if (!next) return { ...this.positionOf(node.start), exact: false };
      node = next;
    }
    return { ...this.positionOf(node.start), exact: true };
  }
}

/** Parses YAML (core schema) and indexes node positions. Throws js-yaml's YAMLException on syntax errors. */
export function parseWithPositions(text: string, filename: string): { data: unknown; positions: PositionIndex } {
  const stack: RawNode[] = [];
  let root: RawNode | undefined;
  let input = text;
  const data = yaml.load(text, {
    filename,
    schema: yaml.CORE_SCHEMA,
    listener(event, state) {
      if (event === 'open') {
        stack.push({ open: state.position, end: -1, result: undefined, empty: true, children: [] });
        return;
      }
      const node = stack.pop();
      if (!node) return;
      input = state.input;
      node.end = state.position;
      node.result = state.result;
      const s = state as unknown as { tag: string | null; anchor: string | null };
      node.empty = state.result === null && s.tag === null && s.anchor === null;
      const parent = stack[stack.length - 1];
      if (parent) parent.children.push(node);
      else if (!root) root = node;
    },
  });
  return { data, positions: new PositionIndex(input, root ? build(root, input) : undefined) };
}

function build(raw: RawNode, input: string): Built {
  let node = raw;
  while (node.children.length === 1 && isObject(node.result) && node.children[0]!.result === node.result) {
    node = node.children[0]!;
  }
  const built: Built = { start: skipSpace(input, node.open), entries: new Map() };
  const kids = node.children.filter((c) => !c.empty);
  if (Array.isArray(node.result)) {
    buildSequence(built, kids, node.result, input);
  } else if (isObject(node.result)) {
    let pending: Entry | undefined;
    const raws = new Map<string, Entry>();
    for (const child of kids) {
      if (isKey(input, child)) {
        pending = { key: child };
        raws.set(String(child.result), pending);
      } else if (pending && !pending.value) {
        pending.value = child;
      }
    }
    for (const [k, e] of raws) {
      built.entries.set(k, { key: e.key && build(e.key, input), value: e.value && build(e.value, input) });
    }
  }
  return built;
}

function buildSequence(built: Built, kids: RawNode[], result: unknown[], input: string): void {
  // Flow pairs ([a: b]) are one entry made of a key node and a value node.
  const entries: RawNode[] = [];
  let skipNext = false;
  for (const child of kids) {
    if (skipNext) {
      skipNext = false;
      continue;
    }
    if (isKey(input, child)) skipNext = true;
    entries.push(child);
  }
  if (entries.length === result.length) {
    entries.forEach((c, i) => built.entries.set(i, { value: build(c, input) }));
    return;
  }
  // Empty entries (`-` alone) have no node. In a block sequence every entry has a '-' at
  // the sequence's column: each node belongs to the last marker before it.
  if (input[built.start] !== '-') return;
  const markers = blockSequenceMarkers(input, built.start);
  for (const c of entries) {
    const start = skipSpace(input, c.open);
    let i = -1;
    while (i + 1 < markers.length && markers[i + 1]! < start) i++;
    if (i >= 0 && i < result.length) built.entries.set(i, { value: build(c, input) });
  }
}

/** Offsets of the '-' entry indicators of the block sequence starting at `start`. */
function blockSequenceMarkers(input: string, start: number): number[] {
  const lineStart = input.lastIndexOf('\n', start - 1) + 1;
  const column = start - lineStart;
  const markers: number[] = [];
  for (let ls = lineStart; ls < input.length; ) {
    const eol = input.indexOf('\n', ls);
    const line = input.slice(ls, eol < 0 ? input.length : eol);
    const indent = line.length - line.trimStart().length;
    const blank = line.trim() === '' || line.trimStart().startsWith('#');
    if (!blank) {
      if (indent < column) break;
      if (indent === column) {
        if (line[column] !== '-' || !/^-(\s|$)/.test(line.slice(column))) break;
        markers.push(ls + column);
      }
    }
    if (eol < 0) break;
    ls = eol + 1;
  }
  return markers;
}

/** A mapping key is directly followed (on its line) by ':'. */
function isKey(input: string, node: RawNode): boolean {
  let i = node.end;
  while (input[i] === ' ' || input[i] === '\t') i++;
  return input[i] === ':';
}

/** Skips whitespace, line breaks and comments: the separation space before a node's content. */
function skipSpace(input: string, from: number): number {
  let i = from;
  for (;;) {
    const ch = input[i];
    if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r') i++;
    else if (ch === '#') while (i < input.length && input[i] !== '\n') i++;
    else return i;
  }
}
