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
  ".webmanifest": "application/manifest+json",
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

/** The app's Content-Security-Policy. Book pages are shown by Readium's navigator as blob: documents made by
 * the app, so they inherit this policy: scripts run only from the app's own build (/assets/) and from blob:
 * URLs the app creates, never inline or from a book. Keep it equal to deploy/images/web-nginx.conf. */
function contentSecurityPolicy(origin) {
  return [
    "default-src 'self'",
    `script-src ${origin}/assets/ blob:`,
    "style-src 'self' 'unsafe-inline' blob:",
    "img-src 'self' blob: data:",
    "font-src 'self' blob: data:",
    "media-src 'self' blob:",
    "connect-src 'self'",
    "frame-src 'self' blob:",
    "worker-src 'self'", // the app's service worker (offline reading, push); no other worker
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/** The file under ``root`` that ``pathname`` names, or null when it is malformed or leaves ``root``. */
function resolveInside(root, pathname) {
  let decoded;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return null; // malformed percent-encoding, e.g. /%E0%A4%A
  }
  if (decoded.includes("\0")) return null;
  const file = path.resolve(root, `.${path.posix.normalize(`/${decoded}`)}`);
  return file === root || file.startsWith(root + path.sep) ? file : null;
}

function sendFile(response, file, headers = {}) {
  const size = statSync(file).size;
  const immutable = file.includes(`${path.sep}assets${path.sep}`);
  response.writeHead(200, {
    "content-type": types[path.extname(file)] ?? "application/octet-stream",
    "content-length": size,
    "cache-control": immutable ? "public, max-age=31536000, immutable" : "no-cache",
    "x-content-type-options": "nosniff",
    "referrer-policy": "strict-origin-when-cross-origin",
    ...headers,
  });
  createReadStream(file).pipe(response);
}

function isFile(file) {
  try {
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

const server = http.createServer((request, response) => {
  const url = new URL(request.url ?? "/", "http://local");
  const match = /^\/api\/([a-z]+)(\/.*)?$/.exec(url.pathname);
  if (match && targets[match[1]]) {
    proxy(request, response, targets[match[1]], (match[2] ?? "/") + url.search);
    return;
  }
  const file = resolveInside(root, url.pathname);
  if (file === null) {
    response.writeHead(400, { "content-type": "text/plain; charset=utf-8" }).end("bad path");
    return;
  }
  const shell = path.join(root, "index.html");
  const page = {
    "content-security-policy": contentSecurityPolicy(`http://${request.headers.host ?? "127.0.0.1"}`),
    "x-frame-options": "DENY",
  };
  if (isFile(file)) sendFile(response, file, file === shell ? page : {});
  else if (isFile(path.join(file, "index.html"))) sendFile(response, path.join(file, "index.html"), page);
  else if (!path.extname(url.pathname) && request.method === "GET" && isFile(shell)) sendFile(response, shell, page); // the app's own routes
  else response.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("not found");
});

server.listen(Number(args.port ?? 5173), args.host ?? "127.0.0.1", () => {
  const address = server.address();
  console.log(`listening on http://${address.address}:${address.port}`);
});
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => server.close(() => process.exit(0)));
