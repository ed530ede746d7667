// How the gallery groups cells: unconfirmed flagged cells ("needs attention") first, then one
// group per class the cell counts as, in the taxonomy's order. Within a group, lowest confidence
// first (the cells most worth a look) or detection order.
import { effectiveClass } from './taxonomy.js'

/**
 * @param {object[]} cells API cells ({id, flagged, confirmed, probability, class / reviewed_class / suggested_class})
 * @param {{sortBy?: 'confidence'|'id', compare?: (a: string, b: string) => number}} opts
 * @returns {{key: string, cells: object[]}[]} key 'attention' or a class id
 */
export function groupCells(cells, opts = {}) {
  const sortBy = opts.sortBy || 'confidence'
  const compare = opts.compare || ((a, b) => a.localeCompare(b))
  const within = sortBy === 'confidence' ? (a, b) => a.probability - b.probability || a.id - b.id : (a, b) => a.id - b.id
  const attention = []
  const byClass = new Map()
  for (const c of cells) {
    if (c.flagged && !c.confirmed) {
      attention.push(c)
      continue
    }
    const k = effectiveClass(c)
    if (!byClass.has(k)) byClass.set(k, [])
    byClass.get(k).push(c)
  }
  const out = []
  if (attention.length) out.push({ key: 'attention', cells: attention.sort(within) })
  for (const k of [...byClass.keys()].sort(compare)) out.push({ key: k, cells: byClass.get(k).sort(within) })
  return out
}
