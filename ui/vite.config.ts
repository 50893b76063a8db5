// Builds the UI into the Python package, where kvmcloud-server serves it at /client/.
import { defineConfig } from "vite";

export default defineConfig({
  base: "/client/",
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: {
    outDir: "../src/kvmcloud/server/webui/static",
    emptyOutDir: true,
    // No source maps in the package: the source is in the repository.
    sourcemap: false,
    target: "es2022",
  },
  server: {
    // `npm run dev` proxies the API to a kvmcloud-server listening on 127.0.0.1:8080.
    proxy: { "/client/api": "http://127.0.0.1:8080" },
  },
});
