/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import tailwindcss from '@tailwindcss/vite';
import { serviceWorker } from './sw/plugin.ts';

// `npm run dev` proxies the API and the streams to a `flowex up` on :8080,
// so the UI stays same-origin as it is when the gateway serves it.
const backend = process.env.FLOWEX_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [react(), tailwindcss(), serviceWorker()],
  build: {
    // The gateway embeds the build: no source maps in the binary.
    sourcemap: false,
    chunkSizeWarningLimit: 1024,
  },
  server: {
    proxy: {
      '/api': backend,
      '/stream': { target: backend, ws: true },
      '/ws': { target: backend, ws: true },
      '/ws-api': { target: backend, ws: true },
    },
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.{ts,tsx}'],
  },
});
