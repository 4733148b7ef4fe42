// The services' HTTP APIs. Base URLs come at run time from /config.json, written by whoever serves the app
// (scripts/serve.mjs proxies them from the app's own origin, so no CORS is needed).

import { watched } from "./offline/connection";

export interface Config {
  lending: string;
  drm: string;
  reader: string;
  notify: string;
}
export type Service = keyof Config;

let config: Config | null = null;

export async function loadConfig(): Promise<Config> {
  const response = await fetch("/config.json", { cache: "no-cache" });
  config = (await response.json()) as Config;
  return config;
}

export function baseUrl(service: Service): string {
  if (!config) throw new Error("config.json not loaded");
  return new URL(config[service], window.location.href).href.replace(/\/$/, "");
}

export interface Session {
  kind: "patron" | "staff";
  access_token: string;
  refresh_token: string | null;
  subject: string;
  library_id: string | null;
  roles: string[];
  name: string;
}

interface TokenOut {
  access_token: string;
  refresh_token: string | null;
  token_type: string;
  expires_in: number;
}

const SESSION_KEYS = { patron: "sachso.patron", staff: "sachso.staff" } as const;

export function session(kind: Session["kind"]): Session | null {
  const raw = localStorage.getItem(SESSION_KEYS[kind]);
  return raw ? (JSON.parse(raw) as Session) : null;
}

function keep(value: Session): void {
  localStorage.setItem(SESSION_KEYS[value.kind], JSON.stringify(value));
}

export function signOut(kind: Session["kind"]): void {
  localStorage.removeItem(SESSION_KEYS[kind]);
}

function claims(token: string): Record<string, unknown> {
  const part = token.split(".")[1] ?? "";
  const json = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
  return JSON.parse(decodeURIComponent(escape(json))) as Record<string, unknown>;
}

function sessionOf(kind: Session["kind"], token: TokenOut, name: string): Session {
  const values = claims(token.access_token);
  return {
    kind,
    access_token: token.access_token,
    refresh_token: token.refresh_token,
    subject: String(values.sub ?? ""),
    library_id: typeof values.library_id === "string" ? values.library_id : null,
    roles: Array.isArray(values.roles) ? values.roles.map(String) : [],
    name,
  };
}

/** An RFC 9457 problem (or any failed answer). ``problem`` is the last segment of its ``type`` URI
 * ("no-copy-available"), which the app turns into a message of its own (the English ``detail`` is kept for
 * logs, never shown). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: string,
    readonly detail: string = "",
  ) {
    super(`${status} ${problem}${detail ? `: ${detail}` : ""}`);
  }
}

export async function failure(response: Response): Promise<ApiError> {
  let problem = "";
  let detail = "";
  try {
    const body = (await response.json()) as { type?: string; detail?: string };
    problem = (body.type ?? "").split("/").filter(Boolean).pop() ?? "";
    detail = body.detail ?? "";
  } catch {
    // not JSON: the status alone says what happened
  }
  return new ApiError(response.status, problem, detail);
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  auth?: Session["kind"];
  query?: Record<string, string | number | boolean | undefined>;
  headers?: Record<string, string>;
}

export async function raw(service: Service, path: string, options: RequestOptions = {}): Promise<Response> {
  const url = new URL(baseUrl(service) + path);
  for (const [key, value] of Object.entries(options.query ?? {})) {
    if (value !== undefined && value !== "") url.searchParams.set(key, String(value));
  }
  const send = async (): Promise<Response> => {
    const headers: Record<string, string> = { Accept: "application/json", ...options.headers };
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    const current = options.auth ? session(options.auth) : null;
    if (current) headers.Authorization = `Bearer ${current.access_token}`;
    const request = fetch(url, {
      method: options.method ?? (options.body === undefined ? "GET" : "POST"),
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    return watched(request); // a failure here (or the service worker's cached stand-in) tells the app it is offline
  };
  let response = await send();
  if (response.status === 401 && options.auth === "patron" && (await refreshPatron())) response = await send();
  if (!response.ok) throw await failure(response);
  return response;
}

export async function api<T>(service: Service, path: string, options: RequestOptions = {}): Promise<T> {
  const response = await raw(service, path, options);
  return (response.status === 204 ? undefined : await response.json()) as T;
}

async function refreshPatron(): Promise<boolean> {
  const current = session("patron");
  if (!current?.refresh_token) return false;
  const response = await fetch(`${baseUrl("lending")}/v1/auth/refresh`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ refresh_token: current.refresh_token }),
  });
  if (!response.ok) {
    signOut("patron");
    return false;
  }
  keep(sessionOf("patron", (await response.json()) as TokenOut, current.name));
  return true;
}

export async function signInPatron(cardNumber: string, pin: string): Promise<Session> {
  const token = await api<TokenOut>("lending", "/v1/auth/token", { body: { card_number: cardNumber, pin } });
  const value = sessionOf("patron", token, cardNumber);
  keep(value);
  const me = await api<Patron>("lending", "/v1/me", { auth: "patron" });
  const named = { ...value, name: me.display_name, library_id: me.library_id };
  keep(named);
  return named;
}

export async function signInStaff(username: string, password: string): Promise<Session> {
  const token = await api<TokenOut>("lending", "/v1/auth/staff-token", { body: { username, password } });
  const value = sessionOf("staff", token, username);
  keep(value);
  return value;
}

// -- shapes of the answers -------------------------------------------------------------------------------------

export interface Patron {
  id: string;
  library_id: string;
  display_name: string;
  email: string;
  preferred_language: string;
  status: string;
  card_number: string | null;
  card_expires_at: string | null;
}

export interface Library {
  id: string;
  name: string;
  kind: string;
  parent_id: string | null;
}

export interface Title {
  id: string;
  publication_id: string | null;
  title: string;
  subtitle: string;
  authors: string[];
  language: string;
  subjects: string[];
  library_ids: string[];
  online_only?: boolean;
  lendable?: boolean;
  format?: string;
  open_access?: boolean; // anyone reads it without a card or a loan ("Đọc tự do")
  local_document?: boolean; // a scanned local document: page images and their OCR text
  description?: string;
  availability?: Availability | null;
}

export interface Availability {
  copies: number | null;
  available: number | null;
  holds: number;
  state: "available" | "wait" | "none";
  wait_days: number | null;
}

export interface SearchResult {
  facets?: Record<string, Record<string, number>>;
  items: Title[];
  total: number;
  page: number;
  size: number;
}

export interface Loan {
  id: string;
  title_id: string;
  publication_id: string;
  library_id: string;
  starts_at: string;
  due_at: string;
  renewals: number;
  status: string;
  ended_at: string | null;
}

export interface Hold {
  id: string;
  title_id: string;
  state: string;
  position: number;
  estimated_wait_days: number | null;
  placed_at: string;
  ready_until: string | null;
  suspended_until: string | null;
  auto_checkout: boolean;
}

export interface InboxMessage {
  id: string;
  kind: string;
  title: string;
  body: string;
  created_at: string;
  read_at: string | null;
}

export interface StreamingToken {
  token: string;
  expires_at: string;
  publication_id: string;
  manifest_url: string;
  online_only?: boolean;
  local_document?: boolean; // a scanned local document: manifest_url is its IIIF manifest under the loan's root
}

export interface ReportRow {
  month: string;
  library_id: string;
  title_id: string | null;
  title: string | null;
  loans: number;
  holds: number;
  unique_borrowers: number;
  turnaways: number;
}

const titles = new Map<string, Promise<Title>>();

/** A title's catalogue record, fetched once per page load. */
export function title(id: string): Promise<Title> {
  let found = titles.get(id);
  if (!found) {
    found = api<Title>("lending", `/v1/titles/${encodeURIComponent(id)}`);
    titles.set(id, found);
    found.catch(() => titles.delete(id)); // a failed read is asked again next time, never remembered
  }
  return found;
}
