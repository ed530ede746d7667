import { describe, expect, it } from 'vitest'
import { galleryKeyAction, keyForClass } from '@/lib/gallery_keys'
import { groupCells } from '@/lib/gallery_groups'

const classes = ['promyelocyte', 'myelocyte', 'band_neutrophil', 'segmented_neutrophil', 'eosinophil', 'basophil', 'monocyte', 'lymphocyte', 'erythroblast', 'platelet', 'metamyelocyte']
const base = { ids: [11, 12, 13, 14, 15, 16, 17], focus: 2, selected: new Set(), columns: 3, classes }
const key = (k, extra = {}) => galleryKeyAction({ key: k, ...extra }, base)

describe('galleryKeyAction', () => {
  it('moves with arrows, by a row with up/down, clamped at the ends', () => {
    expect(key('ArrowRight')).toEqual({ type: 'focus', index: 3 })
    expect(key('ArrowLeft')).toEqual({ type: 'focus', index: 1 })
    expect(key('ArrowDown')).toEqual({ type: 'focus', index: 5 })
    expect(key('ArrowUp')).toEqual({ type: 'focus', index: 0 })
    expect(galleryKeyAction({ key: 'ArrowDown' }, { ...base, focus: 6 })).toEqual({ type: 'focus', index: 6 })
    expect(galleryKeyAction({ key: 'ArrowLeft' }, { ...base, focus: 0 })).toEqual({ type: 'focus', index: 0 })
    expect(galleryKeyAction({ key: 'ArrowRight' }, { ...base, focus: -1 })).toEqual({ type: 'focus', index: 0 })
    expect(key('End')).toEqual({ type: 'focus', index: 6 })
  })
  it('number keys reclassify the focused cell to the class in that position', () => {
    expect(key('1')).toEqual({ type: 'reclassify', ids: [13], cls: 'promyelocyte' })
    expect(key('8')).toEqual({ type: 'reclassify', ids: [13], cls: 'lymphocyte' })
    expect(key('0')).toEqual({ type: 'reclassify', ids: [13], cls: 'platelet' })
    expect(key('q')).toEqual({ type: 'reclassify', ids: [13], cls: 'metamyelocyte' })
    expect(key('w')).toBeNull() // only 11 classes
  })
  it('applies to the selection when there is one', () => {
    const s = { ...base, selected: new Set([12, 16]) }
    expect(galleryKeyAction({ key: '2' }, s)).toEqual({ type: 'reclassify', ids: [12, 16], cls: 'myelocyte' })
    expect(galleryKeyAction({ key: 'Enter' }, s)).toEqual({ type: 'confirm', ids: [12, 16] })
  })
  it('x and Delete mark the target "not a cell"', () => {
    expect(key('x')).toEqual({ type: 'reclassify', ids: [13], cls: 'not_a_cell' })
    expect(key('Delete')).toEqual({ type: 'reclassify', ids: [13], cls: 'not_a_cell' })
    expect(galleryKeyAction({ key: 'x' }, { ...base, selected: new Set([11, 12]) })).toEqual({ type: 'reclassify', ids: [11, 12], cls: 'not_a_cell' })
    expect(galleryKeyAction({ key: 'x' }, { ...base, focus: -1 })).toBeNull()
    expect(keyForClass('not_a_cell', classes)).toBe('x')
  })
  it('Enter confirms, Space toggles, Escape clears, u and Ctrl+Z undo', () => {
    expect(key('Enter')).toEqual({ type: 'confirm', ids: [13] })
    expect(key(' ')).toEqual({ type: 'toggle', id: 13 })
    expect(key('Escape')).toEqual({ type: 'clear' })
    expect(key('u')).toEqual({ type: 'undo' })
    expect(key('z', { ctrlKey: true })).toEqual({ type: 'undo' })
    expect(key('z', { metaKey: true })).toEqual({ type: 'undo' })
  })
  it('ignores other keys, modified keys and keys without a target', () => {
    expect(key('k')).toBeNull()
    expect(key('1', { ctrlKey: true })).toBeNull()
    expect(key('1', { altKey: true })).toBeNull()
    expect(galleryKeyAction({ key: '1' }, { ...base, focus: -1 })).toBeNull()
    expect(galleryKeyAction({ key: 'Enter' }, { ...base, focus: -1 })).toBeNull()
    expect(galleryKeyAction({ key: 'ArrowRight' }, { ...base, ids: [], focus: -1 })).toBeNull()
  })
  it('shows the key of each class', () => {
    expect(keyForClass('promyelocyte', classes)).toBe('1')
    expect(keyForClass('platelet', classes)).toBe('0')
    expect(keyForClass('blast', classes)).toBe('')
  })
})

describe('groupCells', () => {
  const cells = [
    { id: 1, suggested_class: 'lymphocyte', probability: 0.9, flagged: false, confirmed: false },
    { id: 2, suggested_class: 'lymphocyte', probability: 0.4, flagged: true, confirmed: false },
    { id: 3, suggested_class: 'lymphocyte', probability: 0.3, flagged: true, confirmed: true },
    { id: 4, suggested_class: 'monocyte', reviewed_class: 'promyelocyte', probability: 0.8, flagged: false, confirmed: true },
    { id: 5, suggested_class: 'promyelocyte', probability: 0.95, flagged: false, confirmed: false },
  ]
  const order = (a, b) => classes.indexOf(a) - classes.indexOf(b)
  it('puts unconfirmed flagged cells first, then classes in hematology order by the class a cell counts as', () => {
    const g = groupCells(cells, { compare: order })
    expect(g.map((x) => x.key)).toEqual(['attention', 'promyelocyte', 'lymphocyte'])
    expect(g[0].cells.map((c) => c.id)).toEqual([2])
    expect(g[1].cells.map((c) => c.id)).toEqual([4, 5])
    expect(g[2].cells.map((c) => c.id)).toEqual([3, 1])
  })
  it('sorts by detection order on request', () => {
    const g = groupCells(cells, { compare: order, sortBy: 'id' })
    expect(g[2].cells.map((c) => c.id)).toEqual([1, 3])
  })
  it('leads the attention group with atypical cells, whatever their probability', () => {
    const flagged = [
      { id: 21, suggested_class: 'lymphocyte', probability: 0.3, flagged: true, confirmed: false, flag_reason: 'low_confidence' },
      { id: 22, suggested_class: 'promyelocyte', probability: 0.97, flagged: true, confirmed: false, flag_reason: 'atypical' },
      { id: 23, suggested_class: 'monocyte', probability: 0.5, flagged: true, confirmed: false, flag_reason: 'high_entropy' },
    ]
    expect(groupCells(flagged, { compare: order })[0].cells.map((c) => c.id)).toEqual([22, 21, 23])
  })
  it('keeps removed boxes out of the attention group, in their own bin', () => {
    const g = groupCells([{ id: 31, suggested_class: 'lymphocyte', reviewed_class: 'not_a_cell', class: 'not_a_cell', probability: 0.2, flagged: true, confirmed: false }], { compare: order })
    expect(g.map((x) => x.key)).toEqual(['not_a_cell'])
  })
  it('uses the API effective class when present', () => {
    const g = groupCells([{ id: 9, class: 'basophil', suggested_class: 'eosinophil', probability: 1, flagged: false, confirmed: false }], { compare: order })
    expect(g[0].key).toBe('basophil')
  })
})
