import { DockerodeEngine } from '../docker/dockerode-engine.js';
import type { DockerEngine, EngineTimeouts } from '../docker/engine.js';
import { BuilderError } from '../errors.js';
import { secondsOption } from './option-values.js';
import type { CliIo } from './io.js';

export interface EngineTimeoutOptions {
  engineTimeout?: string;
  compileTimeout?: string;
  /** --host: the engine address, over DOCKER_HOST and docker contexts. */
  host?: string;
}

function seconds(value: string | undefined, option: string): number | undefined {
  return value === undefined ? undefined : secondsOption(value, option);
}

/**
 * The engine DOCKER_HOST names, with the time limits asked for and stopped by the process's
 * interrupts. `--engine-timeout S` bounds each quick request and (×20) each transfer, and sets
 * the liveness ping's patience; `--compile-timeout S` bounds a compile or a builder image build.
 */
export function connectEngine(io: CliIo, options: EngineTimeoutOptions = {}): DockerEngine {
  const requestMs = seconds(options.engineTimeout, '--engine-timeout');
  const runMs = seconds(options.compileTimeout, '--compile-timeout');
  const timeouts: Partial<EngineTimeouts> = {
    ...(requestMs !== undefined ? { requestMs, transferMs: requestMs * 20, livenessMs: Math.min(3_000, requestMs) } : {}),
    ...(runMs !== undefined ? { runMs } : {}),
  };
  const engine = DockerodeEngine.fromEnv(io.env, timeouts, options.host !== undefined ? { host: options.host } : {});
  const signal = io.interrupts?.();
  return signal ? engine.scoped({ signal }) : engine;
}
