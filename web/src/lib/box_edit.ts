// Geometry of editing a box on a field, as pure functions (testable without a browser). Boxes are
// xyxy in pixels of the field image; every result lies inside the image and is rounded to
// 0.1 pixel so the server stores what the reviewer saw.

export type Box = { x1: number; y1: number; x2: number; y2: number }
export type Corner = 'nw' | 'ne' | 'sw' | 'se'
type Size = { width: number; height: number }

/** The server's smallest box side (store::kMinBoxSide): smaller is a slip of the mouse. */
export const MIN_BOX_SIDE = 4

const round = (v: number) => Math.round(v * 10) / 10
const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v))

/** The box cut to the image, corners ordered. */
export function clampBox(b: Box, size: Size): Box {
  const x1 = clamp(Math.min(b.x1, b.x2), 0, size.width)
  const x2 = clamp(Math.max(b.x1, b.x2), 0, size.width)
  const y1 = clamp(Math.min(b.y1, b.y2), 0, size.height)
  const y2 = clamp(Math.max(b.y1, b.y2), 0, size.height)
  return { x1: round(x1), y1: round(y1), x2: round(x2), y2: round(y2) }
}

/** The box spanned by a drag from (x0, y0) to (x, y), in any direction. */
export function boxFromDrag(x0: number, y0: number, x: number, y: number, size: Size): Box {
  return clampBox({ x1: x0, y1: y0, x2: x, y2: y }, size)
}

/** The box moved by (dx, dy), kept whole inside the image (it stops at the edge). */
export function moveBox(b: Box, dx: number, dy: number, size: Size): Box {
  const w = b.x2 - b.x1
  const h = b.y2 - b.y1
  const x1 = clamp(b.x1 + dx, 0, Math.max(0, size.width - w))
  const y1 = clamp(b.y1 + dy, 0, Math.max(0, size.height - h))
  return { x1: round(x1), y1: round(y1), x2: round(x1 + w), y2: round(y1 + h) }
}

/** The box with one corner dragged to (x, y); the opposite corner stays, at least MIN_BOX_SIDE apart. */
export function resizeBox(b: Box, corner: Corner, x: number, y: number, size: Size): Box {
  const out = { ...b }
  if (corner === 'nw' || corner === 'sw') out.x1 = Math.min(x, b.x2 - MIN_BOX_SIDE)
  else out.x2 = Math.max(x, b.x1 + MIN_BOX_SIDE)
  if (corner === 'nw' || corner === 'ne') out.y1 = Math.min(y, b.y2 - MIN_BOX_SIDE)
  else out.y2 = Math.max(y, b.y1 + MIN_BOX_SIDE)
  return clampBox(out, size)
}
