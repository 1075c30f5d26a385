// FlowEx's service worker: it keeps the app shell (the index, Vite's
// content-hashed assets, the manifest and the icons) so the installed app
// opens without the network, and nothing else. API answers, streams and
// the API docs always go to the network and are never stored: balances
// and orders must never come from a cache.
//
// The build (vite.config.ts, `serviceWorker`) replaces SHELL with the
// list of built files and VERSION with a hash of them, so each build
// installs its own cache and drops the previous one.
const VERSION = __VERSION__;
const SHELL = __SHELL__;
const CACHE = `flowex-shell-${VERSION}`;
const NEVER = ['/api/', '/ws', '/stream', '/ws-api/', '/docs', '/openapi.json', '/health/', '/metrics'];

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(SHELL))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith('flowex-shell-') && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method !== 'GET' || url.origin !== self.location.origin) return;
  if (NEVER.some((p) => url.pathname === p.replace(/\/$/, '') || url.pathname.startsWith(p))) return;
  if (req.mode === 'navigate') {
    // A page: the network first (a new build is picked up at once), the
    // cached index when offline (every client-side route is the index).
    event.respondWith(fetch(req).catch(() => caches.match('/index.html').then((r) => r ?? Response.error())));
    return;
  }
  if (SHELL.includes(url.pathname)) {
    event.respondWith(caches.match(req).then((hit) => hit ?? fetch(req)));
  }
});
