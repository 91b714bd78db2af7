/**
 * The web page (`npm run web`): Vite serves web/ and compiles the engine's TypeScript sources from
 * src/ on the fly. Nothing runs on the server: it only serves files; all computation is WebGPU in
 * the browser. `npx vite build --config web/vite.config.ts` writes a static copy to web/dist/ (git-ignored),
 * which any static file server can host (WebGPU needs https or localhost).
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  clearScreen: false,
  server: { host: 'localhost', port: 5173 },
  preview: { host: 'localhost', port: 4173 },
  build: { target: 'es2022' },
});
