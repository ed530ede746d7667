// The gallery wired to the store: keys and clicks become the review requests the server expects,
// and the server's answer moves the tile.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { mount, flushPromises } from '@vue/test-utils'
import { reactive } from 'vue'
import { routeLocationKey, routerKey } from 'vue-router'
import { createPinia, setActivePinia } from 'pinia'
import ElementPlus from 'element-plus'
import CellGallery from '@/components/CellGallery.vue'
import { makeI18n } from '@/i18n/index'
import { useSampleStore } from '@/stores/sample'
import { useSessionStore } from '@/stores/session'
import { classIds } from '@/lib/taxonomy'
import { reviewState, parseReviewFilter } from '@/lib/gallery_groups'
import type { Schemas } from '@/api/client'
import { cellOf, sampleOf, userOf } from './fixtures'

const reply = (status, body) => ({ ok: status < 300, status, statusText: '', text: async () => JSON.stringify(body) })
const cell = (id: number, cls: string, extra: Partial<Schemas['Cell']> = {}) => cellOf({ id, suggested_class: cls, class: cls, ...extra })

// jsdom has no layout, so no scrollIntoView; the gallery scrolls the focused tile into view.
Element.prototype.scrollIntoView = function scrollIntoView() {}

let pinia
let calls
beforeEach(() => {
  pinia = createPinia()
  setActivePinia(pinia)
  calls = []
  vi.stubGlobal('fetch', vi.fn(async (url, init) => {
    const body = init?.body ? JSON.parse(init.body) : null
    calls.push({ url, method: init?.method, body })
    if (url === '/api/cells/review') {
      const store = useSampleStore()
      const items = body.ids.map((id) => {
        const c = { ...store.cellById(id) }
        if (body.class) Object.assign(c, { reviewed_class: body.class, class: body.class })
        if (body.confirmed !== undefined) c.confirmed = body.confirmed
        if (body.verified !== undefined) Object.assign(c, { verified: body.verified, verifier: { id: 2, username: 'tina', display_name: 'Tina' } })
        return c
      })
      return reply(200, { items })
    }
    if (url.endsWith('/review/undo')) return reply(404, { error: { code: 'not_found', message: 'nothing to undo' } })
    return reply(200, { images: 1, queued: 0, running: 0, done: 1, failed: 0, cells: 3, reviewed_cells: 0 })
  }))
})
afterEach(() => vi.unstubAllGlobals())

function setup(role: Schemas['User']['role'] = 'doctor') {
  const session = useSessionStore()
  session.user = userOf({ id: 1, username: 'doc', role })
  session.checked = true
  const store = useSampleStore()
  store.id = 7
  store.sample = sampleOf({ id: 7, status: 'in_review', count_target: 500 })
  store.cells = [cell(1, 'lymphocyte'), cell(2, 'lymphocyte', { probability: 0.5 }), cell(3, 'monocyte', { flagged: true, probability: 0.3 })]
  return mount(CellGallery, { global: { plugins: [pinia, ElementPlus, makeI18n('en')] }, attachTo: document.body })
}

describe('CellGallery', () => {
  it('shows only the cells of one review state, from the URL, and keeps the choice there', async () => {
    const w0 = setup()
    w0.unmount()
    const store = useSampleStore()
    store.cells = [
      cell(1, 'lymphocyte'),                                                            // model only
      cell(2, 'lymphocyte', { verified: true, verifier: { id: 2, username: 'tina', display_name: 'Tina' } }),
      cell(3, 'monocyte', { reviewed_class: 'eosinophil', class: 'eosinophil' }),        // changed
      cell(4, 'monocyte', { confirmed: true }),
      cell(5, 'monocyte', { verified: true, reviewed_class: 'basophil', class: 'basophil' }),
      cell(6, 'lymphocyte', { reviewed_class: 'not_a_cell', class: 'not_a_cell', verified: true }), // removed: in no state
    ]
    const route = reactive({ query: { show: 'verified' } as Record<string, string | undefined> })
    const replace = vi.fn((to) => { route.query = to.query })
    const w = mount(CellGallery, {
      global: { plugins: [pinia, ElementPlus, makeI18n('en')], provide: { [routeLocationKey as symbol]: route, [routerKey as symbol]: { replace } } },
      attachTo: document.body,
    })
    await flushPromises()
    const shown = () => w.findAll('.tile').map((x) => Number(x.attributes('data-cell'))).sort()
    expect(shown()).toEqual([2, 5])
    route.query = { show: 'changed' }
    await flushPromises()
    expect(shown()).toEqual([3])
    route.query = { show: 'model' }
    await flushPromises()
    expect(shown()).toEqual([1])
    route.query = { show: 'nonsense' }
    await flushPromises()
    expect(shown()).toEqual([1, 2, 3, 4, 5, 6])
    // Choosing a state writes it to the URL (reload and Back keep it).
    await w.find('[data-test=gallery-show]').trigger('click')
    await flushPromises()
    const option = document.body.querySelector('[data-test=gallery-show-confirmed]') as HTMLElement
    expect(option.textContent).toContain('Confirmed (1)')
    option.click()
    await flushPromises()
    expect(replace).toHaveBeenLastCalledWith({ query: { show: 'confirmed' } })
    expect(shown()).toEqual([4])
    w.unmount()
  })
  it('names the review state of a cell', () => {
    expect(reviewState({ confirmed: true, verified: true })).toBe('confirmed')
    expect(reviewState({ confirmed: false, verified: true })).toBe('verified')
    expect(reviewState({ confirmed: false, reviewed_class: 'eosinophil', suggested_class: 'monocyte' })).toBe('changed')
    expect(reviewState({ confirmed: false, reviewed_class: 'monocyte', suggested_class: 'monocyte' })).toBe('model')
    expect(parseReviewFilter('verified')).toBe('verified')
    expect(parseReviewFilter(['verified'])).toBe('')
    expect(parseReviewFilter(undefined)).toBe('')
  })
  it('names why an attention tile is there, and warns when the sample is outside the domain', async () => {
    const w = setup()
    const store = useSampleStore()
    store.cells = [cell(1, 'lymphocyte'), cell(4, 'promyelocyte', { flagged: true, probability: 0.96, atypical: 0.999, flag_reason: 'atypical' })]
    await flushPromises()
    const badge = w.find('.tile[data-cell="4"] .tile-reason')
    expect(badge.attributes('data-reason')).toBe('atypical')
    expect(badge.text()).toBe('Atypical')
    expect(badge.attributes('title')).toMatch(/Unlike every cell the classifier was trained on/)
    expect(w.find('[data-test=domain-warning]').exists()).toBe(false)
    store.summary = {
      classes: [], cells: 40, confirmed: 0, verified: 0, flagged: 30, reclassified: 0, atypical_scored: 40, atypical: 30,
      domain: { known: true, outside: true, atypical_share: 0.75, expected_share: 0.05, reasons: ['30 of 40 cells (75%) look unlike every cell'] },
    }
    await flushPromises()
    const warning = w.find('[data-test=domain-warning]')
    expect(warning.text()).toContain('30 of 40 cells (75%)')
    expect(warning.text()).toContain('adapt the classifier')
    w.unmount()
  })
  it('groups the flagged cell first, then classes in taxonomy order', () => {
    const w = setup()
    const groups = w.findAll('section.group').map((g) => g.attributes('data-group'))
    expect(groups[0]).toBe('attention')
    // cell 3 is flagged, so only lymphocytes remain for the class groups
    expect(groups.slice(1)).toEqual(['lymphocyte'])
    expect(w.findAll('.tile')).toHaveLength(3)
    w.unmount()
  })
  it('a number key reclassifies the focused cell in one request and moves its tile', async () => {
    const w = setup()
    const target = classIds()[1]
    await w.find('.tile[data-cell="2"]').trigger('click')
    await w.find('[data-test=gallery]').trigger('keydown', { key: '2' })
    await flushPromises()
    const review = calls.find((c) => c.url === '/api/cells/review')
    expect(review.method).toBe('POST')
    expect(review.body).toEqual({ ids: [2], class: target })
    expect(w.find('.tile[data-cell="2"]').attributes('data-class')).toBe(target)
    w.unmount()
  })
  it('Enter confirms the selection; for a technician it pre-verifies instead', async () => {
    const w = setup()
    await w.find('.tile[data-cell="1"]').trigger('click')
    await w.find('.tile[data-cell="2"]').trigger('click', { ctrlKey: true })
    await w.find('.tile[data-cell="1"]').trigger('click', { ctrlKey: true })
    await w.find('[data-test=gallery]').trigger('keydown', { key: 'Enter' })
    await flushPromises()
    expect(calls.find((c) => c.url === '/api/cells/review').body).toEqual({ ids: [2, 1], confirmed: true })
    w.unmount()
    calls.length = 0
    const tech = setup('technician')
    await tech.find('.tile[data-cell="1"]').trigger('click')
    await tech.find('[data-test=gallery]').trigger('keydown', { key: 'Enter' })
    await flushPromises()
    const sent = calls.filter((c) => c.url === '/api/cells/review')
    expect(sent).toHaveLength(1)
    expect(sent[0].body).toEqual({ ids: [1], verified: true })
    expect(tech.find('[data-test=confirm-all]').exists()).toBe(false)
    expect(tech.find('[data-test=verify-all]').exists()).toBe(true)
    const badge = tech.find('.tile[data-cell="1"] [data-test=pre-verified]')
    expect(badge.exists()).toBe(true)
    expect(badge.attributes('title')).toBe('Pre-verified by Tina')
    tech.unmount()
  })
  it('"Confirm all" asks first, naming what it will confirm; cancelling sends nothing', async () => {
    const w = setup()
    const store = useSampleStore()
    store.cells = [
      cell(1, 'lymphocyte', { verified: true }),
      cell(2, 'monocyte', { reviewed_class: 'monocyte', suggested_class: 'lymphocyte' }),
      cell(3, 'monocyte'),
      cell(4, 'monocyte', { confirmed: true }),
    ]
    await flushPromises()
    await w.find('[data-test=confirm-all]').trigger('click')
    await flushPromises()
    const box = document.querySelector('.el-message-box')
    expect(box?.textContent).toContain('This confirms 3 cells as they stand: 1 pre-verified by a technician, 1 reclassified but not verified, and 1 that still carry only the model')
    ;(document.querySelector('.el-message-box__btns .el-button:not(.el-button--primary)') as HTMLElement).click()
    await flushPromises()
    await new Promise((r) => setTimeout(r, 350))
    expect(calls.filter((c) => c.url === '/api/cells/review')).toHaveLength(0)
    await w.find('[data-test=confirm-all]').trigger('click')
    await flushPromises()
    // The cancelled box may still be fading out: press the newest one.
    const primaries = document.querySelectorAll('.el-message-box__btns .el-button--primary')
    ;(primaries[primaries.length - 1] as HTMLElement).click()
    await flushPromises()
    await new Promise((r) => setTimeout(r, 350))
    await flushPromises()
    const sent = calls.filter((c) => c.url === '/api/cells/review')
    expect(sent).toHaveLength(1)
    expect(sent[0].body).toEqual({ ids: [1, 2, 3], confirmed: true })
    w.unmount()
  })
  it('a viewer sees no review controls and keys send nothing', async () => {
    const w = setup('viewer')
    expect(w.find('[data-test=read-only]').exists()).toBe(true)
    expect(w.find('[data-test=gallery-reclassify]').exists()).toBe(false)
    await w.find('.tile[data-cell="1"]').trigger('click')
    await w.find('[data-test=gallery]').trigger('keydown', { key: '3' })
    await flushPromises()
    expect(calls.filter((c) => c.url === '/api/cells/review')).toHaveLength(0)
    w.unmount()
  })
  it('x marks a false box "not a cell": it leaves its class for the not-a-cell bin', async () => {
    const w = setup()
    expect(w.find('.class-bar .chip[data-class=not_a_cell]').text()).toContain('Not a cell')
    expect(w.find('.class-bar .chip[data-class=smudge]').exists()).toBe(true)
    expect(w.find('.class-bar .chip[data-class=artefact]').exists()).toBe(true)
    await w.find('.tile[data-cell="1"]').trigger('click')
    await w.find('[data-test=gallery]').trigger('keydown', { key: 'x' })
    await flushPromises()
    expect(calls.find((c) => c.url === '/api/cells/review').body).toEqual({ ids: [1], class: 'not_a_cell' })
    expect(w.find('section.group[data-group=not_a_cell] .tile[data-cell="1"]').exists()).toBe(true)
    expect(w.find('[data-test=confirm-all]').text()).toContain('(2)') // a removed box needs no confirmation
    w.unmount()
  })
  it('a reclassified tile says "reviewed" instead of the old class\'s probability', () => {
    const w = setup()
    const store = useSampleStore()
    store.cells = [cell(1, 'lymphocyte', { probability: 0.72, suggested_class: 'eosinophil', reviewed_class: 'lymphocyte' }), cell(2, 'monocyte', { probability: 0.64 })]
    return flushPromises().then(() => {
      expect(w.find('.tile[data-cell="1"] .tile-note').text()).toBe('reviewed')
      expect(w.find('.tile[data-cell="2"] .tile-note').text()).toBe('64%')
      w.unmount()
    })
  })
  it('remembers the tile size in this browser, within 96 to 256 px', async () => {
    localStorage.setItem('marrowscope.gallery.tileSize', '200')
    const w = setup()
    expect(w.find('[data-test=tile-size]').text()).toContain('208 px') // the nearest step of 16 from 96
    expect(w.find('.tile img').attributes('src')).toContain('size=208')
    w.unmount()
    localStorage.setItem('marrowscope.gallery.tileSize', '9999')
    const big = setup()
    expect(big.find('[data-test=tile-size]').text()).toContain('256 px')
    big.unmount()
    localStorage.setItem('marrowscope.gallery.tileSize', 'huge')
    const odd = setup()
    expect(odd.find('[data-test=tile-size]').text()).toContain('96 px')
    odd.unmount()
    localStorage.removeItem('marrowscope.gallery.tileSize')
  })
  it('u asks the server to undo and says when there is nothing to undo', async () => {
    const w = setup()
    await w.find('[data-test=gallery]').trigger('keydown', { key: 'u' })
    await flushPromises()
    expect(calls.find((c) => c.url === '/api/samples/7/review/undo').method).toBe('POST')
    expect(document.body.textContent).toContain('Nothing of yours to undo')
    w.unmount()
  })
})
