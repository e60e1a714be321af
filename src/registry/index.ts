/**
 * Plugin sets in OCI registries: the distribution API client, the local content-addressed
 * store, publish and pull. Below the runtime (hosts pull through it); never imports dockerode.
 */
import type { Reference } from '../oci/reference.js';
import { SET_LIMITS } from '../oci/parse-set.js';
import { dockerConfigCredentials, type CredentialSource } from './credentials.js';
import { nodeTransport, type Transport } from './http.js';
import { RegistryClient } from './registry-client.js';

export { RegistryClient } from './registry-client.js';
export { PluginStore } from './plugin-store.js';
export { pullSet, type PulledSet, type PullRequest } from './pull-set.js';
export { publishSet, type PublishRequest, type PublishResult } from './publish-set.js';
export { RegistryError, isTransient } from './registry-error.js';
export { dockerConfigCredentials, type CredentialSource } from './credentials.js';

export interface RegistryAccess {
  /** Plain HTTP to a registry that is not on loopback (loopback ones always are). */
  plainHttp?: boolean;
  /** A socket silent this long fails the exchange. */
  idleTimeoutMs?: number;
  credentials?: CredentialSource;
  transport?: Transport;
}

export function createRegistryClient(ref: Pick<Reference, 'registry' | 'repository'>, access: RegistryAccess = {}): RegistryClient {
  return new RegistryClient(ref, {
    transport: access.transport ?? nodeTransport({ idleTimeoutMs: access.idleTimeoutMs ?? 30_000 }),
    credentials: access.credentials ?? dockerConfigCredentials(),
    ...(access.plainHttp ? { plainHttp: true } : {}),
    maxDocumentBytes: SET_LIMITS.maxDocumentBytes,
  });
}
