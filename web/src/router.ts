// Client-side routes. The server answers unknown paths with index.html, so deep links work.
// Pages other than sign-in and registration need a session; role-only pages say so in meta.
import { createRouter, createWebHistory } from 'vue-router'
import { useSessionStore } from './stores/session'
import { setUnauthenticatedHandler } from './api/client'

declare module 'vue-router' {
  interface RouteMeta {
    public?: boolean // no session needed
    roles?: string[] // only these roles
  }
}

const routes = [
  { path: '/login', name: 'login', component: () => import('./views/LoginView.vue'), meta: { public: true } },
  { path: '/register', name: 'register', component: () => import('./views/RegisterView.vue'), meta: { public: true } },
  { path: '/', name: 'dashboard', component: () => import('./views/DashboardView.vue') },
  { path: '/patients', name: 'patients', component: () => import('./views/PatientsView.vue') },
  { path: '/patients/:id', name: 'patient', component: () => import('./views/PatientView.vue'), props: true },
  { path: '/samples/:id', name: 'sample', component: () => import('./views/SampleView.vue'), props: true },
  { path: '/samples/:id/report', name: 'report', component: () => import('./views/ReportView.vue'), props: true },
  { path: '/recognition', name: 'recognition', component: () => import('./views/RecognitionView.vue') },
  { path: '/logs', name: 'logs', component: () => import('./views/LogView.vue'), meta: { roles: ['admin', 'doctor'] } },
  { path: '/users', name: 'users', component: () => import('./views/UsersView.vue'), meta: { roles: ['admin'] } },
  { path: '/models', name: 'models', component: () => import('./views/ModelsView.vue'), meta: { roles: ['admin'] } },
  { path: '/profile', name: 'profile', component: () => import('./views/ProfileView.vue') },
  { path: '/:rest(.*)*', name: 'missing', component: () => import('./views/NotFoundView.vue') },
]

export const router = createRouter({ history: createWebHistory(), routes })

router.beforeEach(async (to) => {
  const session = useSessionStore()
  if (!session.checked) await session.restore().catch(() => {})
  if (to.meta.public) return session.signedIn && to.name === 'login' ? { name: 'dashboard' } : true
  if (!session.signedIn) return { name: 'login', query: to.fullPath !== '/' ? { next: to.fullPath } : {} }
  if (to.meta.roles && !to.meta.roles.includes(session.role)) return { name: 'dashboard' }
  return true
})

// A 401 anywhere means the session ended (idle timeout, logout elsewhere, password change).
setUnauthenticatedHandler(() => {
  const session = useSessionStore()
  if (!session.signedIn) return
  session.forget()
  const here = router.currentRoute.value
  if (!here.meta.public) router.push({ name: 'login', query: { next: here.fullPath, expired: '1' } })
})
