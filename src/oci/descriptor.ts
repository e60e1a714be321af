import { createHash } from 'node:crypto';

/** An OCI content descriptor, as far as a plugin set uses one. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string };
  artifactType?: string;
}

export const digestOf = (bytes: Uint8Array): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

export const hexOf = (digest: string): string => digest.slice('sha256:'.length);
