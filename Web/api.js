// The REST API as the GUI uses it: the token lives in sessionStorage (gone
// with the tab); any 401 sends the user back to the login page.
const TOKEN = "sendense.token";

export class APIError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export const session = {
  get token() { return sessionStorage.getItem(TOKEN); },
  set token(value) { value ? sessionStorage.setItem(TOKEN, value) : sessionStorage.removeItem(TOKEN); },
};

let onUnauthorized = () => {};
export function whenUnauthorized(handler) { onUnauthorized = handler; }

export async function api(path, { method = "GET", body } = {}) {
  const headers = {};
  if (session.token) headers.Authorization = `Bearer ${session.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(`/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new APIError(0, "The hub cannot be reached. Check the network and retry.");
  }
  if (response.status === 401 && path !== "/auth/login") {
    session.token = null;
    onUnauthorized();
    throw new APIError(401, "Your session ended: please sign in again.");
  }
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) throw new APIError(response.status, data?.error ?? `The hub answered ${response.status}.`);
  return data;
}

/** Saves a download route's answer as a file: the browser follows a signed
 *  link (it cannot send the token itself) and streams it to disk. */
export async function download(path) {
  const link = await api("/auth/download-link", { method: "POST", body: { path: `/api/v1${path}` } });
  const anchor = document.createElement("a");
  anchor.href = link.url;
  anchor.download = "";
  document.body.append(anchor);
  anchor.click();
  anchor.remove();
}

/** The status a download route would answer, without taking its body (to
 *  tell "too big" or "gone" before the browser is sent there). */
export async function probe(path) {
  const controller = new AbortController();
  try {
    const response = await fetch(`/api/v1${path}`, { headers: { Authorization: `Bearer ${session.token}` }, signal: controller.signal });
    const body = response.ok ? null : await response.json().catch(() => null);
    return { status: response.status, error: body?.error };
  } catch {
    throw new APIError(0, "The hub cannot be reached. Check the network and retry.");
  } finally {
    controller.abort();
  }
}

/** A small image route's answer (a boot check's screenshot) as a data: URL
 *  an <img> can show (it cannot send the token itself). */
export async function imageURL(path) {
  let response;
  try {
    response = await fetch(`/api/v1${path}`, { headers: { Authorization: `Bearer ${session.token}` } });
  } catch {
    throw new APIError(0, "The hub cannot be reached. Check the network and retry.");
  }
  if (!response.ok) throw new APIError(response.status, (await response.json().catch(() => null))?.error ?? `The hub answered ${response.status}.`);
  const blob = await response.blob();
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(new APIError(0, "The image could not be read."));
    reader.readAsDataURL(blob);
  });
}
