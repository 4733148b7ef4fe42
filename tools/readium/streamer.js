// Readium's own r2-streamer-js serving publications on 127.0.0.1, for cross-checks and benchmarks.
// usage: node streamer.js PORT FILE... ; prints one JSON line {"base": ..., "publications": {file: manifestPath}}
"use strict";
const { Server } = require("r2-streamer-js/dist/es8-es2017/src/http/server");

async function main() {
  const [port, ...files] = process.argv.slice(2);
  const server = new Server({
    disableDecryption: false,
    disableReaders: true,
    disableRemotePubUrl: true,
    disableOPDS: true,
    maxPrefetchLinks: 0,
  });
  const paths = server.addPublications(files);
  await server.start(parseInt(port, 10), false);
  const publications = {};
  files.forEach((file, index) => { publications[file] = paths[index]; });
  console.log(JSON.stringify({ base: `http://127.0.0.1:${port}`, publications }));
}

main().catch((error) => { console.error(error); process.exit(1); });
