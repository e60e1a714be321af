import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { type ConfigFiles, EngineEndpointError } from './docker-host.js';

const MAX_CONFIG_BYTES = 1024 * 1024;

/**
 * The docker CLI's config files as they are on disk. Opened without blocking and checked on the
 * open descriptor: a FIFO or device put where config.json should be fails at once instead of
 * hanging the command, and a huge file is refused instead of read.
 */
export const nodeConfigFiles: ConfigFiles = {
  read(path: string): Buffer | null {
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
      throw new EngineEndpointError(`${path}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    try {
      const stat = fstatSync(fd);
      if (!stat.isFile()) throw new EngineEndpointError(`${path}: not a regular file`);
      if (stat.size > MAX_CONFIG_BYTES) throw new EngineEndpointError(`${path}: ${stat.size} bytes; a docker config file is at most ${MAX_CONFIG_BYTES}`);
      const data = Buffer.alloc(stat.size);
      let read = 0;
      while (read < data.length) {
        const n = readSync(fd, data, read, data.length - read, read);
        if (n === 0) break;
        read += n;
      }
      return data.subarray(0, read);
    } finally {
      closeSync(fd);
    }
  },
};
