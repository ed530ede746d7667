// The sample page with a slide among its images: the list marks the slide and its size, the slide
// opens in the slide viewer (a field keeps the field viewer), and an area drawn or chosen on the
// slide is queued with POST /api/images/{id}/areas and shows up in the job list.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { flushPromises, mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { createMemoryHistory, createRouter } from 'vue-router'
import ElementPlus from 'element-plus'
import { makeI18n } from '@/i18n/index'
import { useSessionStore } from '@/stores/session'
import SampleView from '@/views/SampleView.vue'
import SlideViewer from '@/components/SlideViewer.vue'
import { cellOf, imageOf, jobOf, progressOf, sampleOf, userOf } from './fixtures'
import * as osd from './osd_stub'

vi.mock('openseadragon', () => import('./osd_stub'))

const reply = (status: number, body?: unknown) => ({ ok: status < 300, status, statusText: '', text: async () => (body === undefined ? '' : JSON.stringify(body)) })
const field = imageOf({ id: 30, filename: 'field-1.png', width: 640, height: 480 })
const slide = imageOf({ id: 40, kind: 'slide', filename: 'bm-1.svs', width: 10000, height: 8000, mpp: 0.25 })
const areaJob = jobOf({ id: 12, kind: 'analyse_area', image_id: 40, sample_id: 5, status: 'running', progress: 0.5, eta_s: 60, region: { x: 100, y: 100, w: 2000, h: 2000 } })
let jobs: ReturnType<typeof jobOf>[]
let calls: { method: string; url: string; body: unknown }[]

beforeEach(() => {
  setActivePinia(createPinia())
  calls = []
  jobs = [jobOf({ id: 3, image_id: 30, sample_id: 5, status: 'done', progress: 1 }), areaJob]
  vi.stubGlobal('fetch', vi.fn(async (url: string, init: RequestInit = {}) => {
    const method = init.method || 'GET'
    calls.push({ method, url, body: init.body ? JSON.parse(String(init.body)) : null })
    const path = url.split('?')[0]
    if (method === 'POST' && path === '/api/images/40/areas') {
      const job = jobOf({ id: 13, kind: 'analyse_area', image_id: 40, sample_id: 5, region: JSON.parse(String(init.body)) })
      jobs = [...jobs, job]
      return reply(201, job)
    }
    const answers: Record<string, unknown> = {
      '/api/samples/5': sampleOf({ id: 5 }),
      '/api/patients/1': { id: 1, identifier: 'MRN-1', name: 'Ann', sex: 'female', birth_date: null, keywords: '', notes: '', created_at: 0, updated_at: 0 },
      '/api/samples/5/images': { items: [field, slide] },
      '/api/samples/5/progress': progressOf({ images: 2, done: 1, running: 1 }),
      '/api/jobs': { items: jobs, counts: {} },
      '/api/samples/5/cells': { items: [cellOf({ id: 1, image_id: 40, job_id: 12, x1: 200, y1: 200, x2: 240, y2: 240 })], total: 1 },
      '/api/samples/5/cells/summary': { classes: [], cells: 1, confirmed: 0, flagged: 0, reclassified: 0 },
    }
    if (method === 'GET' && path in answers) return reply(200, answers[path])
    return reply(404, { error: { code: 'not_found', message: `no route ${method} ${path}` } })
  }))
})
afterEach(() => {
  vi.unstubAllGlobals()
  osd.reset()
  document.body.innerHTML = ''
})

async function mountPage(query: Record<string, string>) {
  const elsewhere = { render: () => null }
  const router = createRouter({
    history: createMemoryHistory(),
    routes: [
      { path: '/samples/:id', component: SampleView, props: true },
      { path: '/samples/:id/report', component: elsewhere },
      { path: '/patients/:id', component: elsewhere },
    ],
  })
  await router.push({ path: '/samples/5', query })
  await router.isReady()
  const session = useSessionStore()
  session.user = userOf({ id: 1, role: 'technician' })
  session.checked = true
  const w = mount(SampleView, { props: { id: '5' }, global: { plugins: [router, ElementPlus, makeI18n('en')] }, attachTo: document.body })
  await flushPromises()
  await vi.dynamicImportSettled()
  await flushPromises()
  return { w, router }
}

describe('SampleView with a slide', () => {
  it('marks the slide in the list with its size and shows it in the slide viewer', async () => {
    const { w } = await mountPage({ field: '40' })
    expect(w.findAll('[data-test=slide-tag]')).toHaveLength(1)
    expect(w.find('[data-test=slide-megapixels]').text()).toContain('80 MP')
    expect(w.find('[data-test=slide-viewer]').exists()).toBe(true)
    expect(w.find('[data-test=field-viewer]').exists()).toBe(false)
    expect(osd.lastViewer().options.tileSources).toBe('/api/images/40/dzi')
    // The slide's jobs are its areas, on the slide; a field keeps its analysis tag.
    expect(w.findComponent(SlideViewer).props('jobs').map((j) => j.id)).toEqual([12])
    expect(w.find('[data-test=slide-upload]').exists()).toBe(true)
    w.unmount()
  })

  it('keeps the field viewer for a field', async () => {
    const { w } = await mountPage({ field: '30' })
    expect(w.find('[data-test=field-viewer]').exists()).toBe(true)
    expect(w.find('[data-test=slide-viewer]').exists()).toBe(false)
    w.unmount()
  })

  it('queues an area chosen on the slide and reloads the jobs', async () => {
    const { w } = await mountPage({ field: '40' })
    const before = calls.filter((c) => c.url.startsWith('/api/jobs')).length
    w.findComponent(SlideViewer).vm.$emit('area', { x: 10, y: 20, w: 3000, h: 2000 })
    await flushPromises()
    expect(calls.filter((c) => c.method === 'POST')).toEqual([{ method: 'POST', url: '/api/images/40/areas', body: { x: 10, y: 20, w: 3000, h: 2000 } }])
    expect(calls.filter((c) => c.url.startsWith('/api/jobs')).length).toBeGreaterThan(before)
    expect(w.findComponent(SlideViewer).props('jobs').map((j) => j.id)).toEqual([12, 13])
    w.unmount()
  })
})
