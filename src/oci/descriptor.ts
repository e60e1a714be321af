import { sha256Tagged } from '../util/sha256.js';

/** An OCI content descriptor, as far as a plugin set uses one. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string };
  artifactType?: string;
}

/** A blob's OCI digest: the tool's own `sha256:<hex>`. */
export const digestOf = sha256Tagged;

export const hexOf = (digest: string): string => digest.slice('sha256:'.length);
