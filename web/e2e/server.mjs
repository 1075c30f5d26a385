// A real `flowex up` on a free loopback port, in a fresh data directory.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

const root = resolve(import.meta.dirname, '../..');

export function flowexBin() {
  const bin = process.env.FLOWEX_BIN ?? join(root, 'target/debug/flowex');
  if (!existsSync(bin)) throw new Error(`no flowex binary at ${bin} (cargo build -p flowex, or set FLOWEX_BIN)`);
  return bin;
}

/** The binary's environment without the caller's FLOWEX_* settings. */
function cleanEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('FLOWEX_')) env[k] = v;
  return env;
}

/** Runs `python3 -c code args…` (the e2e's way to age a row in the SQLite file). */
export function python(code, ...args) {
  const r = spawnSync('python3', ['-c', code, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`python3 failed: ${r.stderr}${r.stdout}`);
}

/** `flowex up` in a fresh directory; `prepare(dir)` runs before it starts,
 * `env` adds settings (FLOWEX_…). */
export async function startFlowex({ admin, args = [], env = {}, prepare }) {
  const bin = flowexBin();
  const dir = mkdtempSync(join(tmpdir(), 'flowex-e2e-'));
  if (admin) {
    const r = spawnSync(bin, ['--data-dir', dir, 'admin', 'create-user', '--email', admin.email, '--password', '-', '--admin'], {
      input: `${admin.password}\n`,
      env: cleanEnv(),
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`create-user failed: ${r.stderr}${r.stdout}`);
  }
  if (prepare) prepare(dir);
  const child = spawn(bin, ['--data-dir', dir, '--port', '0', 'up', '--seconds', '600', ...args], {
    env: { ...cleanEnv(), ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  const base = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error('flowex up did not announce itself in 60 s')), 60_000);
    child.on('exit', (code) => fail(new Error(`flowex up exited with ${code}`)));
    lines.on('line', (line) => {
      const m = /^FlowEx is up at (\S+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        ok(m[1]);
      }
    });
  });
  return { base, dir, stop: () => child.kill('SIGTERM') };
}
