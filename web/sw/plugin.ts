// Writes `sw.js` (from sw/sw.js) into the finished build with the app
// shell's file list (everything built except the API docs' copy of
// Swagger UI, public files included) and a version hashed from those
// files' names and contents: a new build is a new cache, an unchanged one
// keeps the installed cache.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import type { Plugin } from 'vite';

const notShell = (name: string) => name.startsWith('docs/') || name.endsWith('.map') || name === 'sw.js';

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)).split('\\').join('/'));
}

export function serviceWorker(): Plugin {
  return {
    name: 'flowex-service-worker',
    apply: 'build',
    closeBundle: {
      sequential: true,
      order: 'post',
      handler() {
        const outDir = resolve(this.environment.config.root, this.environment.config.build.outDir);
        const names = filesUnder(outDir).filter((n) => !notShell(n)).sort();
        const hash = createHash('sha256');
        for (const name of names) hash.update(name).update(readFileSync(join(outDir, name)));
        const template = readFileSync(resolve(import.meta.dirname, 'sw.js'), 'utf8');
        const source = template
          .replace('__VERSION__', JSON.stringify(hash.digest('hex').slice(0, 16)))
          .replace('__SHELL__', JSON.stringify(names.map((n) => `/${n}`)));
        writeFileSync(join(outDir, 'sw.js'), source);
      },
    },
  };
}
