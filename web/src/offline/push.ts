// Web Push, opted into on the account page only (the browser's permission prompt comes from the patron's own
// tap, never on load): the browser's subscription, made with notify's VAPID public key, is sent to notify with
// its keys; one subscription per device (subscribing again replaces this device's old one); each device can be
// removed. The service worker (sw.ts) shows the messages and opens their page.

import { api, session } from "../api";
import { announce, busy, h, reportProblem } from "../dom";
import { formatDate } from "../i18n";
import { ot } from "./messages";

interface Device {
  id: string;
  endpoint: string;
  device_name: string;
  created_at: string;
  active: boolean;
}

const DEVICE_KEY = "sachso.push-subscription";

function thisDevice(): string | null {
  const saved = JSON.parse(localStorage.getItem(DEVICE_KEY) ?? "null") as { patron: string; id: string } | null;
  return saved && saved.patron === session("patron")?.subject ? saved.id : null;
}

function base64UrlToBytes(value: string): Uint8Array<ArrayBuffer> {
  const text = atob(value.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(value.length / 4) * 4, "="));
  return Uint8Array.from(text, (char) => char.charCodeAt(0));
}

function deviceName(): string {
  const agent = navigator.userAgent;
  const browser = /Edg\//.test(agent) ? "Edge" : /Firefox\//.test(agent) ? "Firefox" : /Chrome\//.test(agent) ? "Chrome" : /Safari\//.test(agent) ? "Safari" : "Trình duyệt";
  const system = /Android/.test(agent) ? "Android" : /iPhone|iPad/.test(agent) ? "iOS" : /Windows/.test(agent) ? "Windows" : /Mac OS/.test(agent) ? "macOS" : /Linux/.test(agent) ? "Linux" : "";
  return [browser, system].filter(Boolean).join(" · ");
}

/** Subscribes this browser and tells notify; replaces this device's earlier subscription. */
export async function subscribeThisDevice(): Promise<Device> {
  const permission = await Notification.requestPermission();
  if (permission !== "granted") throw new Error("permission");
  const registration = await navigator.serviceWorker.ready;
  const { public_key } = await api<{ public_key: string }>("notify", "/v1/push/vapid-public-key");
  const subscription =
    (await registration.pushManager.getSubscription()) ??
    (await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: base64UrlToBytes(public_key) }));
  const json = subscription.toJSON();
  const previous = thisDevice();
  const saved = await api<Device>("notify", "/v1/push/subscriptions", {
    auth: "patron",
    body: { endpoint: json.endpoint, keys: json.keys, device_name: deviceName() },
  });
  if (previous && previous !== saved.id) await api("notify", `/v1/push/subscriptions/${encodeURIComponent(previous)}`, { auth: "patron", method: "DELETE" }).catch(() => undefined);
  localStorage.setItem(DEVICE_KEY, JSON.stringify({ patron: session("patron")?.subject, id: saved.id }));
  return saved;
}

async function removeDevice(device: Device): Promise<void> {
  await api("notify", `/v1/push/subscriptions/${encodeURIComponent(device.id)}`, { auth: "patron", method: "DELETE" });
  if (device.id === thisDevice()) {
    localStorage.removeItem(DEVICE_KEY);
    const registration = await navigator.serviceWorker.getRegistration();
    await (await registration?.pushManager.getSubscription())?.unsubscribe();
  }
}

/** The account page's "Thông báo trên thiết bị này" section. */
export function pushSection(): HTMLElement {
  const list = h("ul", { class: "push-devices", id: "push-devices" });
  const state = h("p", { class: "meta", id: "push-state" });
  const enable = h("button", { type: "button", class: "primary", id: "push-enable" }, ot("pushEnable")) as HTMLButtonElement;
  const supported = "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
  const section = h(
    "section",
    { id: "push", "aria-labelledby": "push-title" },
    h("h2", { id: "push-title" }, ot("pushTitle")),
    h("p", {}, ot("pushHelp")),
    state,
    h("div", { class: "actions" }, enable),
    h("h3", {}, ot("pushDevices")),
    list,
  );
  const fill = async (): Promise<void> => {
    const devices = (await api<Device[]>("notify", "/v1/push/subscriptions", { auth: "patron" })).filter((device) => device.active);
    const mine = thisDevice();
    enable.hidden = !supported || devices.some((device) => device.id === mine);
    state.textContent = !supported ? ot("pushUnsupported") : Notification.permission === "denied" ? ot("pushDenied") : devices.some((device) => device.id === mine) ? ot("pushEnabled") : "";
    list.replaceChildren(
      ...(devices.length
        ? devices.map((device) => {
            const remove = h("button", { type: "button", class: "quiet", "data-push-remove": device.id }, ot("pushRemove")) as HTMLButtonElement;
            remove.addEventListener("click", () => {
              void busy(remove, async () => {
                await removeDevice(device);
                announce(ot("pushRemoved"));
                await fill();
              }).catch(reportProblem);
            });
            return h("li", { "data-push-device": device.id }, device.device_name || "—", device.id === mine ? ` (${ot("pushThisDevice")})` : "", " · ", h("span", { class: "meta" }, ot("pushSince", { date: formatDate(device.created_at) })), " ", remove);
          })
        : [h("li", { class: "meta" }, ot("pushNoDevices"))]),
    );
  };
  enable.addEventListener("click", () => {
    void busy(enable, async () => {
      try {
        await subscribeThisDevice();
      } catch (error) {
        if (error instanceof Error && error.message === "permission") {
          state.textContent = ot("pushDenied");
          return;
        }
        throw error;
      }
      announce(ot("pushEnabled"));
      await fill();
    }).catch(reportProblem);
  });
  enable.hidden = !supported;
  void fill().catch(reportProblem);
  return section;
}
