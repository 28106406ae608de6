// The page's service worker: the page, its runtimes (ONNX Runtime Web, wasm-vips) and the model are kept in a cache
// as they are fetched, so the page works offline once loaded; the model and the page's description are fetched
// afresh when the network answers. Every response it hands the page carries COOP/COEP, which makes the page
// cross-origin isolated on any static host (wasm-vips needs SharedArrayBuffer). Predictions are never cached.
const CACHE = 'dsdnet-page-1';
/** What the page is made of, relative to its folder; anything else (the API, /docs, /metrics) passes through. */
const PAGE =
  /^(|index\.html|app\.js|style\.css|sw\.js|model|model\.json|model\.onnx|examples(\/.*)?|shared\/[\w.-]+|ort\/[\w.-]+|vips\/[\w.-]+)$/;
/** Fetched afresh while online (they change with the model); the rest from the cache first. */
const FRESH_FIRST = /^(|index\.html|model|model\.json|model\.onnx|examples(\/index\.json)?)$/;
const scope = new URL(self.registration.scope).pathname;

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

function isolated(response) {
  if (response.type === 'opaque' || response.status === 0) return response;
  const headers = new Headers(response.headers);
  headers.set('Cross-Origin-Embedder-Policy', 'require-corp');
  headers.set('Cross-Origin-Opener-Policy', 'same-origin');
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

async function fromNetwork(request, cache) {
  const response = await fetch(request);
  if (response.ok) await cache.put(request, response.clone());
  return response;
}

async function answer(request) {
  const cache = await caches.open(CACHE);
  if (FRESH_FIRST.test(new URL(request.url).pathname.slice(scope.length))) {
    try {
      return isolated(await fromNetwork(request, cache));
    } catch (error) {
      const cached = await cache.match(request);
      if (cached) return isolated(cached);
      throw error;
    }
  }
  const cached = await cache.match(request);
  return isolated(cached ?? (await fromNetwork(request, cache)));
}

self.addEventListener('fetch', (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (
    request.method !== 'GET' ||
    url.origin !== self.location.origin ||
    !url.pathname.startsWith(scope) ||
    !PAGE.test(url.pathname.slice(scope.length))
  )
    return;
  event.respondWith(answer(request));
});
