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
