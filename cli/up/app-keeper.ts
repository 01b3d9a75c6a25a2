// Runs a `weft up` service's own command and ties its life to weft up's. Its own small entry point
// (started by weft up with an IPC channel, never by a person): the user's command cannot watch
// weft up itself, so this keeper does, and when the channel closes (weft up stopped, crashed or
// was killed with SIGKILL) it stops the command's whole process group.
import { spawn } from 'node:child_process';

const command = process.argv[2] ?? '';
// A group of its own, so that a shell pipeline or a server's workers stop together.
const app = spawn('/bin/sh', ['-c', command], { stdio: 'inherit', detached: true });

function stopApp(): void {
  try {
    if (app.pid !== undefined) process.kill(-app.pid, 'SIGTERM');
  } catch {
    // already gone
  }
}

process.once('disconnect', () => {
  stopApp();
  process.exit(0);
});
// weft up's stop (SIGTERM) and a terminal's Ctrl-C (SIGINT) both end the app.
process.on('SIGTERM', stopApp);
process.on('SIGINT', stopApp);
app.on('error', (err) => {
  process.stderr.write(`weft up: WEFT_ERR_FILE: cannot run /bin/sh: ${err.message}\n`);
  process.exit(127);
});
app.on('exit', (code, signal) => process.exit(code ?? (signal === 'SIGTERM' ? 0 : 1)));
