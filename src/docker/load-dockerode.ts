import Module, { createRequire } from 'node:module';
import type Docker from 'dockerode';

const require = createRequire(import.meta.url);

/**
 * dockerode, without its BuildKit session client. dockerode requires `./session` (gRPC and
 * protobufjs: about 80 ms of every command's start-up) at load, and calls it only for image
 * builds with `version: "2"` (BuildKit); this tool builds with the classic builder, so the
 * module is replaced by one that says so if it is ever called.
 */
export function loadDockerode(): typeof Docker {
  const sessionPath = require.resolve('dockerode/lib/session.js');
  if (!require.cache[sessionPath]) {
    const stub = new Module(sessionPath);
    stub.filename = sessionPath;
    stub.loaded = true;
    stub.exports = (_docker: unknown, _auth: unknown, callback: (err: Error) => void) => callback(new Error('BuildKit sessions are not used by plugin-builder (classic builder only)'));
    require.cache[sessionPath] = stub;
  }
  return require('dockerode') as typeof Docker;
}
