// Uploads one file with tus-js-client, for tests/uploads/test_js_client.py.
//
// Usage: node upload.js '<json>', the JSON object holding endpoint and path,
// and optionally the tus-js-client options metadata, metadataForPartialUploads,
// headers, chunkSize, parallelUploads and retryDelays (the library's defaults
// apply to those left out).
//
// Prints one JSON object a line: {"progress": sent, "total": n} whenever the
// whole percentage changes, {"chunk": accepted, "total": n} when the server
// acknowledges a request, {"retry": attempt, "error": ...} before each retry,
// and finally {"url": ..., "done": true} or {"error": ...}, exiting 1 on an
// error.

import fs from "node:fs";

import { Upload, defaultOptions } from "tus-js-client";

const PASSED_THROUGH = [
  "metadata",
  "metadataForPartialUploads",
  "headers",
  "chunkSize",
  "parallelUploads",
  "retryDelays",
];

function say(line) {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

function reporting() {
  let shownPercent = -1;
  return {
    onProgress(sent, total) {
      const percent = total ? Math.floor((sent * 100) / total) : 100;
      if (percent !== shownPercent) {
        shownPercent = percent;
        say({ progress: sent, total });
      }
    },
    onChunkComplete(_size, accepted, total) {
      say({ chunk: accepted, total });
    },
    onShouldRetry(error, attempt, options) {
      // The library's own rule decides; this only makes the decision visible.
      const retrying = defaultOptions.onShouldRetry(error, attempt, options);
      if (retrying) {
        say({ retry: attempt + 1, error: String(error) });
      }
      return retrying;
    },
  };
}

function main() {
  const args = JSON.parse(process.argv[2]);
  const options = { endpoint: args.endpoint, ...reporting() };
  for (const name of PASSED_THROUGH) {
    if (args[name] != null) {
      options[name] = args[name];
    }
  }
  const upload = new Upload(fs.createReadStream(args.path), {
    ...options,
    onSuccess() {
      say({ url: upload.url, done: true });
    },
    onError(error) {
      say({ error: String(error) });
      process.exitCode = 1;
    },
  });
  upload.start();
}

main();
