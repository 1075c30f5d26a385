import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import './i18n';
import { App } from './App';
import './index.css';

// Dark unless the person chose light (index.html starts dark).
if (localStorage.getItem('flowex.theme') === 'light') document.documentElement.classList.remove('dark');

const root = document.getElementById('root');
if (root) {
  createRoot(root).render(
    <StrictMode>
      <App />
    </StrictMode>,
  );
}

// The installed app's shell (sw/sw.js): built only, so `npm run dev`
// never serves from a cache. A failure leaves the page working online.
if (import.meta.env.PROD && 'serviceWorker' in navigator) {
  window.addEventListener('load', () => {
    navigator.serviceWorker.register('/sw.js').catch(() => undefined);
  });
}
