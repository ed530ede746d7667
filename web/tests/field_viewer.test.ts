// Editing boxes on the field viewer: what the reviewer's drags and clicks emit, and the geometry
// behind them. The image is shown by OpenSeadragon, here a stand-in (tests/osd_stub.ts: a fixed
// scale of 0.5, no offset, events fired by the test). jsdom has no layout, so the frame sits at
// the origin and a pointer at (x, y) is image pixel (2x, 2y): every box the viewer emits must have
// gone through the viewport's conversion.
import { afterEach, describe, expect, it, vi } from 'vitest'
import { flushPromises, mount } from '@vue/test-utils'
import ElementPlus from 'element-plus'
import FieldViewer from '@/components/FieldViewer.vue'
import { makeI18n } from '@/i18n/index'
import { boxFromDrag, clampBox, moveBox, resizeBox } from '@/lib/box_edit'
import { fittedTransform } from '@/lib/use_deep_zoom'
import { classColour } from '@/lib/taxonomy'
import { cellOf, imageOf } from './fixtures'
import * as osd from './osd_stub'

vi.mock('openseadragon', () => import('./osd_stub'))

const size = { width: 100, height: 80 }

describe('box geometry', () => {
  it('a drag in any direction spans the same box, cut to the image', () => {
    expect(boxFromDrag(40, 30, 10, 5, size)).toEqual({ x1: 10, y1: 5, x2: 40, y2: 30 })
    expect(boxFromDrag(90, 70, 130, -4, size)).toEqual({ x1: 90, y1: 0, x2: 100, y2: 70 })
    expect(clampBox({ x1: 1.234, y1: 2, x2: 3.26, y2: 4 }, size)).toEqual({ x1: 1.2, y1: 2, x2: 3.3, y2: 4 })
  })
  it('a moved box keeps its size and stops at the edge', () => {
    expect(moveBox({ x1: 10, y1: 10, x2: 30, y2: 20 }, 5, -3, size)).toEqual({ x1: 15, y1: 7, x2: 35, y2: 17 })
    expect(moveBox({ x1: 10, y1: 10, x2: 30, y2: 20 }, 500, 500, size)).toEqual({ x1: 80, y1: 70, x2: 100, y2: 80 })
  })
  it('a resized box keeps its opposite corner and the smallest side', () => {
    expect(resizeBox({ x1: 10, y1: 10, x2: 30, y2: 20 }, 'se', 50, 60, size)).toEqual({ x1: 10, y1: 10, x2: 50, y2: 60 })
    expect(resizeBox({ x1: 10, y1: 10, x2: 30, y2: 20 }, 'nw', 40, 40, size)).toEqual({ x1: 26, y1: 16, x2: 30, y2: 20 })
  })
  it('fits the image in the frame, centred, before the viewer has opened it', () => {
    expect(fittedTransform(400, 400, { id: 1, width: 100, height: 80 })).toEqual({ ox: 0, oy: 40, k: 4 })
    expect(fittedTransform(0, 0, { id: 1, width: 100, height: 80 })).toEqual({ ox: 0, oy: 0, k: 0 })
  })
})

const cells = [
  cellOf({ id: 1, image_id: 5, x1: 10, y1: 10, x2: 30, y2: 30, suggested_class: 'lymphocyte', class: 'lymphocyte' }),
  cellOf({ id: 2, image_id: 5, x1: 50, y1: 40, x2: 70, y2: 60, suggested_class: 'monocyte', reviewed_class: 'not_a_cell', class: 'not_a_cell' }),
]

async function mountViewer(props: Record<string, unknown> = {}) {
  const w = mount(FieldViewer, {
    props: { image: imageOf({ id: 5, width: 100, height: 80 }), cells, editable: true, ...props },
    global: { plugins: [ElementPlus, makeI18n('en')] },
    attachTo: document.body,
  })
  const viewer = osd.lastViewer()
  viewer.fire('open')
  await flushPromises()
  return { w, viewer }
}

/** OpenSeadragon's canvas-click for a press and release on an element (quick: no drag). */
async function clickOn(viewer: osd.StubViewer, el: Element, quick = true) {
  const e = viewer.fire('canvas-click', { quick, originalTarget: el, position: new osd.Point(0, 0) })
  await flushPromises()
  return e
}

afterEach(() => {
  osd.reset()
  document.body.innerHTML = ''
})

describe('FieldViewer', () => {
  it('opens the field\'s deep-zoom descriptor and draws the boxes over it, in image pixels that follow the viewport', async () => {
    const { w, viewer } = await mountViewer()
    expect(viewer.options.tileSources).toBe('/api/images/5/dzi')
    expect(w.find('[data-test=field-viewer] img').exists()).toBe(false)
    expect(w.find('[data-test=field-viewer]').attributes('data-image-id')).toBe('5')
    const svg = w.find('[data-test=field-viewer] svg.boxes')
    expect(viewer.canvas.contains(svg.element)).toBe(true) // presses on boxes reach the viewer
    expect(svg.attributes('viewBox')).toBe('0 0 100 80')
    expect(svg.attributes('style')).toContain('translate(0px, 0px) scale(0.5)')
    const rect = w.find('g.box[data-cell="1"] rect')
    expect(rect.attributes()).toMatchObject({ x: '10', y: '10', width: '20', height: '20', stroke: classColour('lymphocyte') })
    // Two screen pixels wide at half size: four image pixels.
    expect(rect.attributes('stroke-width')).toBe('4')
    viewer.fire('open-failed', { message: 'HTTP 404 attempting to load TileSource' })
    await flushPromises()
    expect(w.find('[data-test=field-open-error]').text()).toContain('HTTP 404')
    w.unmount()
    expect(viewer.destroy).toHaveBeenCalled()
  })

  it('opens another field in a new viewer, keeping "add cell" mode and its navigation off', async () => {
    const { w, viewer } = await mountViewer()
    await w.find('[data-test=mode-draw] input').setValue(true)
    await w.setProps({ image: imageOf({ id: 6, width: 100, height: 80 }), cells: [] })
    expect(viewer.destroy).toHaveBeenCalled()
    const next = osd.lastViewer()
    expect(next).not.toBe(viewer)
    expect(next.options.tileSources).toBe('/api/images/6/dzi')
    expect(next.setMouseNavEnabled).toHaveBeenLastCalledWith(false)
    w.unmount()
  })

  it('turns off the keys that would rotate or flip the view under the boxes', async () => {
    const { w, viewer } = await mountViewer()
    expect(viewer.fire('canvas-key', { originalEvent: { keyCode: 82 }, preventDefaultAction: false }).preventDefaultAction).toBe(true)
    expect(viewer.fire('canvas-key', { originalEvent: { keyCode: 70 }, preventDefaultAction: false }).preventDefaultAction).toBe(true)
    expect(viewer.fire('canvas-key', { originalEvent: { keyCode: 37 }, preventDefaultAction: false }).preventDefaultAction).toBe(false)
    w.unmount()
  })

  it('centres on the highlighted cell when the field opens', async () => {
    const { w, viewer } = await mountViewer({ highlightId: 1 })
    // cell 1 is 20 px wide around (20, 20): three times its side, centred on it
    expect(viewer.viewport.fitBounds).toHaveBeenCalledWith({ x: -10, y: -10, width: 60, height: 60 })
    expect(w.find('g.box[data-cell="1"]').classes()).toContain('highlighted')
    w.unmount()
  })
})

describe('FieldViewer editing', () => {
  it('draws a new box in "add cell" mode with navigation off; a slip of the mouse draws nothing', async () => {
    const { w, viewer } = await mountViewer()
    await w.find('[data-test=mode-draw] input').setValue(true)
    expect(viewer.setMouseNavEnabled).toHaveBeenLastCalledWith(false)
    const frame = w.find('[data-test=field-viewer]')
    await frame.trigger('pointerdown', { button: 0, clientX: 30, clientY: 2.5 }) // image (60, 5)
    await frame.trigger('pointermove', { clientX: 10, clientY: 17.5 }) // image (20, 35)
    expect(w.find('[data-test=box-draft]').attributes()).toMatchObject({ x: '20', y: '5', width: '40', height: '30' })
    await frame.trigger('pointerup')
    expect(w.emitted('add')).toEqual([[{ x1: 20, y1: 5, x2: 60, y2: 35 }]])
    await frame.trigger('pointerdown', { button: 0, clientX: 2.5, clientY: 2.5 })
    await frame.trigger('pointermove', { clientX: 3.5, clientY: 15 }) // 2 image pixels wide
    await frame.trigger('pointerup')
    expect(w.emitted('add')).toHaveLength(1)
    expect(viewer.setMouseNavEnabled).toHaveBeenLastCalledWith(false)
    await w.find('[data-test=mode-view] input').setValue(true)
    expect(viewer.setMouseNavEnabled).toHaveBeenLastCalledWith(true)
    w.unmount()
  })

  it('zooms around the pointer with the wheel while navigation is off, and leaves the wheel to the viewer otherwise', async () => {
    const { w, viewer } = await mountViewer()
    const frame = w.find('[data-test=field-viewer]')
    await frame.trigger('wheel', { deltaY: -100, clientX: 40, clientY: 20 })
    expect(viewer.viewport.zoomBy).not.toHaveBeenCalled()
    await w.find('[data-test=mode-draw] input').setValue(true)
    await frame.trigger('wheel', { deltaY: -100, clientX: 40, clientY: 20 })
    expect(viewer.viewport.zoomBy).toHaveBeenLastCalledWith(1.2, new osd.Point(80, 40))
    w.unmount()
  })

  it('picks, moves and removes a box in "edit boxes" mode, and restores a removed one', async () => {
    const { w, viewer } = await mountViewer()
    await w.find('[data-test=mode-edit] input').setValue(true)
    await clickOn(viewer, w.find('g.box[data-cell="1"] rect').element)
    expect(w.find('[data-test=box-edit-bar]').text()).toContain('Cell 1')
    expect(w.findAll('[data-handle]')).toHaveLength(4)
    // The press that starts a move stays away from the viewer: no pan, navigation off meanwhile.
    const pressesSeenByViewer = vi.fn()
    viewer.canvas.addEventListener('pointerdown', pressesSeenByViewer)
    await w.find('g.box[data-cell="1"] rect').trigger('pointerdown', { button: 0, clientX: 10, clientY: 10 }) // image (20, 20)
    expect(pressesSeenByViewer).not.toHaveBeenCalled()
    expect(viewer.setMouseNavEnabled).toHaveBeenLastCalledWith(false)
    const frame = w.find('[data-test=field-viewer]')
    await frame.trigger('pointermove', { clientX: 12.5, clientY: 9 }) // image (25, 18)
    await frame.trigger('pointerup')
    expect(w.emitted('move')).toEqual([[1, { x1: 15, y1: 8, x2: 35, y2: 28 }]])
    expect(viewer.setMouseNavEnabled).toHaveBeenLastCalledWith(true)
    await w.find('[data-test=remove-box]').trigger('click')
    expect(w.emitted('remove')).toEqual([[1]])
    await frame.trigger('keydown', { key: 'Delete' })
    expect(w.emitted('remove')).toEqual([[1], [1]])
    expect(w.emitted('select')).toBeUndefined()

    await clickOn(viewer, w.find('g.box[data-cell="2"] rect').element)
    expect(w.find('[data-test=remove-box]').exists()).toBe(false)
    await w.find('[data-test=restore-box]').trigger('click')
    expect(w.emitted('restore')).toEqual([[2]])
    w.unmount()
  })

  it('resizes a box by a corner handle, in image pixels', async () => {
    const { w, viewer } = await mountViewer()
    await w.find('[data-test=mode-edit] input').setValue(true)
    await clickOn(viewer, w.find('g.box[data-cell="1"]').element)
    await w.find('[data-handle=se]').trigger('pointerdown', { button: 0, clientX: 15, clientY: 15 }) // image (30, 30)
    expect(viewer.setMouseNavEnabled).toHaveBeenLastCalledWith(false)
    const frame = w.find('[data-test=field-viewer]')
    await frame.trigger('pointermove', { clientX: 25, clientY: 30 }) // image (50, 60)
    expect(w.find('[data-handle]').exists()).toBe(false) // the draft is shown instead
    await frame.trigger('pointerup')
    expect(w.emitted('move')).toEqual([[1, { x1: 10, y1: 10, x2: 50, y2: 60 }]])
    expect(viewer.setMouseNavEnabled).toHaveBeenLastCalledWith(true)
    w.unmount()
  })

  it('shows removed boxes apart and leaves them out of the count; a plain click opens the cell, a drag does not', async () => {
    const { w, viewer } = await mountViewer()
    expect(w.find('g.box[data-cell="2"]').classes()).toContain('removed')
    expect(w.find('[data-test=viewer-count]').text()).toContain('1 cell')
    const drag = await clickOn(viewer, w.find('g.box[data-cell="1"] rect').element, false)
    expect(w.emitted('select')).toBeUndefined()
    expect(drag.preventDefaultAction).toBeUndefined()
    const click = await clickOn(viewer, w.find('g.box[data-cell="1"] rect').element)
    expect(w.emitted('select')[0][0].id).toBe(1)
    expect(click.preventDefaultAction).toBe(true)
    await clickOn(viewer, viewer.canvas) // beside every box
    expect(w.emitted('select')).toHaveLength(1)
    await w.find('[data-test=show-removed] input').setValue(false)
    expect(w.find('g.box[data-cell="2"]').exists()).toBe(false)
    w.unmount()
  })

  it('offers no editing to a reader', async () => {
    const { w } = await mountViewer({ editable: false })
    expect(w.find('[data-test=viewer-mode]').exists()).toBe(false)
    expect(w.find('[data-test=viewer-undo]').exists()).toBe(false)
    w.unmount()
  })
})
