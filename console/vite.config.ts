import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The console is served by the API under /console/ (api/routes/console.ts); assets are hashed, so
// they can be cached for good, and nothing is inlined (the Content-Security-Policy allows no inline code).
// Vite runs the config from console/ (its root), wherever the build starts.
const root = new URL('.', import.meta.url).pathname.replace(/\/$/, '');

export default defineConfig({
  base: '/console/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsInlineLimit: 0,
    sourcemap: false,
    chunkSizeWarningLimit: 1000,
    // The console, and the website chat's framed page (served at /widget/<id>/frame).
    rollupOptions: {
      input: { console: `${root}/index.html`, widget: `${root}/widget.html` },
    },
  },
  server: {
    // `npx vite console` for development: the API on its default port answers /v1.
    proxy: { '/v1': 'http://127.0.0.1:3000' },
  },
});
