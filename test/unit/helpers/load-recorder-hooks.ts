// The loader hooks of load-recorder.ts (they run on the loader's own thread).
import { appendFileSync } from 'node:fs';

const LOG = process.env.PROVISION_LOAD_LOG;

interface LoadContext {
  format?: string | null;
}
type NextLoad = (url: string, context: LoadContext) => Promise<unknown>;

export async function load(url: string, context: LoadContext, nextLoad: NextLoad): Promise<unknown> {
  if (LOG) appendFileSync(LOG, `${url}\n`);
  return nextLoad(url, context);
}
