// How the gallery groups cells: unconfirmed flagged cells ("needs attention") first, then one
// group per class the cell counts as, in the taxonomy's order (review-only bins such as "not a
// cell" after the taxonomy's classes). Within a group, lowest confidence
// first (the cells most worth a look) or detection order; atypical cells lead the attention group.
import type { Schemas } from '@/api/client'
import { effectiveClass, NOT_A_CELL } from './taxonomy'

type GalleryCell = Pick<Schemas['Cell'], 'id' | 'flagged' | 'confirmed' | 'probability'> &
  Partial<Pick<Schemas['Cell'], 'flag_reason'>> &
  Parameters<typeof effectiveClass>[0]

/** Groups of cells, each keyed 'attention' or a class id. */
export function groupCells<C extends GalleryCell>(
  cells: C[],
  opts: { sortBy?: 'confidence' | 'id'; compare?: (a: string, b: string) => number } = {},
): { key: string; cells: C[] }[] {
  const sortBy = opts.sortBy || 'confidence'
  const compare = opts.compare || ((a, b) => a.localeCompare(b))
  const within = sortBy === 'confidence' ? (a, b) => a.probability - b.probability || a.id - b.id : (a, b) => a.id - b.id
  const attention: C[] = []
  const byClass = new Map<string, C[]>()
  for (const c of cells) {
    // A removed box needs no more attention: it is out of every count.
    if (c.flagged && !c.confirmed && effectiveClass(c) !== NOT_A_CELL) {
      attention.push(c)
      continue
    }
    const k = effectiveClass(c)
    const group = byClass.get(k) ?? []
    group.push(c)
    byClass.set(k, group)
  }
  const out: { key: string; cells: C[] }[] = []
  // Atypical cells lead the attention group: their class is a guess whatever its probability.
  const atypicalFirst = (a: C, b: C) => Number(b.flag_reason === 'atypical') - Number(a.flag_reason === 'atypical') || within(a, b)
  if (attention.length) out.push({ key: 'attention', cells: attention.sort(atypicalFirst) })
  for (const [k, group] of [...byClass.entries()].sort(([a], [b]) => compare(a, b))) out.push({ key: k, cells: group.sort(within) })
  return out
}

/**
 * Where a cell stands in the review, for the gallery's "show" filter: confirmed by a doctor;
 * pre-verified by a technician and waiting for the doctor; changed by a reviewer (its class is not
 * the model's) but not verified; or still the model's suggestion alone.
 */
export type ReviewState = 'confirmed' | 'verified' | 'changed' | 'model'
export const REVIEW_STATES: ReviewState[] = ['verified', 'changed', 'model', 'confirmed']

export function reviewState(c: Pick<Schemas['Cell'], 'confirmed'> & Partial<Pick<Schemas['Cell'], 'verified' | 'reviewed_class' | 'suggested_class'>>): ReviewState {
  if (c.confirmed) return 'confirmed'
  if (c.verified) return 'verified'
  if (c.reviewed_class && c.reviewed_class !== c.suggested_class) return 'changed'
  return 'model'
}

/** The filter's value from the URL: a known state, else every cell (''). */
export function parseReviewFilter(v: unknown): ReviewState | '' {
  return REVIEW_STATES.includes(v as ReviewState) ? (v as ReviewState) : ''
}
