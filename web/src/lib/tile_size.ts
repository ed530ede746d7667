// The gallery's tile size, remembered per browser (localStorage): 96 px shows many cells at once,
// 256 px lets granules and chromatin be judged.
export const TILE_SIZES = { min: 96, max: 256, step: 16, default: 96 }
const KEY = 'marrowscope.gallery.tileSize'

/** A stored or given size cut to the allowed range and step; the default for anything else. */
export function clampTileSize(v: unknown): number {
  const n = Number(v)
  if (v === null || v === undefined || v === '' || !Number.isFinite(n)) return TILE_SIZES.default
  const stepped = TILE_SIZES.min + Math.round((n - TILE_SIZES.min) / TILE_SIZES.step) * TILE_SIZES.step
  return Math.min(TILE_SIZES.max, Math.max(TILE_SIZES.min, stepped))
}
export function loadTileSize(): number {
  try {
    return clampTileSize(globalThis.localStorage?.getItem(KEY))
  } catch {
    return TILE_SIZES.default
  }
}
export function saveTileSize(v: number) {
  try {
    globalThis.localStorage?.setItem(KEY, String(clampTileSize(v)))
  } catch {
    // storage full or disabled: the size is then only kept for this page
  }
}
