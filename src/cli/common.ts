// Helpers shared by the command modules: argument parsers, the default playbook, stderr and colour.
import { InvalidArgumentError } from 'commander';

export const DEFAULT_PLAYBOOK = 'site';

export function intArg(min: number, max: number) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`must be an integer ${min}..${max}`);
    return n;
  };
}

export function collectVar(v: string, acc: Record<string, string>) {
  const eq = v.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`expected key=value, got "${v}"`);
  return { ...acc, [v.slice(0, eq)]: v.slice(eq + 1) };
}

export const color = () => !process.env.NO_COLOR && process.stdout.isTTY === true;
export const err = (s: string) => process.stderr.write(`${s}\n`);
