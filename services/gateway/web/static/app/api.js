// REST calls to /api (evcc's contract: docs/api.md). Values come back unwrapped; errors as ApiError with
// the server's message. A 401 asks for the admin login (evcc's auth flow) and then retries once.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

let loginHandler = null;

/** The app registers how to ask for the admin password: a function returning a promise (true = logged in). */
export function onLoginRequired(handler) {
  loginHandler = handler;
}

async function parse(response) {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export async function request(method, path, body, { retried = false } = {}) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(`/api/${path}`, init);
  } catch {
    throw new ApiError(0, "network");
  }
  const data = await parse(response);
  if (response.status === 401 && !retried && !path.startsWith("auth/") && loginHandler) {
    if (await loginHandler()) return request(method, path, body, { retried: true });
    throw new ApiError(401, "login required");
  }
  if (!response.ok) {
    const message = data && typeof data === "object" && data.error ? data.error : String(data || "");
    throw new ApiError(response.status, message || response.statusText || `HTTP ${response.status}`);
  }
  return data && typeof data === "object" && !Array.isArray(data) && "result" in data ? data.result : data;
}

export const api = {
  get: (path) => request("GET", path),
  post: (path, body) => request("POST", path, body),
  put: (path, body) => request("PUT", path, body),
  del: (path) => request("DELETE", path),
};

/** A path segment: vehicle names, numbers and RFC 3339 times are encoded; a time zone keeps its slash. */
export const seg = (value) => encodeURIComponent(String(value));

/** "true" / "false" / "none" (no admin password yet). */
export async function authStatus() {
  const response = await fetch("/api/auth/status", { credentials: "same-origin" });
  if (response.status === 501) return "none";
  const text = (await response.text()).trim();
  return text === "true" ? "true" : "false";
}
