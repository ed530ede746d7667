// Geometry of counting areas on a slide. Areas are rectangles {x, y, w, h} in whole level-0
// pixels of the slide (the API's unit for /api/images/{id}/areas and for Job.region).

export interface Region {
  x: number
  y: number
  w: number
  h: number
}

export interface SlideSize {
  width: number
  height: number
}

/**
 * The area a drag from (x0, y0) to (x1, y1) spans, in any direction, cut to the slide and
 * widened to whole pixels (a pixel the drag touches is in the area).
 * @returns null when less than one pixel wide or high is left inside the slide
 */
export function regionFromDrag(x0: number, y0: number, x1: number, y1: number, size: SlideSize): Region | null {
  const clampX = (v: number) => Math.min(size.width, Math.max(0, v))
  const clampY = (v: number) => Math.min(size.height, Math.max(0, v))
  const left = Math.floor(clampX(Math.min(x0, x1)))
  const top = Math.floor(clampY(Math.min(y0, y1)))
  const right = Math.ceil(clampX(Math.max(x0, x1)))
  const bottom = Math.ceil(clampY(Math.max(y0, y1)))
  if (right - left < 1 || bottom - top < 1) return null
  return { x: left, y: top, w: right - left, h: bottom - top }
}

/** The same rectangle in whole pixels, cut to the slide; null when nothing of it is inside. */
export function clampRegion(r: Region, size: SlideSize): Region | null {
  return regionFromDrag(r.x, r.y, r.x + r.w, r.y + r.h, size)
}

export function sameRegion(a: Region | null | undefined, b: Region | null | undefined): boolean {
  return !!a && !!b && a.x === b.x && a.y === b.y && a.w === b.w && a.h === b.h
}

/** A job's region when it is a well-formed rectangle, else null (a field's job has none). */
export function regionOf(job: { region?: unknown } | null | undefined): Region | null {
  const r = job?.region as Partial<Region> | null | undefined
  if (!r || typeof r !== 'object') return null
  const ok = [r.x, r.y, r.w, r.h].every((v) => typeof v === 'number' && Number.isFinite(v))
  return ok ? { x: r.x as number, y: r.y as number, w: r.w as number, h: r.h as number } : null
}

/** Megapixels of a width x height image, one decimal ("2 000 x 1 500" -> 3). */
export function megapixels(width: number, height: number): number {
  return Math.round((width * height) / 1e5) / 10
}

/**
 * Colour of a suggestion score 0..1 on the heat map: from blue (poor for counting) through
 * yellow to red (best), as hsl hue 240 -> 0.
 */
export function heatColour(score: number): string {
  const s = Math.min(1, Math.max(0, Number.isFinite(score) ? score : 0))
  return `hsl(${Math.round(240 * (1 - s))}, 90%, 50%)`
}

/** Seconds left -> whole minutes and hours for a label: {h, m} with m in 0..59; under a minute: {h: 0, m: 0}. */
export function etaParts(seconds: number): { h: number; m: number } {
  const total = Math.max(0, Math.round(seconds / 60))
  return { h: Math.floor(total / 60), m: total % 60 }
}

/**
 * The deep-zoom level at which the whole image is one tile (tile 0_0 of that level is an overview
 * of the slide). Deep Zoom numbers levels from 0 (1 x 1 pixel) to ceil(log2(max side)) (full
 * size), each half the size of the next, sides rounded up.
 * @param tileSize the descriptor's TileSize (the server's: 254)
 */
export function dziOverviewLevel(width: number, height: number, tileSize = 254): number {
  const side = Math.max(1, width, height)
  const top = Math.ceil(Math.log2(side))
  for (let level = top; level > 0; level--) if (Math.ceil(side / 2 ** (top - level)) <= tileSize) return level
  return 0
}
