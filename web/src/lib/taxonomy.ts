// The cell classes the app shows. The server's GET /api/taxonomy is the truth (the classes its
// differential counts, in hematology order, with names and colours); until it answers, and for
// classes it does not list, the app uses the same JSON files the server reads
// (configs/taxonomy/*.json, bundled at build time), so names and colours have one source.
import { reactive } from 'vue'
import { api, type Schemas } from '@/api/client'
import pbc11 from '../../../configs/taxonomy/pbc11.json'
import marrow from '../../../configs/taxonomy/marrow.json'

function entry(c) {
  return { id: c.id, names: c.names, order: c.order, colour: c.colour, counted: c.counted !== false, reviewOnly: c.review_only === true }
}
function sorted(list) {
  return [...list].sort((a, b) => a.order - b.order || a.id.localeCompare(b.id))
}

const known = new Map()
for (const tax of [pbc11, marrow]) for (const c of tax.classes) if (!known.has(c.id)) known.set(c.id, entry(c))

/** A removed box (the server's store::kNotACell): kept and audited, left out of every count. */
export const NOT_A_CELL = 'not_a_cell'
/**
 * Review-only bins the server accepts whatever the taxonomy (server/review_access.h): a removed
 * box, smudge cells and artefacts. A taxonomy that lists them gives their names and colours.
 */
export const REVIEW_BINS = [NOT_A_CELL, 'smudge', 'artefact']
const binNames = {
  not_a_cell: { en: 'Not a cell', zh: '非细胞' },
  smudge: { en: 'Smudge cell', zh: '涂抹细胞' },
  artefact: { en: 'Artefact', zh: '伪影' },
}
REVIEW_BINS.forEach((id, k) => {
  if (!known.has(id)) known.set(id, { id, names: binNames[id], order: 100000 + k, colour: '#9e9e9e', counted: false })
})

/** The classes a reviewer may give, in order: the taxonomy's, then the review-only bins it lacks. */
export function reviewChoices() {
  return [...taxonomyState.classes, ...REVIEW_BINS.filter((id) => !taxonomyState.classes.some((c) => c.id === id)).map((id) => classInfo(id))]
}

/** Whether the cell is a removed box. */
export function isRemoved(cell: Parameters<typeof effectiveClass>[0]) {
  return effectiveClass(cell) === NOT_A_CELL
}

/**
 * state.classes: the classes a reviewer chooses from, in hematology order; `specimen` is the one
 * they belong to (bone-marrow samples use the marrow vocabulary). A class marked reviewOnly is one
 * the classifier cannot name.
 */
export const taxonomyState = reactive({ name: pbc11.name, classes: sorted(pbc11.classes.map(entry)), fromServer: false, specimen: '' })

/** Replaces the class list with the server's taxonomy (GET /api/taxonomy?specimen=...). */
export function setTaxonomy(t: Schemas['Taxonomy']) {
  if (!t || !Array.isArray(t.classes)) return
  const list = t.classes.map(entry)
  for (const c of list) known.set(c.id, { ...(known.get(c.id) || {}), ...c })
  let ordered = sorted(list)
  if (Array.isArray(t.reporting_order)) {
    const rank = new Map<string, number>(t.reporting_order.map((id, i) => [id, i]))
    ordered = [...list].sort((a, b) => (rank.get(a.id) ?? 1e6) - (rank.get(b.id) ?? 1e6))
  }
  taxonomyState.name = t.name || taxonomyState.name
  taxonomyState.classes = ordered
  taxonomyState.fromServer = true
  taxonomyState.specimen = t.specimen || ''
  if (t.specimen && typeof t.icsh_count_target === 'number') icshTargets[t.specimen] = t.icsh_count_target
}

/** Whether the classifier cannot name this class in the current taxonomy (reviewers assign it). */
export function isReviewOnly(id) {
  return taxonomyState.classes.some((c) => c.id === id && c.reviewOnly)
}

/** Keys that pick a class in the gallery, in class order (1..9, 0, then letters). */
export const CLASS_KEYS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '0', 'q', 'w', 'e', 'r', 't', 'y']

export function classIds() {
  return taxonomyState.classes.map((c) => c.id)
}

export function classInfo(id) {
  return known.get(id) || { id, names: { en: id, zh: id }, order: 10000, colour: '#808080', counted: true }
}

/** The class's display name in `locale` ('en' or 'zh'); unknown ids show as themselves. */
export function className(id, locale) {
  if (!id) return ''
  const n = classInfo(id).names
  return (locale && locale.startsWith('zh') ? n.zh : n.en) || id
}

export function classColour(id) {
  return classInfo(id).colour
}

/** Sort comparator: the taxonomy's order, classes it does not list last by name. */
export function compareClasses(a, b) {
  const ids = classIds()
  const ia = ids.indexOf(a)
  const ib = ids.indexOf(b)
  const ra = ia >= 0 ? ia : 1000 + classInfo(a).order
  const rb = ib >= 0 ? ib : 1000 + classInfo(b).order
  return ra - rb || String(a).localeCompare(String(b))
}

/** The class a cell counts as: the reviewer's when there is one, else the model's suggestion. */
/** The class a cell counts as: its reviewed class, else the suggestion (the API's `class`). */
export function effectiveClass(cell: Partial<Pick<Schemas['Cell'], 'class' | 'reviewed_class' | 'suggested_class'>>): string {
  return cell.class || cell.reviewed_class || cell.suggested_class || ''
}

/**
 * The ICSH count recommendation per specimen, as the server states it (GET /api/taxonomy's
 * icsh_count_target; the numbers are written only in the server). Filled by setTaxonomy and
 * loadIcshCountTarget.
 */
export const icshTargets = reactive<Record<string, number>>({})

/** The ICSH-recommended count of the specimen, or null until the server's taxonomy has said it. */
export function icshCountTarget(specimen: string | null | undefined): number | null {
  return specimen ? icshTargets[specimen] ?? null : null
}

/** Asks the server for the specimen's recommendation (once per specimen). */
export async function loadIcshCountTarget(specimen: 'bone_marrow' | 'peripheral_blood'): Promise<number | null> {
  if (icshTargets[specimen] == null) {
    const t = await api.get('/api/taxonomy', { query: { specimen } })
    if (typeof t.icsh_count_target === 'number') icshTargets[t.specimen || specimen] = t.icsh_count_target
  }
  return icshCountTarget(specimen)
}

/** Whether a count target is below the specimen's ICSH recommendation (false while it is unknown). */
export function belowIcsh(target: number | null | undefined, specimen: string | null | undefined): boolean {
  const icsh = icshCountTarget(specimen)
  return !!target && icsh != null && target < icsh
}
