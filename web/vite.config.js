// Vite builds the app into web/dist, which `marrowscope serve --web-root web/dist` serves at /.
// `npm run dev` proxies /api to a server on MARROWSCOPE_API (default http://127.0.0.1:8080).
import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'
import { fileURLToPath, URL } from 'node:url'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'

// Swagger UI for the server's /api/docs page, from the swagger-ui-dist package: copied into
// dist/api-docs/ at build time (the server sends no page that loads anything from elsewhere).
// public/api-docs/init.js starts it.
function apiReference() {
  const require = createRequire(import.meta.url)
  const dist = (file) => require.resolve(`swagger-ui-dist/${file}`)
  return {
    name: 'marrowscope-api-reference',
    apply: 'build',
    generateBundle() {
      for (const file of ['swagger-ui-bundle.js', 'swagger-ui.css']) {
        this.emitFile({ type: 'asset', fileName: `api-docs/${file}`, source: readFileSync(dist(file)) })
      }
    },
  }
}

export default defineConfig({
  plugins: [vue(), apiReference()],
  resolve: {
    alias: { '@': fileURLToPath(new URL('./src', import.meta.url)) },
  },
  server: {
    // The cell taxonomy is read from ../configs/taxonomy at build time (one source of truth).
    fs: { allow: ['..'] },
    proxy: { '/api': process.env.MARROWSCOPE_API || 'http://127.0.0.1:8080' },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 2000,
    rollupOptions: {
      output: {
        manualChunks(id) {
          if (id.includes('node_modules/echarts') || id.includes('node_modules/zrender')) return 'echarts'
          if (id.includes('node_modules/element-plus')) return 'element-plus'
          return undefined
        },
      },
    },
  },
  test: {
    environment: 'jsdom',
    include: ['tests/**/*.test.ts'],
    css: false,
  },
})
