import { constants } from 'node:os';
import type { MemfdSyscalls } from './memfd-sealer.js';
import type { NativeLibrary, NativeLoader } from './native-loader.js';

/**
 * The only koffi import, loaded lazily: tools that never load a plugin (builder build) must
 * not need koffi's native binary.
 */
type Koffi = typeof import('koffi').default;
let koffiModule: Promise<Koffi> | null = null;
const loadKoffi = () => (koffiModule ??= import('koffi').then((m) => m.default));

/**
 * Every library ever opened, kept for the life of the process. koffi dlcloses a library when
 * its handle is garbage-collected; a plugin refused after dlopen (a bad manifest) would then be
 * unloaded at some random later GC — and one that started a thread in its constructor takes the
 * process down with it (SIGSEGV). Loaded code is never unloaded.
 */
const opened: unknown[] = [];

const RTLD_NOW = 0x2;
const RTLD_NOLOAD = 0x4;

interface DlFunctions {
  dlopen: (file: string, mode: number) => unknown;
  dlsym: (handle: unknown, name: string) => unknown;
  dladdr: (address: unknown, info: { dli_fname?: string }) => number;
  dlclose: (handle: unknown) => number;
}
let dlFunctions: DlFunctions | null = null;

/** libc's dl* functions, bound once per process (koffi type names are process-global). */
function bindDl(koffi: Koffi): DlFunctions {
  if (dlFunctions) return dlFunctions;
  const libc = koffi.load('libc.so.6');
  koffi.struct('builder_Dl_info', { dli_fname: 'const char *', dli_fbase: 'void *', dli_sname: 'const char *', dli_saddr: 'void *' });
  dlFunctions = {
    dlopen: libc.func('void *dlopen(const char *file, int mode)'),
    dlsym: libc.func('void *dlsym(void *handle, const char *name)'),
    dladdr: libc.func('int dladdr(void *addr, _Out_ builder_Dl_info *info)'),
    dlclose: libc.func('int dlclose(void *handle)'),
  };
  return dlFunctions;
}

export async function createKoffiLoader(): Promise<NativeLoader> {
  const koffi = await loadKoffi();
  const { dlopen, dlsym, dladdr, dlclose } = bindDl(koffi);
  return {
    load(path: string): NativeLibrary {
      const lib = koffi.load(path);
      opened.push(lib);
      return {
        func: (prototype: string) => {
          const bound = lib.func(prototype) as ((...args: unknown[]) => unknown) & { async: (...args: unknown[]) => void };
          // koffi's async form runs the call on a libuv worker thread and calls back on the loop.
          const inWorker = (...args: unknown[]) =>
            new Promise<unknown>((resolve, reject) => bound.async(...args, (err: unknown, result: unknown) => (err ? reject(err) : resolve(result))));
          return Object.assign((...args: unknown[]) => bound(...args), { inWorker });
        },
        // dlsym on a handle also searches the object's dependencies (libc, libz…): a manifest
        // naming "system" would bind libc's. The symbol must live in this very object.
        definedHere: (name: string) => {
          const handle = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
          if (!handle) return false;
          try {
            const address = dlsym(handle, name);
            if (!address) return false;
            const info: { dli_fname?: string } = {};
            return dladdr(address, info) !== 0 && info.dli_fname === path;
          } finally {
            dlclose(handle); // drops only the reference RTLD_NOLOAD took
          }
        },
      };
    },
  };
}

/**
 * End the process now, with `code`, through libc's _exit: no atexit handlers, no destructors.
 * For a host with a plugin call that never returned: at exit libuv joins its worker threads,
 * and a thread stuck inside a plugin is never joined — process.exit() would hang there forever.
 */
export async function exitSkippingThreadJoin(code: number): Promise<never> {
  const koffi = await loadKoffi();
  const exit = koffi.load('libc.so.6').func('void _exit(int status)') as (status: number) => void;
  exit(code);
  throw new Error('_exit returned');
}

const MFD_CLOEXEC = 0x1;
const MFD_ALLOW_SEALING = 0x2;
const F_ADD_SEALS = 1033;
const F_GET_SEALS = 1034;

function errnoName(code: number): string {
  const name = Object.entries(constants.errno).find(([, value]) => value === code)?.[0];
  return name ? `${name} (errno ${code})` : `errno ${code}`;
}

/**
 * libc's memfd_create, sendfile and fcntl, or null where this libc or kernel has no
 * memfd_create (glibc < 2.27, or ENOSYS): the caller then falls back to private files.
 */
export async function createMemfdSyscalls(): Promise<MemfdSyscalls | null> {
  const koffi = await loadKoffi();
  let libc;
  for (const name of ['libc.so.6', 'libc.so']) {
    try {
      libc = koffi.load(name);
      break;
    } catch {
      // try the next name: glibc's soname, then musl's
    }
  }
  if (!libc) return null;
  let memfdCreate: (name: string, flags: number) => number;
  let sendfile: (out: number, inFd: number, offset: null, count: number) => number | bigint;
  let fcntl: (fd: number, cmd: number, ...rest: unknown[]) => number;
  try {
    memfdCreate = libc.func('int memfd_create(const char *name, unsigned int flags)');
    sendfile = libc.func('long sendfile(int out_fd, int in_fd, void *offset, size_t count)');
    fcntl = libc.func('int fcntl(int fd, int cmd, ...)');
  } catch {
    return null;
  }
  const check = (what: string, result: number | bigint): number => {
    const n = Number(result);
    if (n < 0) throw new Error(`${what}: ${errnoName(koffi.errno())}`);
    return n;
  };
  const syscalls: MemfdSyscalls = {
    memfdCreate: (name) => check('memfd_create', memfdCreate(name, MFD_CLOEXEC | MFD_ALLOW_SEALING)),
    sendfile: (out, inFd, count) => check('sendfile', sendfile(out, inFd, null, count)),
    addSeals: (fd, seals) => void check('fcntl(F_ADD_SEALS)', fcntl(fd, F_ADD_SEALS, 'int', seals)),
    getSeals: (fd) => check('fcntl(F_GET_SEALS)', fcntl(fd, F_GET_SEALS)),
  };
  // A kernel without memfd (or a seccomp profile that forbids it) answers here, once.
  try {
    const probe = syscalls.memfdCreate('builder-probe');
    (await import('node:fs')).closeSync(probe);
  } catch {
    return null;
  }
  return syscalls;
}
