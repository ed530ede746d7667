// The sample store keeps one list of cells for the viewer, gallery and table: pages through the
// cell list, refreshes cells only when analyses finish, and swaps in the server's answer to a
// review or undo.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createPinia, setActivePinia } from 'pinia'
import { useSampleStore } from '@/stores/sample'
import { cellOf, imageOf, jobOf, progressOf } from './fixtures'

const reply = (status, body) => ({ ok: status < 300, status, statusText: '', text: async () => JSON.stringify(body) })
let routes
let calls

beforeEach(() => {
  setActivePinia(createPinia())
  calls = []
  routes = {}
  vi.stubGlobal('fetch', vi.fn(async (url, init) => {
    calls.push({ url, method: init?.method || 'GET', body: init?.body ? JSON.parse(init.body) : null })
    const path = url.split('?')[0]
    const handler = routes[`${init?.method || 'GET'} ${path}`]
    if (!handler) return reply(404, { error: { code: 'not_found', message: `no route ${path}` } })
    const [status, body] = handler(url, init)
    return reply(status, body)
  }))
})
afterEach(() => vi.unstubAllGlobals())

const cells = (from: number, n: number) => Array.from({ length: n }, (_, k) => cellOf({ id: from + k }))

describe('sample store', () => {
  it('pages through every cell of a sample', async () => {
    const all = cells(1, 7)
    routes['GET /api/samples/5/cells'] = (url) => {
      const q = new URL(url, 'http://x').searchParams
      const off = Number(q.get('offset'))
      expect(q.get('limit')).toBe('5000')
      return [200, { items: all.slice(off, off + 5000), total: all.length }]
    }
    const domain = { known: false, outside: false, atypical_share: 0, expected_share: 0.05, reasons: [] }
    routes['GET /api/samples/5/cells/summary'] = () => [200, { classes: [], cells: 7, confirmed: 0, flagged: 0, reclassified: 0, atypical_scored: 0, atypical: 0, domain }]
    const s = useSampleStore()
    s.id = 5
    await s.loadCells()
    expect(s.cells.map((c) => c.id)).toEqual([1, 2, 3, 4, 5, 6, 7])
    expect(s.cellsTotal).toBe(7)
    // the sample's summary (and its domain check) comes with the cells
    expect(s.summary?.cells).toBe(7)
    expect(s.summary?.domain).toEqual(domain)
  })
  it('reloads cells only when an analysis finished since the last poll', async () => {
    let progress = progressOf({ images: 2, queued: 1, running: 1 })
    let cellCalls = 0
    routes['GET /api/samples/5/progress'] = () => [200, progress]
    routes['GET /api/jobs'] = () => [200, { items: [], counts: {} }]
    routes['GET /api/samples/5/images'] = () => [200, { items: [{ id: 1 }, { id: 2 }] }]
    routes['GET /api/samples/5/cells'] = () => { cellCalls++; return [200, { items: cells(1, 3), total: 3 }] }
    routes['GET /api/samples/5/cells/summary'] = () => [200, { classes: [], cells: 3, confirmed: 0, flagged: 0, reclassified: 0 }]
    const s = useSampleStore()
    s.id = 5
    s.images = [imageOf({ id: 1 }), imageOf({ id: 2 })]
    s.progress = { ...progress }
    await s.refresh()
    expect(cellCalls).toBe(0)
    expect(s.analysing).toBe(true)
    progress = { ...progress, queued: 0, running: 0, done: 2, cells: 3 }
    await s.refresh()
    expect(cellCalls).toBe(1)
    expect(s.cells).toHaveLength(3)
    expect(s.analysing).toBe(false)
  })
  it('a review sends one request and replaces exactly the changed cells', async () => {
    routes['POST /api/cells/review'] = (_, init) => {
      const b = JSON.parse(init.body)
      return [200, { items: b.ids.map((id: number) => cellOf({ id, reviewed_class: b.class, class: b.class })) }]
    }
    routes['GET /api/samples/5/progress'] = () => [200, {}]
    const s = useSampleStore()
    s.id = 5
    s.cells = cells(1, 4)
    await s.review([2, 4], { class: 'monocyte' })
    expect(calls.find((c) => c.url === '/api/cells/review').body).toEqual({ ids: [2, 4], class: 'monocyte' })
    expect(s.cells.map((c) => c.reviewed_class || null)).toEqual([null, 'monocyte', null, 'monocyte'])
    expect(s.lastChange).toEqual({ ids: [2, 4], change: { class: 'monocyte' } })
  })
  it('a refused review changes nothing and passes the error on', async () => {
    routes['POST /api/cells/review'] = () => [409, { error: { code: 'conflict', message: 'sample BM-1 is signed' } }]
    const s = useSampleStore()
    s.id = 5
    s.cells = cells(1, 2)
    await expect(s.review([1], { class: 'monocyte' })).rejects.toMatchObject({ status: 409, message: 'sample BM-1 is signed' })
    expect(s.cells.every((c) => !c.reviewed_class)).toBe(true)
  })
  it('undo applies the restored cells from the server', async () => {
    routes['POST /api/samples/5/review/undo'] = () => [200, { undone_change_id: 'abc', items: [{ id: 2, reviewed_class: null, confirmed: false, suggested_class: 'lymphocyte' }] }]
    routes['GET /api/samples/5/progress'] = () => [200, {}]
    const s = useSampleStore()
    s.id = 5
    s.cells = [cellOf({ id: 1 }), cellOf({ id: 2, reviewed_class: 'monocyte', confirmed: true })]
    await s.undo()
    expect(s.cells[1]).toMatchObject({ id: 2, reviewed_class: null, confirmed: false })
  })
  it('queues an area of a slide and lists its job at once', async () => {
    const job = jobOf({ id: 12, kind: 'analyse_area', image_id: 4, sample_id: 5, region: { x: 10, y: 20, w: 300, h: 200 } })
    routes['POST /api/images/4/areas'] = () => [201, job]
    const s = useSampleStore()
    s.id = 5
    s.jobs = [jobOf({ id: 3, image_id: 4 })]
    await s.analyseArea(4, { x: 10, y: 20, w: 300, h: 200 })
    expect(calls[0]).toMatchObject({ url: '/api/images/4/areas', method: 'POST', body: { x: 10, y: 20, w: 300, h: 200 } })
    expect(s.jobs.map((j) => j.id)).toEqual([3, 12])
  })
})
