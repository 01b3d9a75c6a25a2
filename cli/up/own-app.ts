// Your own app in `weft up`: the command a service names, started through the keeper (which stops
// it when weft up goes), with its output in the pod's app log; and the wait until it listens.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { HostPort } from '../../lib/config.js';

const KEEPER = fileURLToPath(new URL('./app-keeper.js', import.meta.url));

/** Where a service's own command listens: loopback, on its targetPort. */
export const OWN_APP_HOST = '127.0.0.1';

/** Starts `command` with a shell in `cwd` (the mesh file's directory), PORT set to its port. */
export function startOwnApp(command: string, port: number, cwd: string, logFile: string): ChildProcess {
  const fd = openSync(logFile, 'a');
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), HOST: OWN_APP_HOST };
  const child = spawn(process.execPath, [KEEPER, command], { cwd, env, stdio: ['ignore', fd, fd, 'ipc'] });
  closeSync(fd);
  return child;
}

function canConnect(address: HostPort): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: address.host, port: address.port });
    socket.setTimeout(1000, () => socket.destroy());
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('close', () => resolve(false));
  });
}

/** Waits until `address` takes connections; false when `gone()` says the app exited or time ran out. */
export async function waitListening(address: HostPort, gone: () => boolean, timeoutMs: number, sleep: (ms: number) => Promise<void>, now: () => number): Promise<boolean> {
  const deadline = now() + timeoutMs;
  while (now() < deadline && !gone()) {
    if (await canConnect(address)) return true;
    await sleep(150);
  }
  return false;
}
