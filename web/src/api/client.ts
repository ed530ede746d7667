// The one HTTP client of the app, typed by the server's own API document: src/api/schema.d.ts is
// generated from src/api/openapi.json (the server's /api/openapi.json, checked equal by the server
// tests) with openapi-typescript, so a path, a parameter, a body or an answer the server does not
// have is a type error here, not a failure at run time. Every call goes through request() (or
// upload() for files with progress), which adds the CSRF header to state-changing requests and
// turns every failure into an ApiError carrying the server's {"error": {code, message, details}}
// (docs/API.md), so that views can show the message next to what caused it. Nothing here
// swallows an error.
import type { components, paths } from './schema'

export type Schemas = components['schemas']
export type ApiErrorBody = Schemas['Error']['error']
export type ErrorDetails = NonNullable<ApiErrorBody['details']>

type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete'
type ApiPath = keyof paths
type OperationOf<P extends ApiPath, M extends HttpMethod> = M extends keyof paths[P] ? NonNullable<paths[P][M]> : never
/** The document's paths that have method M ('/api/samples/{id}', ...). */
export type PathsWith<M extends HttpMethod> = {
  [P in ApiPath]: [OperationOf<P, M>] extends [never] ? never : P
}[ApiPath]

type ParametersOf<O> = O extends { parameters: infer X } ? X : never
type PathParams<O> = ParametersOf<O> extends { path: infer A } ? A : never
type QueryParams<O> = ParametersOf<O> extends { query?: infer Q } ? ([Q] extends [never] ? never : Q) : never
type JsonOf<R> = R extends { content: { 'application/json': infer J } } ? J : never
/** The JSON body of the operation's successful answer (null for 204). */
export type AnswerOf<O> = O extends { responses: infer R }
  ? JsonOf<R[200 & keyof R]> | JsonOf<R[201 & keyof R]> | (204 extends keyof R ? null : never)
  : never
/** The JSON request body the operation takes; null for operations that take none. */
export type BodyOf<O> = O extends { requestBody?: infer R }
  ? [NonNullable<R>] extends [never]
    ? null
    : NonNullable<R> extends { content: { 'application/json': infer B } }
      ? B
      : null
  : null

type Options<O> = ([PathParams<O>] extends [never] ? { path?: undefined } : { path: PathParams<O> }) & {
  query?: [QueryParams<O>] extends [never] ? undefined : { [K in keyof QueryParams<O>]?: QueryParams<O>[K] | null | '' }
}
// The options argument may be left out only when the path has no parameters.
type OptionsArg<O> = [PathParams<O>] extends [never] ? [opts?: Options<O>] : [opts: Options<O>]

/** The answer of `GET path` (e.g. Answer<'/api/samples/{id}/cells', 'get'>). */
export type Answer<P extends ApiPath, M extends HttpMethod = 'get'> = AnswerOf<OperationOf<P, M>>
export type Body<P extends ApiPath, M extends HttpMethod> = BodyOf<OperationOf<P, M>>
export type Query<P extends ApiPath, M extends HttpMethod = 'get'> = NonNullable<Options<OperationOf<P, M>>['query']>

export class ApiError extends Error {
  status: number
  code: string
  details: ErrorDetails | null
  /** which refusal this is (Error.reason in the API document) and its message's values */
  reason: string | null
  params: Record<string, string>
  /**
   * @param status HTTP status (0 when the server could not be reached)
   * @param code server error code (invalid_argument, permission_denied, ...) or 'network' /
   *   'http_<status>' / 'bad_reply' when the reply was not the API's JSON error
   * @param message readable text from the server
   * @param details per-file upload problems ({files}), CSV row errors ({rows}), or null
   * @param reason the server's name for this refusal, for a translated message; null when it has none
   * @param params the values its message quotes
   */
  constructor(status: number, code: string, message: string, details: ErrorDetails | null = null,
    reason: string | null = null, params: Record<string, string> = {}) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.details = details
    this.reason = reason
    this.params = params
  }
}

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

let csrfToken = ''
let onUnauthenticated: ((e: ApiError) => void) | null = null

/** The token from POST /api/auth/login or GET /api/session; sent as X-CSRF-Token. */
export function setCsrfToken(token: string | null | undefined): void {
  csrfToken = token || ''
}
export function getCsrfToken(): string {
  return csrfToken
}
/** Called with the ApiError when a request answers 401 (the session ended). */
export function setUnauthenticatedHandler(fn: ((e: ApiError) => void) | null): void {
  onUnauthenticated = fn
}

type QueryValues = Record<string, string | number | boolean | null | undefined>

/** Builds "/api/x?a=1&b=2" leaving out null, undefined and '' values. */
export function buildUrl(path: string, query?: QueryValues | null): string {
  if (!query) return path
  const params = new URLSearchParams()
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === '') continue
    params.append(k, String(v))
  }
  const s = params.toString()
  return s ? `${path}${path.includes('?') ? '&' : '?'}${s}` : path
}

/** '/api/samples/{id}/cells' with {id: 7} -> '/api/samples/7/cells'; a missing value throws. */
export function fillPath(template: string, values?: Record<string, string | number> | null): string {
  return template.replace(/\{(\w+)\}/g, (_, name: string) => {
    const v = values?.[name]
    if (v === undefined || v === null || v === '') throw new Error(`${template}: no value for {${name}}`)
    return encodeURIComponent(String(v))
  })
}

/**
 * Maps a non-2xx reply to an ApiError. `bodyText` is the raw body; the API's JSON error shape is
 * used when present, otherwise the status line is (a proxy's HTML page is not shown to people).
 */
export function errorFromReply(status: number, statusText: string, bodyText: string): ApiError {
  let parsed: unknown = null
  try {
    parsed = bodyText ? JSON.parse(bodyText) : null
  } catch {
    parsed = null
  }
  const e = parsed && typeof parsed === 'object' ? (parsed as { error?: Partial<ApiErrorBody> }).error : null
  if (e && typeof e.code === 'string') {
    const params: Record<string, string> = {}
    if (e.params && typeof e.params === 'object') for (const [k, v] of Object.entries(e.params)) params[k] = String(v)
    return new ApiError(status, e.code, String(e.message ?? ''), e.details ?? null, typeof e.reason === 'string' ? e.reason : null, params)
  }
  const text = `HTTP ${status}${statusText ? ' ' + statusText : ''}`
  return new ApiError(status, `http_${status}`, text, null)
}

function headersFor(method: string, extra?: Record<string, string>): Record<string, string> {
  const h: Record<string, string> = { Accept: 'application/json', ...(extra || {}) }
  if (STATE_CHANGING.has(method) && csrfToken) h['X-CSRF-Token'] = csrfToken
  return h
}

function notify401(err: ApiError): void {
  if (err.status === 401 && onUnauthenticated) onUnauthenticated(err)
}

interface RequestOptions {
  json?: unknown
  body?: BodyInit
  query?: QueryValues | null
  headers?: Record<string, string>
  as?: 'json' | 'text' | 'blob'
  // stops the request; the caller then sees the fetch's AbortError, not an ApiError
  signal?: AbortSignal
}

/**
 * One API call on a concrete URL path. The typed helpers below (api.get, api.post, ...) are how
 * the app calls it; this is the transport they share.
 * @returns the parsed JSON (or text / Blob with `as`), null for 204
 */
export async function request(method: string, path: string, opts: RequestOptions = {}): Promise<unknown> {
  const headers = headersFor(method, opts.headers)
  let body = opts.body
  if (opts.json !== undefined) {
    headers['Content-Type'] = 'application/json'
    body = JSON.stringify(opts.json)
  }
  let res: Response
  try {
    res = await fetch(buildUrl(path, opts.query), { method, headers, body, credentials: 'same-origin', signal: opts.signal })
  } catch (cause) {
    // A request the caller stopped did not fail: it must not read as "server unreachable".
    if (opts.signal?.aborted) throw cause
    const why = cause instanceof Error ? cause.message : String(cause)
    throw new ApiError(0, 'network', `the server could not be reached (${why})`)
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

function call<O>(method: string, template: string, opts: Options<O> | undefined, extra: RequestOptions = {}) {
  const url = fillPath(template, opts?.path as Record<string, string | number> | undefined)
  return request(method, url, { ...extra, query: (opts?.query as QueryValues | undefined) ?? null }) as Promise<AnswerOf<O>>
}

/**
 * The API, typed by its document: `api.get('/api/samples/{id}/cells', {path: {id}, query: {limit: 50}})`
 * resolves to the document's answer for that operation; bodies are the document's request bodies.
 */
export const api = {
  get<P extends PathsWith<'get'>>(path: P, ...[opts]: OptionsArg<OperationOf<P, 'get'>>) {
    return call<OperationOf<P, 'get'>>('GET', path, opts)
  },
  post<P extends PathsWith<'post'>>(path: P, body: BodyOf<OperationOf<P, 'post'>>, ...[opts]: OptionsArg<OperationOf<P, 'post'>>) {
    return call<OperationOf<P, 'post'>>('POST', path, opts, { json: body ?? {} })
  },
  patch<P extends PathsWith<'patch'>>(path: P, body: BodyOf<OperationOf<P, 'patch'>>, ...[opts]: OptionsArg<OperationOf<P, 'patch'>>) {
    return call<OperationOf<P, 'patch'>>('PATCH', path, opts, { json: body })
  },
  put<P extends PathsWith<'put'>>(path: P, body: BodyOf<OperationOf<P, 'put'>>, ...[opts]: OptionsArg<OperationOf<P, 'put'>>) {
    return call<OperationOf<P, 'put'>>('PUT', path, opts, { json: body })
  },
  del<P extends PathsWith<'delete'>>(path: P, ...[opts]: OptionsArg<OperationOf<P, 'delete'>>) {
    return call<OperationOf<P, 'delete'>>('DELETE', path, opts)
  },
  /** A non-JSON answer (CSV, HTML, ZIP, HL7, FHIR downloads) as a Blob. */
  blob<P extends PathsWith<'get'>>(path: P, ...[opts]: OptionsArg<OperationOf<P, 'get'>>) {
    const url = fillPath(path, opts?.path as Record<string, string | number> | undefined)
    return request('GET', url, { query: (opts?.query as QueryValues | undefined) ?? null, as: 'blob' }) as Promise<Blob>
  },
  /** A POST whose body is not JSON (a CSV import): the bytes and their Content-Type. */
  send<P extends PathsWith<'post'>>(path: P, body: BodyInit, contentType: string, ...[opts]: OptionsArg<OperationOf<P, 'post'>>) {
    return call<OperationOf<P, 'post'>>('POST', path, opts, { body, headers: { 'Content-Type': contentType } })
  },
}

/**
 * A PUT whose body is raw bytes (a chunk of a slide upload), with the same CSRF header and
 * ApiError handling as every other call. The Blob is sent as it is (a File.slice() is read by the
 * browser while sending, not held in memory here).
 * @param path a document path with its parameters in `pathValues`
 * @param query query parameters (null, undefined and '' left out)
 * @param signal stops the request (the promise then rejects with the fetch's AbortError)
 */
export function putBytes<P extends PathsWith<'put'>>(
  path: P,
  pathValues: [PathParams<OperationOf<P, 'put'>>] extends [never] ? null : PathParams<OperationOf<P, 'put'>>,
  query: Options<OperationOf<P, 'put'>>['query'] | null,
  bytes: Blob,
  signal?: AbortSignal,
): Promise<AnswerOf<OperationOf<P, 'put'>>> {
  const url = fillPath(path, pathValues as Record<string, string | number> | null)
  return request('PUT', url, {
    body: bytes,
    headers: { 'Content-Type': 'application/octet-stream' },
    query: (query as QueryValues | null | undefined) ?? null,
    signal,
  }) as Promise<AnswerOf<OperationOf<P, 'put'>>>
}

/**
 * Multipart upload of files under `field` with upload progress (fetch has none, so XHR).
 * @param path a document path with its parameters in `pathValues`
 * @param onProgress 0..1 of the bytes sent
 * @param field multipart field name
 * @param query query parameters (null, undefined and '' left out)
 * @returns the parsed JSON reply
 */
export function upload<P extends PathsWith<'post'> | PathsWith<'put'>, M extends 'post' | 'put' = 'post'>(
  path: P,
  pathValues: [PathParams<OperationOf<P, M>>] extends [never] ? null : PathParams<OperationOf<P, M>>,
  files: File[],
  onProgress: ((fraction: number) => void) | null,
  field = 'file',
  method: Uppercase<M> = 'POST' as Uppercase<M>,
  query: QueryValues | null = null,
): Promise<AnswerOf<OperationOf<P, M>>> {
  const url = buildUrl(fillPath(path, pathValues as Record<string, string | number> | null), query)
  return new Promise((resolve, reject) => {
    const form = new FormData()
    for (const f of files) form.append(field, f, f.name)
    const xhr = new XMLHttpRequest()
    xhr.open(method, url)
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
          reject(new ApiError(xhr.status, 'bad_reply', `${url}: the reply is not JSON`))
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
export function saveBlob(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob)
  const a = document.createElement('a')
  a.href = url
  a.download = filename
  document.body.appendChild(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 1000)
}
