// `node --import <this file>`: records the URL of every module the ESM loader loads (one per line)
// to the file named by $PROVISION_LOAD_LOG, so a test can see what a command pulled in.
// CommonJS packages (ssh2) show up as their entry point, imported from ESM; their own
// require()s do not pass through these hooks.
import { register } from 'node:module';

register('./load-recorder-hooks.js', import.meta.url);
