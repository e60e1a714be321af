import type { Server } from 'node:http';
import { isIP } from 'node:net';

/** Listen, resolving with the bound port; a bind error (EADDRINUSE, EACCES) rejects. */
export function listen(server: Server, port: number, address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => {
      server.off('error', reject);
      const bound = server.address();
      resolve(typeof bound === 'object' && bound ? bound.port : port);
    });
  });
}

/**
 * Stop within `graceMs`: stop accepting, let requests in flight finish, drop idle keep-alive
 * connections at once, and cut whatever is still open when the grace period ends (a slow or
 * stalled client must not hold the process until the orchestrator's SIGKILL).
 */
export function shutdownGracefully(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => server.closeAllConnections(), graceMs);
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeIdleConnections();
  });
}

/** Whether a listen address only accepts connections from this machine. */
export function isLoopback(address: string): boolean {
  if (address === 'localhost') return true;
  if (isIP(address) === 4) return address.startsWith('127.');
  if (isIP(address) === 6) return address === '::1' || /^::ffff:127\./i.test(address);
  return false;
}
