/**
 * Heavy modules, loaded on first use instead of at activation: the extension's start-up cost stays
 * the cost of its own code. A `require` inside a function keeps a module from running until someone
 * calls it; in the extension's bundle esbuild.js also turns each into a file of its own
 * (dist/lazy/<name>.js), so it is not even read before then.
 */
import type * as UndiciModule from 'undici';
import type WsModule from 'ws';
import type * as JsoncModule from 'jsonc-parser';
import type * as LockfileModule from 'proper-lockfile';
// The package declares its types under `exports` only, which this project's module resolution (node10) does not read.
import type * as HttpsProxyAgentModule from 'https-proxy-agent/dist/index';

/* eslint-disable @typescript-eslint/no-require-imports -- deferred loading is the point of this file */
export const undici = (): typeof UndiciModule => require('undici') as typeof UndiciModule;
export const ws = (): typeof WsModule => require('ws') as typeof WsModule;
export const jsonc = (): typeof JsoncModule => require('jsonc-parser') as typeof JsoncModule;
export const lockfile = (): typeof LockfileModule => require('proper-lockfile') as typeof LockfileModule;
export const httpsProxyAgent = (): typeof HttpsProxyAgentModule => require('https-proxy-agent') as typeof HttpsProxyAgentModule;
/* eslint-enable @typescript-eslint/no-require-imports */
