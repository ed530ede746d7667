// A stand-in for OpenSeadragon in jsdom, which draws nothing: a viewer whose viewport maps slide
// pixels to screen pixels with a fixed scale and no offset (state.scale), and whose events a test
// fires itself (viewer.fire('open'), 'canvas-click', ...). Tests mock the module with it:
//   vi.mock('openseadragon', () => import('./osd_stub'))
import { vi } from 'vitest'

export class Point {
  constructor(public x = 0, public y = 0) {}
}
export class Rect {
  constructor(public x = 0, public y = 0, public width = 0, public height = 0) {}
}

export interface StubViewer {
  options: Record<string, unknown>
  canvas: HTMLElement
  addHandler(name: string, fn: (e: any) => void): void
  fire(name: string, event?: Record<string, unknown>): any
  setMouseNavEnabled: ReturnType<typeof vi.fn>
  destroy: ReturnType<typeof vi.fn>
  viewport: Record<string, any>
}

export const state = { scale: 0.5, viewers: [] as StubViewer[] }

/** The newest viewer the component created. */
export function lastViewer(): StubViewer {
  return state.viewers[state.viewers.length - 1]
}

export function reset() {
  state.scale = 0.5
  state.viewers = []
}

function OpenSeadragon(options: Record<string, unknown>): StubViewer {
  const handlers: Record<string, ((e: any) => void)[]> = {}
  // Like OpenSeadragon, the viewer puts its canvas element into the given element.
  const canvas = document.createElement('div')
  ;(options.element as HTMLElement).appendChild(canvas)
  const viewer: StubViewer = {
    options,
    canvas,
    addHandler(name, fn) {
      ;(handlers[name] ||= []).push(fn)
    },
    fire(name, event = {}) {
      const e = { eventSource: viewer, ...event }
      for (const fn of handlers[name] || []) fn(e)
      return e
    },
    setMouseNavEnabled: vi.fn(),
    destroy: vi.fn(() => canvas.remove()),
    viewport: {
      imageToViewerElementCoordinates: (p: Point) => new Point(p.x * state.scale, p.y * state.scale),
      viewerElementToImageCoordinates: (p: Point) => new Point(p.x / state.scale, p.y / state.scale),
      // viewport coordinates are image pixels here (see imageToViewportRectangle)
      viewerElementToViewportCoordinates: (p: Point) => new Point(p.x / state.scale, p.y / state.scale),
      getContainerSize: () => new Point(800, 600),
      imageToViewportRectangle: (x: number, y: number, w: number, h: number) => new Rect(x, y, w, h),
      fitBounds: vi.fn(),
      zoomBy: vi.fn(),
      applyConstraints: vi.fn(),
      goHome: vi.fn(),
    },
  }
  state.viewers.push(viewer)
  return viewer
}
OpenSeadragon.Point = Point
OpenSeadragon.Rect = Rect

export default OpenSeadragon
