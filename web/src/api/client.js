// The one HTTP client of the app. Every call goes through request() (or upload() for files with
// progress), which adds the CSRF header to state-changing requests and turns every failure into an
// ApiError carrying the server's {"error": {code, message, details}} (docs/API.md), so that
// views can show the message next to what caused it. Nothing here swallows an error.

export class ApiError extends Error {
  /**
   * @param {number} status HTTP status (0 when the server could not be reached)
   * @param {string} code server error code (invalid_argument, permission_denied, ...) or
   *   'network' / 'http_<status>' when the reply was not the API's JSON error
   * @param {string} message readable text from the server
   * @param {any} details per-file upload problems ({files}), CSV row errors ({rows}), or null
   */
  constructor(status, code, message, details = null) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.details = details
  }
}

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

let csrfToken = ''
let onUnauthenticated = null

/** The token from POST /api/auth/login or GET /api/session; sent as X-CSRF-Token. */
export function setCsrfToken(token) {
  csrfToken = token || ''
}
export function getCsrfToken() {
  return csrfToken
}
/** Called with the ApiError when a request answers 401 (the session ended). */
export function setUnauthenticatedHandler(fn) {
  onUnauthenticated = fn
}

/** Builds "/api/x?a=1&b=2" leaving out null, undefined and '' values. */
export function buildUrl(path, query) {
  if (!query) return path
  const params = new URLSearchParams()
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === '') continue
    params.append(k, String(v))
  }
  const s = params.toString()
  return s ? `${path}${path.includes('?') ? '&' : '?'}${s}` : path
}

/**
 * Maps a non-2xx reply to an ApiError. `bodyText` is the raw body; the API's JSON error shape is
 * used when present, otherwise the status line is (a proxy's HTML page is not shown to people).
 */
export function errorFromReply(status, statusText, bodyText) {
  let parsed = null
  try {
    parsed = bodyText ? JSON.parse(bodyText) : null
  } catch {
    parsed = null
  }
  const e = parsed && typeof parsed === 'object' ? parsed.error : null
  if (e && typeof e.code === 'string') {
    return new ApiError(status, e.code, String(e.message ?? ''), e.details ?? null)
  }
  const text = `HTTP ${status}${statusText ? ' ' + statusText : ''}`
  return new ApiError(status, `http_${status}`, text, null)
}

function headersFor(method, extra) {
  const h = { Accept: 'application/json', ...(extra || {}) }
  if (STATE_CHANGING.has(method) && csrfToken) h['X-CSRF-Token'] = csrfToken
  return h
}

function notify401(err) {
  if (err.status === 401 && onUnauthenticated) onUnauthenticated(err)
}

/**
 * One API call.
 * @param {string} method GET | POST | PUT | PATCH | DELETE
 * @param {string} path '/api/...'
 * @param {{json?: any, body?: BodyInit, query?: object, headers?: object, as?: 'json'|'text'|'blob'}} opts
 * @returns {Promise<any>} the parsed JSON (or text / Blob with `as`), null for 204
 */
export async function request(method, path, opts = {}) {
  const headers = headersFor(method, opts.headers)
  let body = opts.body
  if (opts.json !== undefined) {
    headers['Content-Type'] = 'application/json'
    body = JSON.stringify(opts.json)
  }
  let res
  try {
    res = await fetch(buildUrl(path, opts.query), { method, headers, body, credentials: 'same-origin' })
  } catch (cause) {
    throw new ApiError(0, 'network', `the server could not be reached (${cause?.message || cause})`)
  }
  if (!res.ok) {
    const err = errorFromReply(res.status, res.statusText, await res.text().catch(() => ''))
    notify401(err)
    throw err
  }
  if (res.status === 204) return null
  if (opts.as === 'blob') return res.blob()
  if (opts.as === 'text') return res.text()
  const text = await res.text()
  if (!text) return null
  try {
    return JSON.parse(text)
  } catch {
    throw new ApiError(res.status, 'bad_reply', `${method} ${path}: the reply is not JSON`)
  }
}

export const api = {
  get: (path, query, opts) => request('GET', path, { ...opts, query }),
  post: (path, json, opts) => request('POST', path, { ...opts, json }),
  patch: (path, json, opts) => request('PATCH', path, { ...opts, json }),
  put: (path, json, opts) => request('PUT', path, { ...opts, json }),
  del: (path, opts) => request('DELETE', path, opts),
}

/**
 * Multipart upload of files under `field` with upload progress (fetch has none, so XHR).
 * @param {string} path
 * @param {File[]} files
 * @param {(fraction: number) => void} onProgress 0..1 of the bytes sent
 * @param {string} field multipart field name
 * @returns {Promise<any>} the parsed JSON reply
 */
export function upload(path, files, onProgress, field = 'file', method = 'POST') {
  return new Promise((resolve, reject) => {
    const form = new FormData()
    for (const f of files) form.append(field, f, f.name)
    const xhr = new XMLHttpRequest()
    xhr.open(method, path)
    for (const [k, v] of Object.entries(headersFor(method))) xhr.setRequestHeader(k, v)
    xhr.upload.onprogress = (ev) => {
      if (ev.lengthComputable && onProgress) onProgress(ev.loaded / ev.total)
    }
    xhr.onerror = () => reject(new ApiError(0, 'network', 'the server could not be reached during the upload'))
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        if (onProgress) onProgress(1)
        try {
          resolve(xhr.responseText ? JSON.parse(xhr.responseText) : null)
        } catch {
          reject(new ApiError(xhr.status, 'bad_reply', `${path}: the reply is not JSON`))
        }
        return
      }
      const err = errorFromReply(xhr.status, xhr.statusText, xhr.responseText)
      notify401(err)
      reject(err)
    }
    xhr.send(form)
  })
}

/** Saves a Blob under a file name through a temporary link (CSV, FHIR, ZIP downloads). */
export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob)
  const a = document.createElement('a')
  a.href = url
  a.download = filename
  document.body.appendChild(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 1000)
}
