/// <reference types="vitest/config" />
import react from '@vitejs/plugin-react';
import tailwindcss from '@tailwindcss/vite';
import { defineConfig } from 'vite';

// Unit and component tests run in UTC so that formatted times are stable.
process.env.TZ = 'UTC';

// `npm run dev` proxies the API routes to a local query service (`make run`).
const API = process.env.TOCSIN_API_URL ?? 'http://127.0.0.1:8080';
const apiRoutes = ['/incidents', '/events', '/resolve', '/openapi.json', '/oncall', '/schedules', '/users', '/teams'];

export default defineConfig({
  plugins: [react(), tailwindcss()],
  server: {
    proxy: Object.fromEntries(apiRoutes.map((route) => [route, { target: API, changeOrigin: false }])),
  },
  build: {
    target: 'es2022',
    sourcemap: true,
    reportCompressedSize: false,
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.{ts,tsx}'],
    setupFiles: ['src/testing/setup.ts'],
    restoreMocks: true,
    unstubGlobals: true,
  },
});
