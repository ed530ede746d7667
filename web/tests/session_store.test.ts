import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createPinia, setActivePinia } from 'pinia'
import { useSessionStore } from '@/stores/session'
import { getCsrfToken, setCsrfToken } from '@/api/client'

const reply = (status, body) => ({ ok: status < 300, status, statusText: '', text: async () => JSON.stringify(body) })

beforeEach(() => setActivePinia(createPinia()))
afterEach(() => {
  vi.unstubAllGlobals()
  setCsrfToken('')
})

describe('session store', () => {
  it('keeps the user and CSRF token of a sign-in and knows the roles', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => reply(200, { user: { id: 2, username: 'tech', role: 'technician' }, csrf_token: 'c'.repeat(64) })))
    const s = useSessionStore()
    await s.login('tech', 'pw')
    expect(s.signedIn).toBe(true)
    expect(getCsrfToken()).toBe('c'.repeat(64))
    expect(s.isStaff).toBe(true)
    expect(s.isDoctor).toBe(false)
    expect(s.isAdmin).toBe(false)
  })
  it('a wrong password leaves nobody signed in and passes the server message on', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => reply(401, { error: { code: 'unauthenticated', message: 'wrong username or password' } })))
    const s = useSessionStore()
    await expect(s.login('admin', 'nope')).rejects.toMatchObject({ message: 'wrong username or password' })
    expect(s.signedIn).toBe(false)
  })
  it('restore treats 401 as signed out, other failures as errors', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => reply(401, { error: { code: 'unauthenticated', message: 'sign in first' } })))
    const s = useSessionStore()
    await s.restore()
    expect(s.checked).toBe(true)
    expect(s.signedIn).toBe(false)
    vi.stubGlobal('fetch', vi.fn(async () => reply(500, { error: { code: 'internal', message: 'internal error' } })))
    await expect(useSessionStore().restore()).rejects.toMatchObject({ code: 'internal' })
  })
  it('a viewer is neither staff nor doctor', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => reply(200, { user: { id: 3, username: 'v', role: 'viewer' }, csrf_token: 'x' })))
    const s = useSessionStore()
    await s.restore()
    expect(s.isStaff).toBe(false)
    expect(s.isDoctor).toBe(false)
  })
})
