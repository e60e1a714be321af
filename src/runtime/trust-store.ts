import { readFile, readdir, realpath, stat } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { BuilderError, describeCause } from '../errors.js';
import { parseTrustedKey, type TrustedKey } from '../trust/keys.js';
import { readSmallFile } from '../util/safe-file.js';

const MAX_KEY_BYTES = 16 * 1024;
const MAX_KEYS = 64;

const badKey = (message: string, fix: string) => new BuilderError('BAD_KEY', message, { fix });

/**
 * The host's trusted public keys: each `--trust-key FILE` and every `*.pub` in each trust
 * directory. Fails closed: an unreadable or malformed key stops the start, never silently
 * shrinks the set (which would turn a signed host into an unsigned one). As ssh's StrictModes:
 * a trust directory or key that others may write is refused (whoever can add a key decides what
 * loads), unless it lies on a read-only mount (a Kubernetes secret: 1777, mounted ro); a key in
 * a trust directory may be a link only into that directory (Kubernetes' `..data/`). Naming a
 * trust directory means signatures are required: one that holds no key is refused.
 */
export async function loadTrustedKeys(files: readonly string[], dirs: readonly string[]): Promise<TrustedKey[]> {
  const paths = [...files];
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  for (const dir of dirs) {
    let names: string[];
    let real: string;
    try {
      real = await realpath(dir);
      names = await readdir(real);
    } catch (err) {
      throw badKey(`The trust directory ${dir} cannot be read: ${describeCause(err)}`, 'Create it and put the trusted *.pub keys in it, or drop --trust-dir.');
    }
    await refuseWritableByOthers(real, `The trust directory ${dir}`, mountinfo);
    const keys = names.filter((n) => n.endsWith('.pub')).sort();
    if (keys.length === 0) {
      throw badKey(
        `The trust directory ${dir} holds no key (*.pub): naming a trust directory means lockfiles must be signed, and nothing could verify them.`,
        'Put the public key of the lockfiles\' signer there (`builder keygen` writes NAME.pub; `builder deploy --trust-key NAME.pub` puts it in /app/trust), or drop --trust-dir to run unsigned, knowingly.',
      );
    }
    for (const name of keys) {
      const path = join(dir, name);
      const target = await realpath(path).catch(() => path);
      if (target !== join(real, name) && !target.startsWith(real + sep)) {
        throw badKey(`Trusted key ${path} is a link to ${target}, outside the trust directory ${real}.`, 'Put the key file itself in the trust directory (links are followed only within it).');
      }
      paths.push(path);
    }
  }
  if (paths.length > MAX_KEYS) throw badKey(`More than ${MAX_KEYS} trusted keys.`, 'Trust fewer keys.');
  const keys = new Map<string, TrustedKey>();
  for (const path of paths) {
    try {
      await refuseWritableByOthers(await realpath(path).catch(() => path), `Trusted key ${path}`, mountinfo);
      const key = parseTrustedKey(await readSmallFile(path, 'The trusted key', MAX_KEY_BYTES, { followSymlinks: true }), path);
      if (!keys.has(key.keyId)) keys.set(key.keyId, key);
    } catch (err) {
      const error = err as BuilderError;
      if (error.code === 'BAD_KEY' && error.message.startsWith('Trusted key')) throw error;
      throw badKey(`Trusted key ${path}: ${error.message}`, error.fix ?? 'Use a .pub written by `builder keygen`.');
    }
  }
  return [...keys.values()];
}

/**
 * As ssh's StrictModes (safe_path), from the path up to `/`: the path itself must not be writable
 * by its group or others, each directory above it neither unless sticky (others cannot rename what
 * they do not own there), and every one must be owned by root or by this process's user. A
 * read-only mount is exempt (nobody can write it from here).
 */
async function refuseWritableByOthers(path: string, what: string, mountinfo: string): Promise<void> {
  if (onReadOnlyMount(path, mountinfo)) return;
  const uid = process.getuid?.() ?? 0;
  for (let current = path, first = true; ; first = false) {
    const info = await stat(current).catch(() => null);
    if (info) {
      const sticky = info.isDirectory() && (info.mode & 0o1000) !== 0;
      if ((info.mode & 0o022) !== 0 && (first || !sticky)) {
        throw badKey(
          `${what}${first ? '' : `: ${current}, a directory above it,`} is writable by ${info.mode & 0o002 ? 'every user' : 'its group'} (mode ${(info.mode & 0o7777).toString(8)}): whoever can write it decides which keys are trusted.`,
          `chmod go-w ${current} (owned by root, as Dockerfile.host makes /app/trust), or mount it read-only.`,
        );
      }
      if (info.uid !== 0 && info.uid !== uid) {
        throw badKey(`${what}${first ? '' : `: ${current}, a directory above it,`} belongs to uid ${info.uid}, neither root nor this process's user (${uid}): that user decides which keys are trusted.`, `chown root ${current}, or mount it read-only.`);
      }
    }
    const parent = dirname(current);
    if (parent === current) return;
    current = parent;
  }
}

/** Whether the mount holding `path` is read-only, from the text of /proc/self/mountinfo (the longest mount point that contains it). */
export function onReadOnlyMount(path: string, mountinfo: string): boolean {
  let best: { point: string; ro: boolean } | null = null;
  for (const line of mountinfo.split('\n')) {
    const fields = line.split(' ');
    if (fields.length < 6) continue;
    // Field 5 is the mount point (octal escapes for space, tab, newline, backslash), field 6 its options.
    const point = fields[4]!.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    const inside = point === '/' || path === point || path.startsWith(point.endsWith('/') ? point : point + '/');
    if (inside && (!best || point.length >= best.point.length)) best = { point, ro: fields[5]!.split(',').includes('ro') };
  }
  return best?.ro ?? false;
}
