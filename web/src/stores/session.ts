// Who is signed in, their CSRF token and role checks. The session cookie itself is HttpOnly: the
// app never sees it, it only learns from /api/session whether it is still valid.
import { defineStore } from 'pinia'
import { ApiError, api, setCsrfToken, type Schemas } from '@/api/client'

export const useSessionStore = defineStore('session', {
  state: () => ({ user: null as Schemas['User'] | null, checked: false }),
  getters: {
    signedIn: (s) => !!s.user,
    role: (s) => s.user?.role || '',
    isAdmin: (s) => s.user?.role === 'admin',
    // Staff: admin, doctor, technician (patients, samples, uploads); viewer reads only.
    isStaff: (s) => ['admin', 'doctor', 'technician'].includes(s.user?.role ?? ''),
    isDoctor: (s) => ['admin', 'doctor'].includes(s.user?.role ?? ''),
  },
  actions: {
    /** Asks the server whether the cookie is still a session (once per page load). */
    async restore() {
      try {
        const s = await api.get('/api/session')
        this.user = s.user
        setCsrfToken(s.csrf_token)
      } catch (e) {
        if (!(e instanceof ApiError) || e.status !== 401) throw e
        this.user = null
      } finally {
        this.checked = true
      }
    },
    async login(username: string, password: string) {
      const s = await api.post('/api/auth/login', { username, password })
      this.user = s.user
      this.checked = true
      setCsrfToken(s.csrf_token)
      return s.user
    },
    async logout() {
      try {
        await api.post('/api/auth/logout', null)
      } finally {
        this.forget()
      }
    },
    forget() {
      this.user = null
      setCsrfToken('')
    },
    setUser(u: Schemas['User'] | null) {
      if (this.user && u && u.id === this.user.id) this.user = u
    },
  },
})
