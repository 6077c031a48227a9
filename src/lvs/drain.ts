// drain/undrain in the inventory file itself: a real server's `weight:` set to 0 (or back), edited
// in place in the text so every other byte (comments, layout, quoting) stays as it was. The weight
// it had is kept on the same line (`# provision drain: was N`), so `undrain` restores it from the
// inventory alone, on any checkout.
import { isMap, isScalar, isSeq, parseDocument, type Scalar, type YAMLMap } from 'yaml';
import type { VirtualServiceSpec } from './types.js';
import { UsageError } from '../core/errors.js';

const MARK = 'provision drain: was';
/** The mark, right after the weight's value. */
const MARK_RE = /^ # provision drain: was (\d+)( \(weight line added\))?/;

export interface DrainTarget {
  service: string;
  /** Index of the service in lvs.services and of the real server in its real_servers. */
  svc: number;
  rs: number;
  address: string;
  port: number;
  weight: number;
}

/** The (service, real server) pairs HOST (inventory name or address) belongs to, optionally one service. */
export function drainTargets(services: VirtualServiceSpec[], host: string, service?: string): DrainTarget[] {
  if (service && !services.some((s) => s.name === service))
    throw new UsageError(`no service ${service} in the inventory (${services.map((s) => s.name).join(', ')})`);
  const out: DrainTarget[] = [];
  services.forEach((s, svc) => {
    if (service && s.name !== service) return;
    s.realServers.forEach((r, rs) => {
      if (r.host === host || r.address === host) out.push({ service: s.name, svc, rs, address: r.address, port: r.port, weight: r.weight });
    });
  });
  if (out.length === 0) throw new UsageError(`${host} is not a real server of ${service ? `service ${service}` : 'any service'} in the inventory`);
  return out;
}

interface Located {
  map: YAMLMap;
  weight?: Scalar;
  lineStart: (i: number) => number;
}

function locate(text: string, t: DrainTarget): Located {
  const doc = parseDocument(text);
  if (doc.errors.length) throw new UsageError(`inventory: ${doc.errors[0]!.message}`);
  const seq = doc.getIn(['all', 'vars', 'lvs', 'services', t.svc, 'real_servers'], true);
  const map = isSeq(seq) ? seq.items[t.rs] : undefined;
  if (!isMap(map)) throw new UsageError(`inventory: all.vars.lvs.services[${t.svc}].real_servers[${t.rs}] is not a mapping`);
  if (map.flow) throw new UsageError(`inventory: real server ${t.address} of ${t.service} is a flow mapping ({...}); write it as a block mapping to drain it`);
  const w = map.get('weight', true);
  if (w !== undefined && !isScalar(w)) throw new UsageError(`inventory: weight of ${t.address} in ${t.service} is not a number`);
  const lineStart = (i: number) => text.lastIndexOf('\n', i - 1) + 1;
  return { map, ...(w ? { weight: w } : {}), lineStart };
}

const lineEnd = (text: string, i: number) => {
  const n = text.indexOf('\n', i);
  return n < 0 ? text.length : n;
};

/**
 * Sets the targets' weight to 0 in the text. Returns the new text and, per target, the weight it
 * had; a target already drained (weight 0 with the mark) keeps its mark and is reported as such.
 */
export function drainText(text: string, targets: DrainTarget[]): { text: string; was: (number | 'already')[] } {
  let out = text;
  // Bottom-up edits keep the earlier offsets valid.
  const order = targets.map((t, i) => ({ t, i })).sort((a, b) => b.t.svc - a.t.svc || b.t.rs - a.t.rs);
  const res: (number | 'already')[] = new Array(targets.length);
  for (const { t, i } of order) {
    const loc = locate(out, t);
    if (loc.weight) {
      const [start, valueEnd] = loc.weight.range!;
      const end = lineEnd(out, valueEnd);
      if (MARK_RE.test(out.slice(valueEnd, end))) {
        res[i] = 'already';
        continue;
      }
      out = `${out.slice(0, start)}0 # ${MARK} ${t.weight}${out.slice(valueEnd)}`;
      res[i] = t.weight;
    } else {
      // No weight: line (the default, 1): add one under the mapping's first key, same indent.
      const first = loc.map.items[0]!.key as Scalar;
      const keyStart = first.range![0];
      const indent = keyStart - loc.lineStart(keyStart);
      const last = loc.map.items[loc.map.items.length - 1]!;
      const node = (isScalar(last.value) || isMap(last.value) || isSeq(last.value)) && last.value.range ? last.value : (last.key as Scalar);
      const end = node.range![1];
      const at = lineEnd(out, out[end - 1] === '\n' ? end - 1 : end);
      out = `${out.slice(0, at)}\n${' '.repeat(indent)}weight: 0 # ${MARK} ${t.weight} (weight line added)${out.slice(at)}`;
      res[i] = t.weight;
    }
  }
  return { text: out, was: res };
}

/** Restores the weight the drain mark records; a target without the mark is reported as not drained. */
export function undrainText(text: string, targets: DrainTarget[]): { text: string; restored: (number | 'not drained')[] } {
  let out = text;
  const order = targets.map((t, i) => ({ t, i })).sort((a, b) => b.t.svc - a.t.svc || b.t.rs - a.t.rs);
  const res: (number | 'not drained')[] = new Array(targets.length);
  for (const { t, i } of order) {
    const loc = locate(out, t);
    const m = loc.weight ? MARK_RE.exec(out.slice(loc.weight.range![1], lineEnd(out, loc.weight.range![1]))) : null;
    if (!loc.weight || !m) {
      res[i] = 'not drained';
      continue;
    }
    const [start, valueEnd] = loc.weight.range!;
    const weight = Number(m[1]);
    if (m[2]) {
      // The drain added this line: remove it whole.
      const ls = loc.lineStart(start);
      out = `${out.slice(0, ls - 1)}${out.slice(lineEnd(out, valueEnd))}`;
    } else {
      out = `${out.slice(0, start)}${weight}${out.slice(valueEnd + m[0].length)}`;
    }
    res[i] = weight;
  }
  return { text: out, restored: res };
}
