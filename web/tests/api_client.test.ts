import { afterEach, describe, expect, it, vi } from 'vitest'
import { ApiError, api, buildUrl, errorFromReply, fillPath, putBytes, request, setCsrfToken, setUnauthenticatedHandler } from '@/api/client'

function reply(status: number, body?: unknown, statusText = '') {
  const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body)
  return { ok: status >= 200 && status < 300, status, statusText, text: async () => text, blob: async () => new Blob([text]) }
}

afterEach(() => {
  vi.unstubAllGlobals()
  setCsrfToken('')
  setUnauthenticatedHandler(null)
})

describe('errorFromReply', () => {
  it('keeps the API error code, message and details', () => {
    const e = errorFromReply(415, 'Unsupported', JSON.stringify({ error: { code: 'unsupported_format', message: "file 'a.txt': expected an image, found text", details: { files: [{ filename: 'a.txt', message: 'not an image' }] } } }))
    expect(e).toBeInstanceOf(ApiError)
    expect(e.status).toBe(415)
    expect(e.code).toBe('unsupported_format')
    expect(e.message).toContain('a.txt')
    expect(e.details).toEqual({ files: [{ filename: 'a.txt', message: 'not an image' }] })
  })
  it('maps a non-JSON body (a proxy page) to http_<status> without showing the HTML', () => {
    const e = errorFromReply(502, 'Bad Gateway', '<html>proxy</html>')
    expect(e.code).toBe('http_502')
    expect(e.message).toBe('HTTP 502 Bad Gateway')
    expect(e.details).toBeNull()
  })
  it('maps JSON without the error shape like any other body', () => {
    expect(errorFromReply(500, '', '{"oops": 1}').code).toBe('http_500')
  })
})

describe('request', () => {
  it('sends the CSRF header on state-changing requests only', async () => {
    const fetch = vi.fn(async (_url: string, _init: RequestInit) => reply(200, { ok: true }))
    vi.stubGlobal('fetch', fetch)
    setCsrfToken('tok123')
    await api.get('/api/patients', { query: { q: 'ann', page: 2, name: '', identifier: null } })
    await api.post('/api/patients', { identifier: 'MRN-1', name: 'x' })
    const [getUrl, getInit] = fetch.mock.calls[0]
    expect(getUrl).toBe('/api/patients?q=ann&page=2')
    expect(getInit.headers['X-CSRF-Token']).toBeUndefined()
    const [, postInit] = fetch.mock.calls[1]
    expect(postInit.method).toBe('POST')
    expect(postInit.headers['X-CSRF-Token']).toBe('tok123')
    expect(postInit.headers['Content-Type']).toBe('application/json')
    expect(JSON.parse(String(postInit.body))).toEqual({ identifier: 'MRN-1', name: 'x' })
  })
  it('throws ApiError with the server message and calls the 401 handler', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => reply(401, { error: { code: 'unauthenticated', message: 'sign in first (no valid session cookie)' } })))
    const seen = []
    setUnauthenticatedHandler((e) => seen.push(e.code))
    await expect(api.get('/api/session')).rejects.toMatchObject({ status: 401, code: 'unauthenticated', message: 'sign in first (no valid session cookie)' })
    expect(seen).toEqual(['unauthenticated'])
  })
  it('does not call the 401 handler for other errors', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => reply(403, { error: { code: 'permission_denied', message: "role 'viewer' may not do this" } })))
    const seen = []
    setUnauthenticatedHandler((e) => seen.push(e))
    await expect(api.post('/api/cells/review', { ids: [1], confirmed: true })).rejects.toMatchObject({ status: 403, code: 'permission_denied' })
    expect(seen).toHaveLength(0)
  })
  it('turns a failed connection into code network', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => { throw new TypeError('Failed to fetch') }))
    await expect(api.get('/api/health')).rejects.toMatchObject({ status: 0, code: 'network' })
  })
  it('returns null for 204 and text or blobs on request', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => reply(204)))
    expect(await api.del('/api/patients/{id}', { path: { id: 1 } })).toBeNull()
    vi.stubGlobal('fetch', vi.fn(async () => reply(200, 'a,b\n1,2')))
    expect(await request('GET', '/api/patients/export', { as: 'text' })).toBe('a,b\n1,2')
  })
  it('refuses a 200 reply that is not JSON', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => reply(200, '<html>index</html>')))
    await expect(api.get('/api/health')).rejects.toMatchObject({ code: 'bad_reply' })
  })
})

describe('putBytes', () => {
  it('sends raw bytes with the CSRF header and the offset, and answers the JSON', async () => {
    const upload = { id: 7, sample_id: 3, filename: 'bm-1.svs', bytes: 10, received: 4, chunk_bytes: 4, created_at: 0, updated_at: 0 }
    const fetch = vi.fn(async (_url: string, _init: RequestInit) => reply(200, upload))
    vi.stubGlobal('fetch', fetch)
    setCsrfToken('tok123')
    const chunk = new Blob([new Uint8Array([1, 2, 3, 4])])
    await expect(putBytes('/api/slide-uploads/{id}', { id: 7 }, { offset: 0 }, chunk)).resolves.toEqual(upload)
    const [url, init] = fetch.mock.calls[0]
    expect(url).toBe('/api/slide-uploads/7?offset=0')
    expect(init.method).toBe('PUT')
    expect(init.body).toBe(chunk)
    expect(init.headers['Content-Type']).toBe('application/octet-stream')
    expect(init.headers['X-CSRF-Token']).toBe('tok123')
  })
  it('turns a refusal into an ApiError with its reason and values', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => reply(409, { error: { code: 'conflict', message: 'This upload has 8 bytes; send the part that starts there', reason: 'upload_offset_mismatch', params: { received: '8' } } })))
    await expect(putBytes('/api/slide-uploads/{id}', { id: 7 }, { offset: 4 }, new Blob([]))).rejects.toMatchObject({ status: 409, reason: 'upload_offset_mismatch', params: { received: '8' } })
  })
  it('lets a stopped request end as stopped, not as "server unreachable"', async () => {
    vi.stubGlobal('fetch', vi.fn(async (_url: string, init: RequestInit) => {
      if (init.signal?.aborted) throw new DOMException('The operation was aborted.', 'AbortError')
      return reply(200, {})
    }))
    const stop = new AbortController()
    stop.abort()
    await expect(putBytes('/api/slide-uploads/{id}', { id: 7 }, { offset: 0 }, new Blob([]), stop.signal)).rejects.toMatchObject({ name: 'AbortError' })
  })
})

describe('fillPath', () => {
  it('puts the path parameters of a document path in place, encoded', () => {
    expect(fillPath('/api/samples/{id}/cells', { id: 7 })).toBe('/api/samples/7/cells')
    expect(fillPath('/api/x/{id}', { id: 'a/b' })).toBe('/api/x/a%2Fb')
  })
  it('refuses a path parameter left out', () => {
    expect(() => fillPath('/api/samples/{id}', {})).toThrow('no value for {id}')
  })
  it('fills the path of a typed call', async () => {
    const fetch = vi.fn(async (_url: string, _init: RequestInit) => reply(200, { items: [], total: 0, limit: 5, offset: 0 }))
    vi.stubGlobal('fetch', fetch)
    await api.get('/api/samples/{id}/cells', { path: { id: 12 }, query: { limit: 5, order: 'attention' } })
    expect(fetch.mock.calls[0][0]).toBe('/api/samples/12/cells?limit=5&order=attention')
  })
})

describe('buildUrl', () => {
  it('appends to an existing query string', () => {
    expect(buildUrl('/a?x=1', { y: 2 })).toBe('/a?x=1&y=2')
    expect(buildUrl('/a', {})).toBe('/a')
  })
})
