import Docker from 'dockerode';

/**
 * dockerode as the bundled CLI loads it (tools/bundle-cli.mjs swaps this module in for
 * load-dockerode.ts): the bundler itself leaves out the BuildKit modules, so a plain import will do.
 */
export function loadDockerode(): typeof Docker {
  return Docker;
}
