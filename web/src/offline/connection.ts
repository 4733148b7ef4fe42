// Whether the services can be reached. ``navigator.onLine`` only says the device has a network: a phone on a
// village Wi-Fi with no way out, or behind a captive portal, reads "online" while every request fails (and
// browser automation's offline mode can leave it at true). So a request that does not reach the network, or that
// the service worker answered from its cache because the network failed, counts as offline too; while offline,
// the app asks every few seconds whether the services answer again (a HEAD the service worker passes through).

const PROBE_EVERY_MS = 10_000;
const PROBE_TIMEOUT_MS = 8_000;

type Listener = (online: boolean) => void;

let online = navigator.onLine;
const listeners = new Set<Listener>();
let probeTimer: ReturnType<typeof setTimeout> | undefined;

/** The app's best knowledge: false from the first failed request until the services answer again. */
export function isOnline(): boolean {
  return online;
}

/** Calls ``listener`` whenever the connection is lost or comes back. */
export function onConnection(listener: Listener): void {
  listeners.add(listener);
}

function set(value: boolean): void {
  if (!value) scheduleProbe();
  if (value === online) return;
  online = value;
  for (const listener of listeners) listener(value);
}

function scheduleProbe(): void {
  if (probeTimer !== undefined) return;
  probeTimer = setTimeout(() => {
    probeTimer = undefined;
    void checkConnection();
  }, PROBE_EVERY_MS);
}

/** Asks whether the app's origin answers (a HEAD of config.json, never from a cache) and records the answer. */
export async function checkConnection(): Promise<boolean> {
  if (!navigator.onLine) {
    set(false);
    return false;
  }
  try {
    const response = await fetch("/config.json", { method: "HEAD", cache: "no-store", signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    set(response.ok); // a gateway's 502 or 504 is not the app answering
  } catch {
    set(false);
  }
  return online;
}

/** Wraps a request to the services: a network failure, or the service worker's cached stand-in, means offline;
 * any answer of the services means online. */
export async function watched(request: Promise<Response>): Promise<Response> {
  let response: Response;
  try {
    response = await request;
  } catch (error) {
    if (error instanceof TypeError) set(false);
    throw error;
  }
  // a gateway's 502 or 504 says the services cannot be reached; any other answer is theirs
  set(response.headers.get("X-Sachso-From-Cache") === null && response.status !== 502 && response.status !== 504);
  return response;
}

/** Follows the browser's own signals as well: "offline" at once, "online" or the app shown again after a check. */
export function watchBrowser(): void {
  window.addEventListener("offline", () => set(false));
  window.addEventListener("online", () => void checkConnection());
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && !online) void checkConnection();
  });
  void checkConnection();
}
