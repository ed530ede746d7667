// Editing boxes on the field viewer: what the reviewer's drags and clicks emit, and the geometry
// behind them. jsdom has no layout: the frame is 0 x 0 at the origin and the scale stays 1, so a
// pointer at (x, y) is image pixel (x, y).
import { describe, expect, it } from 'vitest'
import { mount } from '@vue/test-utils'
import ElementPlus from 'element-plus'
import FieldViewer from '@/components/FieldViewer.vue'
import { makeI18n } from '@/i18n/index'
import { boxFromDrag, clampBox, moveBox, resizeBox } from '@/lib/box_edit'
import { cellOf, imageOf } from './fixtures'

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
})

function mountViewer(props = {}) {
  const cells = [
    cellOf({ id: 1, x1: 10, y1: 10, x2: 30, y2: 30, suggested_class: 'lymphocyte', class: 'lymphocyte' }),
    cellOf({ id: 2, x1: 50, y1: 40, x2: 70, y2: 60, suggested_class: 'monocyte', reviewed_class: 'not_a_cell', class: 'not_a_cell' }),
  ]
  return mount(FieldViewer, {
    props: { image: imageOf({ id: 5, width: 100, height: 80 }), cells, editable: true, ...props },
    global: { plugins: [ElementPlus, makeI18n('en')] },
    attachTo: document.body,
  })
}

describe('FieldViewer editing', () => {
  it('draws a new box in "add cell" mode; a slip of the mouse draws nothing', async () => {
    const w = mountViewer()
    await w.find('[data-test=mode-draw] input').setValue(true)
    const frame = w.find('[data-test=field-viewer]')
    await frame.trigger('mousedown', { button: 0, clientX: 60, clientY: 5 })
    await frame.trigger('mousemove', { clientX: 20, clientY: 35 })
    expect(w.find('[data-test=box-draft]').exists()).toBe(true)
    await frame.trigger('mouseup')
    expect(w.emitted('add')).toEqual([[{ x1: 20, y1: 5, x2: 60, y2: 35 }]])
    await frame.trigger('mousedown', { button: 0, clientX: 5, clientY: 5 })
    await frame.trigger('mousemove', { clientX: 7, clientY: 30 })
    await frame.trigger('mouseup')
    expect(w.emitted('add')).toHaveLength(1)
    w.unmount()
  })

  it('picks, moves and removes a box in "edit boxes" mode, and restores a removed one', async () => {
    const w = mountViewer()
    await w.find('[data-test=mode-edit] input').setValue(true)
    await w.find('g.box[data-cell="1"]').trigger('click')
    expect(w.find('[data-test=box-edit-bar]').text()).toContain('Cell 1')
    expect(w.findAll('[data-handle]')).toHaveLength(4)
    await w.find('g.box[data-cell="1"]').trigger('mousedown', { button: 0, clientX: 20, clientY: 20 })
    const frame = w.find('[data-test=field-viewer]')
    await frame.trigger('mousemove', { clientX: 25, clientY: 18 })
    await frame.trigger('mouseup')
    expect(w.emitted('move')).toEqual([[1, { x1: 15, y1: 8, x2: 35, y2: 28 }]])
    await w.find('[data-test=remove-box]').trigger('click')
    expect(w.emitted('remove')).toEqual([[1]])
    expect(w.emitted('select')).toBeUndefined()

    await w.find('g.box[data-cell="2"]').trigger('click')
    expect(w.find('[data-test=remove-box]').exists()).toBe(false)
    await w.find('[data-test=restore-box]').trigger('click')
    expect(w.emitted('restore')).toEqual([[2]])
    w.unmount()
  })

  it('shows removed boxes apart and leaves them out of the count; a plain click opens the cell', async () => {
    const w = mountViewer()
    expect(w.find('g.box[data-cell="2"]').classes()).toContain('removed')
    expect(w.find('[data-test=viewer-count]').text()).toContain('1 cell')
    await w.find('g.box[data-cell="1"]').trigger('click')
    expect(w.emitted('select')[0][0].id).toBe(1)
    await w.find('[data-test=show-removed] input').setValue(false)
    expect(w.find('g.box[data-cell="2"]').exists()).toBe(false)
    w.unmount()
  })

  it('offers no editing to a reader', () => {
    const w = mountViewer({ editable: false })
    expect(w.find('[data-test=viewer-mode]').exists()).toBe(false)
    expect(w.find('[data-test=viewer-undo]').exists()).toBe(false)
    w.unmount()
  })
})
