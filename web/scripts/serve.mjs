// Serves the built app (dist/) and proxies /api/{lending,drm,reader,notify}/… to the services, so the browser
// talks to one origin and needs no CORS. No dependencies: Node's http only.
//
//   node scripts/serve.mjs --services ../.local/platform/services.json [--port 5173] [--host 127.0.0.1]
//
// Prints "listening on http://HOST:PORT" once it accepts connections (--port 0 picks a free port).
import { createReadStream, readFileSync, statSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, value, index, all) => {
    if (value.startsWith("--")) pairs.push([value.slice(2), all[index + 1]]);
    return pairs;
  }, []),
);
const root = path.resolve(args.dist ?? path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "dist"));
const services = JSON.parse(readFileSync(args.services ?? process.env.SACHSO_SERVICES, "utf-8"));
const targets = Object.fromEntries(Object.entries(services).map(([name, e]) => [name, e.http_port]));
const types = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".map": "application/json",
  ".woff2": "font/woff2",
};

function proxy(request, response, port, upstreamPath) {
  const headers = { ...request.headers, host: `127.0.0.1:${port}` };
  const upstream = http.request(
    { host: "127.0.0.1", port, method: request.method, path: upstreamPath, headers },
    (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    },
  );
  upstream.on("error", (error) => {
    response.writeHead(502, { "content-type": "text/plain; charset=utf-8" });
    response.end(`upstream error: ${error.message}`);
  });
  request.pipe(upstream);
}

const server = http.createServer((request, response) => {
  const url = new URL(request.url ?? "/", "http://local");
  const match = /^\/api\/([a-z]+)(\/.*)?$/.exec(url.pathname);
  if (match && targets[match[1]]) {
    proxy(request, response, targets[match[1]], (match[2] ?? "/") + url.search);
    return;
  }
  let file = path.join(root, decodeURIComponent(url.pathname));
  if (!file.startsWith(root)) {
    response.writeHead(403).end();
    return;
  }
  try {
    if (statSync(file).isDirectory()) file = path.join(file, "index.html");
    const size = statSync(file).size;
    const immutable = file.includes(`${path.sep}assets${path.sep}`);
    response.writeHead(200, {
      "content-type": types[path.extname(file)] ?? "application/octet-stream",
      "content-length": size,
      "cache-control": immutable ? "public, max-age=31536000, immutable" : "no-cache",
    });
    createReadStream(file).pipe(response);
  } catch {
    response.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("not found");
  }
});

server.listen(Number(args.port ?? 5173), args.host ?? "127.0.0.1", () => {
  const address = server.address();
  console.log(`listening on http://${address.address}:${address.port}`);
});
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => server.close(() => process.exit(0)));
