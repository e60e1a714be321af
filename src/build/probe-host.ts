import type { ProjectConfig } from '../config/config.js';
import type { DockerEngine } from '../docker/engine.js';
import { BuilderError, EXIT_UNUSABLE } from '../errors.js';
import { withImageFiles } from '../env/image-files.js';
import { type ProbedImage, probeFiles } from '../env/probe-image.js';
import type { GoBuildInfo } from '../elf/go-buildinfo.js';
import { ElfFormatError, readElf } from '../elf/read-elf.js';
import { goFingerprint } from '../gomod/go-fingerprint.js';

export interface ProbedHost extends ProbedImage {
  binary?: string;
  /** The Go host executable's build info (config host.binary). */
  goBuildInfo: GoBuildInfo | null;
}

/** Read a Go executable's build info out of an image's files (no process is started). */
export async function readGoBinary(files: { readFile(path: string): Promise<Buffer | null> }, image: string, binary: string): Promise<GoBuildInfo> {
  const bytes = await files.readFile(binary);
  const fail = (why: string) =>
    new BuilderError('HOST_BINARY_UNUSABLE', `host.binary ${binary} in ${image} ${why}.`, {
      fix: 'Set host.binary to the Go executable that loads the plugins (an absolute path inside the host image).',
      exitCode: EXIT_UNUSABLE,
    });
  if (!bytes) throw fail('does not exist');
  try {
    const info = readElf(bytes).goBuildInfo;
    if (!info) throw fail('has no Go build info (not a Go program, or built without it)');
    return info;
  } catch (err) {
    if (err instanceof ElfFormatError) throw fail(`is not a readable ELF executable (${err.message})`);
    throw err;
  }
}

/** The host image's fingerprint; with host.binary, including the Go host's version, settings and modules. */
export async function probeHost(engine: DockerEngine, config: Pick<ProjectConfig, 'hostImage' | 'hostBinary'>): Promise<ProbedHost> {
  return withImageFiles(engine, config.hostImage, 'host', async ({ imageId, files }) => {
    const fingerprint = await probeFiles(files, `host image ${config.hostImage}`);
    if (!config.hostBinary) return { image: config.hostImage, imageId, fingerprint, goBuildInfo: null };
    const goBuildInfo = await readGoBinary(files, config.hostImage, config.hostBinary);
    return {
      image: config.hostImage,
      imageId,
      binary: config.hostBinary,
      fingerprint: { ...fingerprint, go: goFingerprint(goBuildInfo) },
      goBuildInfo,
    };
  });
}
