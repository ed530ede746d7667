// The slide viewer over a stand-in for OpenSeadragon (tests/osd_stub.ts: a fixed scale, no
// offset, events fired by the test). jsdom has no layout, so the frame sits at the origin and a
// mouse at (x, y) is screen pixel (x, y) = slide pixel (x / scale, y / scale).
import { afterEach, describe, expect, it, vi } from 'vitest'
import { flushPromises, mount } from '@vue/test-utils'
import ElementPlus from 'element-plus'
import { makeI18n } from '@/i18n/index'
import { classColour } from '@/lib/taxonomy'
import SlideViewer from '@/components/SlideViewer.vue'
import { cellOf, imageOf, jobOf } from './fixtures'
import * as osd from './osd_stub'

vi.mock('openseadragon', () => import('./osd_stub'))

const slide = imageOf({ id: 5, kind: 'slide', filename: 'bm-1.svs', width: 10000, height: 8000, mpp: 0.25 })
const cells = [
  cellOf({ id: 1, image_id: 5, job_id: 9, x1: 100, y1: 100, x2: 140, y2: 140, class: 'lymphocyte', suggested_class: 'lymphocyte' }),
  cellOf({ id: 2, image_id: 5, job_id: 9, x1: 300, y1: 200, x2: 340, y2: 240, class: 'monocyte', suggested_class: 'monocyte' }),
  cellOf({ id: 3, image_id: 5, job_id: 9, x1: 500, y1: 500, x2: 540, y2: 540, class: 'not_a_cell', reviewed_class: 'not_a_cell' }),
  // far outside the visible part (0..1600 x 0..1200 at scale 0.5) and the screen around it
  cellOf({ id: 4, image_id: 5, job_id: 9, x1: 9000, y1: 7000, x2: 9040, y2: 7040, class: 'lymphocyte' }),
]

function reply(status: number, body: unknown) {
  const text = JSON.stringify(body)
  return { ok: status >= 200 && status < 300, status, statusText: '', text: async () => text }
}

async function mountViewer(props: Record<string, unknown> = {}) {
  const w = mount(SlideViewer, {
    props: { image: slide, cells, editable: true, ...props },
    global: { plugins: [ElementPlus, makeI18n('en')] },
    attachTo: document.body,
  })
  const viewer = osd.lastViewer()
  viewer.fire('open')
  await flushPromises()
  return { w, viewer }
}

afterEach(() => {
  osd.reset()
  vi.unstubAllGlobals()
  document.body.innerHTML = ''
})

describe('SlideViewer', () => {
  it('opens the slide\'s deep-zoom descriptor and draws its visible cells in their class colours', async () => {
    const { w, viewer } = await mountViewer()
    expect(viewer.options.tileSources).toBe('/api/images/5/dzi')
    const marks = w.findAll('[data-test=slide-cell-marker]')
    expect(marks.map((m) => m.attributes('data-cell-id'))).toEqual(['1', '2']) // removed and far cells left out
    expect(marks[0].element.tagName).toBe('rect') // 40 px at scale 0.5 is 20 screen px: a box
    expect(marks[0].attributes('stroke')).toBe(classColour('lymphocyte'))
    expect(marks[1].attributes('stroke')).toBe(classColour('monocyte'))
    expect(w.find('svg.layer g').attributes('transform')).toBe('translate(0 0) scale(0.5)')
    expect(w.find('[data-test=slide-info]').text()).toContain('3 cells')
    w.unmount()
  })

  it('draws small cells as dots when zoomed out', async () => {
    osd.state.scale = 0.1 // 40 px boxes are 4 screen px
    const { w } = await mountViewer()
    const marks = w.findAll('[data-test=slide-cell-marker]')
    expect(marks.map((m) => m.element.tagName)).toEqual(['circle', 'circle', 'circle'])
    expect(marks[0].attributes()).toMatchObject({ cx: '120', cy: '120', fill: classColour('lymphocyte') })
    // 3.5 screen px at scale 0.1 are 35 slide px, in quarter-octave steps: 2^(21/4) = 38.05
    expect(Number(marks[0].attributes('r'))).toBeCloseTo(38.05, 1)
    w.unmount()
  })

  it('opens the cell under a click; a drag or a click beside every cell opens nothing', async () => {
    const { w, viewer } = await mountViewer()
    const click = viewer.fire('canvas-click', { quick: true, position: new osd.Point(160, 110) }) // slide (320, 220)
    expect(w.emitted('select')?.map((e) => (e[0] as { id: number }).id)).toEqual([2])
    expect(click.preventDefaultAction).toBe(true)
    viewer.fire('canvas-click', { quick: false, position: new osd.Point(60, 60) })
    viewer.fire('canvas-click', { quick: true, position: new osd.Point(400, 400) })
    expect(w.emitted('select')).toHaveLength(1)
    w.unmount()
  })

  it('draws an area: mouse navigation off, whole pixels cut to the slide, then navigation back', async () => {
    const { w, viewer } = await mountViewer()
    await w.find('[data-test=slide-draw-area]').trigger('click')
    expect(viewer.setMouseNavEnabled).toHaveBeenLastCalledWith(false)
    const layer = w.find('[data-test=slide-draw-layer]')
    await layer.trigger('mousedown', { button: 0, clientX: 10.3, clientY: 20.2 }) // slide (20.6, 40.4)
    await layer.trigger('mousemove', { clientX: 50.1, clientY: 60.9 }) // slide (100.2, 121.8)
    expect(w.find('[data-test=slide-draft]').text()).toContain('81 × 82 px')
    await layer.trigger('mouseup', { clientX: 50.1, clientY: 60.9 })
    expect(w.emitted('area')).toEqual([[{ x: 20, y: 40, w: 81, h: 82 }]])
    expect(viewer.setMouseNavEnabled).toHaveBeenLastCalledWith(true)
    expect(w.find('[data-test=slide-draw-layer]').exists()).toBe(false)

    // Past the slide's edges (10000 x 8000) the area stops at them.
    await w.find('[data-test=slide-draw-area]').trigger('click')
    await w.find('[data-test=slide-draw-layer]').trigger('mousedown', { button: 0, clientX: 4990, clientY: 3990 })
    await w.find('[data-test=slide-draw-layer]').trigger('mouseup', { clientX: 6000, clientY: -50 })
    expect(w.emitted('area')[1]).toEqual([{ x: 9980, y: 0, w: 20, h: 7980 }])
    w.unmount()
  })

  it('draws nothing for a slip of the mouse, and Esc leaves drawing', async () => {
    const { w, viewer } = await mountViewer()
    await w.find('[data-test=slide-draw-area]').trigger('click')
    const layer = w.find('[data-test=slide-draw-layer]')
    await layer.trigger('mousedown', { button: 0, clientX: 100, clientY: 100 })
    await layer.trigger('mouseup', { clientX: 102, clientY: 140 })
    expect(w.emitted('area')).toBeUndefined()
    document.dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape' }))
    await flushPromises()
    expect(w.find('[data-test=slide-draw-layer]').exists()).toBe(false)
    expect(viewer.setMouseNavEnabled).toHaveBeenLastCalledWith(true)
    w.unmount()
  })

  it('offers no drawing or analysing to a reader', async () => {
    const { w } = await mountViewer({ editable: false })
    expect(w.find('[data-test=slide-draw-area]').exists()).toBe(false)
    w.unmount()
  })

  it('shows the suggested areas and their heat map; "Analyse" queues one, "Analyse all" the rest', async () => {
    const suggested = {
      width: 10000, height: 8000, cols: 2, rows: 2, cell_w: 5000, cell_h: 4000,
      scores: [0.9, 0.0, 0.42, 0.91],
      areas: [{ x: 5200, y: 4100, w: 1000, h: 800, score: 0.91 }, { x: 200, y: 100, w: 1000, h: 800, score: 0.9 }, { x: 100, y: 4100, w: 600, h: 600, score: 0.42 }],
    }
    const fetch = vi.fn(async (_url: string) => reply(200, suggested))
    vi.stubGlobal('fetch', fetch)
    // The second suggestion was analysed already.
    const jobs = [jobOf({ id: 11, kind: 'analyse_area', image_id: 5, status: 'done', progress: 1, region: { x: 200, y: 100, w: 1000, h: 800 } })]
    const { w } = await mountViewer({ jobs })
    await w.find('[data-test=slide-suggested]').trigger('click')
    await flushPromises()
    expect(fetch.mock.calls[0][0]).toBe('/api/images/5/suggested-areas')
    expect(w.findAll('.heat path')).toHaveLength(2) // the 0.9 band (two cells) and the 0.4 band; a zero score is left off
    const first = w.find('[data-test=slide-area-suggested-1]')
    expect(first.attributes('style')).toContain('left: 2600px')
    expect(first.text()).toContain('#1 · 91%')
    expect(w.find('[data-test=slide-area-suggested-2]').text()).toContain('analysed')
    await first.find('[data-test=slide-analyse-suggested]').trigger('click')
    expect(w.emitted('area')).toEqual([[{ x: 5200, y: 4100, w: 1000, h: 800 }]])
    expect(w.find('[data-test=slide-analyse-all]').text()).toContain('(2)')
    await w.find('[data-test=slide-analyse-all]').trigger('click')
    expect(w.emitted('area')?.slice(1)).toEqual([[{ x: 5200, y: 4100, w: 1000, h: 800 }], [{ x: 100, y: 4100, w: 600, h: 600 }]])
    w.unmount()
  })

  it('says why suggested areas could not be had', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => reply(409, { error: { code: 'conflict', message: 'Areas are analysed on slides; a field is analysed whole when it is uploaded', reason: 'areas_need_a_slide', params: {} } })))
    const { w } = await mountViewer()
    await w.find('[data-test=slide-suggested]').trigger('click')
    await flushPromises()
    expect(w.find('[data-test=api-error]').text()).toContain('Areas are analysed on slides')
    w.unmount()
  })

  it('outlines each analysed area with its state; a running one with its progress and time left', async () => {
    const jobs = [
      jobOf({ id: 9, kind: 'analyse_area', image_id: 5, status: 'done', progress: 1, region: { x: 0, y: 0, w: 2000, h: 2000 } }),
      jobOf({ id: 12, kind: 'analyse_area', image_id: 5, status: 'running', progress: 0.42, eta_s: 190, region: { x: 4000, y: 2000, w: 1000, h: 600 } }),
      jobOf({ id: 13, kind: 'analyse_area', image_id: 5, status: 'running', progress: 0.1, eta_s: 3 * 3600 + 5 * 60, region: { x: 6000, y: 2000, w: 1000, h: 600 } }),
    ]
    const { w } = await mountViewer({ jobs })
    const running = w.find('[data-test=slide-area][data-job-id="12"]')
    expect(running.text()).toBe('Area 12 · Running 42% · about 3 min left')
    expect(running.attributes('style')).toContain('left: 2000px; top: 1000px; width: 500px; height: 300px')
    expect(w.find('[data-test=slide-area][data-job-id="13"]').text()).toContain('about 3 h 5 min left')
    expect(w.find('[data-test=slide-area][data-job-id="9"]').text()).toBe('Area 9 · Done · 3 cells')
    w.unmount()
  })

  it('opens another slide in a new viewer and lets the old one go', async () => {
    const { w, viewer } = await mountViewer()
    await w.setProps({ image: imageOf({ id: 6, kind: 'slide', width: 4000, height: 3000 }), cells: [] })
    expect(viewer.destroy).toHaveBeenCalled()
    const next = osd.lastViewer()
    expect(next).not.toBe(viewer)
    expect(next.options.tileSources).toBe('/api/images/6/dzi')
    w.unmount()
    expect(next.destroy).toHaveBeenCalled()
  })

  it('zooms to the highlighted cell and says when the slide cannot be shown', async () => {
    const { w, viewer } = await mountViewer({ highlightId: 2 })
    expect(viewer.viewport.fitBounds).toHaveBeenCalledWith({ x: 220, y: 120, width: 200, height: 200 })
    viewer.fire('open-failed', { message: 'HTTP 404 attempting to load TileSource' })
    await flushPromises()
    expect(w.find('[data-test=slide-open-error]').text()).toContain('HTTP 404')
    w.unmount()
  })
})
