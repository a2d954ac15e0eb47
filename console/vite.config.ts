import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The console is served by the API under /console/ (api/routes/console.ts); assets are hashed, so
// they can be cached for good, and nothing is inlined (the Content-Security-Policy allows no inline code).
export default defineConfig({
  base: '/console/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsInlineLimit: 0,
    sourcemap: false,
    chunkSizeWarningLimit: 1000,
  },
  server: {
    // `npx vite console` for development: the API on its default port answers /v1.
    proxy: { '/v1': 'http://127.0.0.1:3000' },
  },
});
