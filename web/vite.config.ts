// Vite builds the static app into dist/. In `npm run dev`, the APIs are proxied from this one origin, like
// scripts/serve.mjs does for the built app: set SACHSO_SERVICES to the platform's services.json
// (.local/platform/services.json after `make up`).
import { readFileSync } from "node:fs";
import { defineConfig, type ProxyOptions } from "vite";

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
});
