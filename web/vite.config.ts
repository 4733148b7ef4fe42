// Vite builds the static app into dist/. In `npm run dev`, the APIs are proxied from this one origin, like
// scripts/serve.mjs does for the built app: set SACHSO_SERVICES to the platform's services.json
// (.local/platform/services.json after `make up`).
import { readFileSync } from "node:fs";
import { defineConfig, type ProxyOptions } from "vite";
import { VitePWA } from "vite-plugin-pwa";

function proxies(): Record<string, ProxyOptions> {
  const file = process.env.SACHSO_SERVICES;
  if (!file) return {};
  const services = JSON.parse(readFileSync(file, "utf-8")) as Record<string, { http_port: number }>;
  return Object.fromEntries(
    Object.entries(services).map(([name, endpoint]) => [
      `/api/${name}`,
      {
        target: `http://127.0.0.1:${endpoint.http_port}`,
        rewrite: (path: string) => path.slice(`/api/${name}`.length),
      },
    ]),
  );
}

export default defineConfig({
  base: "/",
  build: { target: "es2022", sourcemap: true, chunkSizeWarningLimit: 2000 },
  server: { proxy: proxies() },
  plugins: [
    // The web app manifest (installable) and the service worker (src/offline/sw.ts), whose precache list of the
    // built app shell Workbox writes in at build time. The app registers the worker itself (src/offline/).
    VitePWA({
      strategies: "injectManifest",
      srcDir: "src/offline",
      filename: "sw.ts",
      injectRegister: false,
      includeManifestIcons: false, // the glob below already precaches them
      manifest: {
        id: "/",
        name: "Sách Số — Thư viện số",
        short_name: "Sách Số",
        description: "Mượn và đọc sách điện tử của thư viện, cả khi không có mạng",
        lang: "vi",
        dir: "ltr",
        start_url: "/shelf",
        scope: "/",
        display: "standalone",
        orientation: "any",
        theme_color: "#0b5d3b",
        background_color: "#ffffff",
        categories: ["books", "education"],
        icons: [
          { src: "/icons/icon-192.png", sizes: "192x192", type: "image/png", purpose: "any" },
          { src: "/icons/icon-512.png", sizes: "512x512", type: "image/png", purpose: "any" },
          { src: "/icons/maskable-512.png", sizes: "512x512", type: "image/png", purpose: "maskable" },
          { src: "/icons/icon.svg", sizes: "any", type: "image/svg+xml", purpose: "any" },
        ],
      },
      injectManifest: {
        globPatterns: ["**/*.{js,css,html,woff2,woff,png,svg,webmanifest}"],
        maximumFileSizeToCacheInBytes: 8 * 1024 * 1024, // Readium's navigator is in the main chunk
      },
    }),
  ],
});
