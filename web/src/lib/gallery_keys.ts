// Keyboard review in the cell gallery, as a pure function so it is testable without a browser.
// Number keys (then q, w, e, ...) reclassify the focused cell - or every selected cell - to the
// class with that key; arrows move the focus; Enter confirms; Space toggles selection;
// Ctrl/Cmd+Z or 'u' undoes the last change; Escape clears the selection; 'x' or Delete marks the
// focused (or selected) cells "not a cell" (a removed box, out of every count, undoable).
import { CLASS_KEYS, classIds, NOT_A_CELL } from './taxonomy'

/** The key that marks cells "not a cell" (Delete does the same). */
export const NOT_A_CELL_KEY = 'x'

/**
 * @param {{key: string, ctrlKey?: boolean, metaKey?: boolean, shiftKey?: boolean, altKey?: boolean}} ev
 * @param {{ids: number[], focus: number, selected: Set<number>|number[], columns?: number, classes?: string[]}} state
 *   ids: cells in display order; focus: index into ids (-1 none); columns: tiles per row (for up/down)
 * @returns {null | {type: 'focus', index: number}
 *   | {type: 'reclassify', ids: number[], cls: string}
 *   | {type: 'confirm', ids: number[]}
 *   | {type: 'toggle', id: number} | {type: 'clear'} | {type: 'undo'}}
 */
export function galleryKeyAction(ev, state) {
  const { ids, focus } = state
  const selected = [...(state.selected || [])]
  const columns = Math.max(1, state.columns || 1)
  const classes = state.classes || classIds()
  const key = ev.key
  if ((ev.ctrlKey || ev.metaKey) && (key === 'z' || key === 'Z')) return { type: 'undo' }
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return null
  if (key === 'u') return { type: 'undo' }
  if (key === 'Escape') return { type: 'clear' }
  const n = ids.length
  if (n === 0) return null
  const at = focus >= 0 && focus < n ? focus : -1
  const clamp = (i) => Math.min(n - 1, Math.max(0, i))
  switch (key) {
    case 'ArrowRight': return { type: 'focus', index: at < 0 ? 0 : clamp(at + 1) }
    case 'ArrowLeft': return { type: 'focus', index: at < 0 ? 0 : clamp(at - 1) }
    case 'ArrowDown': return { type: 'focus', index: at < 0 ? 0 : clamp(at + columns) }
    case 'ArrowUp': return { type: 'focus', index: at < 0 ? 0 : clamp(at - columns) }
    case 'Home': return { type: 'focus', index: 0 }
    case 'End': return { type: 'focus', index: n - 1 }
    default: break
  }
  // The cells an action applies to: the selection when there is one, else the focused cell.
  const targets = selected.length > 0 ? selected : at >= 0 ? [ids[at]] : []
  if (key === ' ') return at >= 0 ? { type: 'toggle', id: ids[at] } : null
  if (key === 'Enter') return targets.length ? { type: 'confirm', ids: targets } : null
  if (key === NOT_A_CELL_KEY || key === 'Delete') return targets.length ? { type: 'reclassify', ids: targets, cls: NOT_A_CELL } : null
  const k = CLASS_KEYS.indexOf(key.toLowerCase())
  if (k >= 0 && k < classes.length && targets.length) return { type: 'reclassify', ids: targets, cls: classes[k] }
  return null
}

/** The key that picks class `id` ('' when it has none). */
export function keyForClass(id, classes = classIds()) {
  if (id === NOT_A_CELL) return NOT_A_CELL_KEY
  const i = classes.indexOf(id)
  return i >= 0 && i < CLASS_KEYS.length ? CLASS_KEYS[i] : ''
}
